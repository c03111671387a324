// Replay: bounded work per invocation, resumable after a lost step, idempotent, and it never touches a
// delivery that is pending (in flight or waiting for its retry).
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { REPLAY_STEP, resumeReplays, startReplay } from "../../src/delivery/replay";
import { clock } from "../../src/faults";
import { api, createTestAccount, unique } from "../support/api";
import { count, createTestInbox } from "../support/fixtures";
import { SimulatedQueue } from "../support/queue-sim";
import { received, receiverPath } from "../support/receiver-client";
import { deliveryStates, expectLinesInOrder, fillLines, type Line } from "./lines";
import { allShards, shardOf } from "../support/shards";
import { shardEnv } from "../../src/db/shards";

afterEach(() => clock.reset());

async function setup(lines: Line[], withDeliveries: boolean) {
  const path = await receiverPath([], { status: 200 });
  const account = await createTestAccount();
  const inbox = await createTestInbox(account, { webhookPath: path });
  const url = `${env.RECEIVER_URL}${path}`;
  const since = Date.now() - 10 * 60_000;
  await fillLines({ accountId: account.accountId, inboxId: inbox.id, lines, endpoints: withDeliveries ? [["inbox", url]] : [] });
  return { account, inbox, path, url, since };
}

const conversations = (n: number, events: number): Line[] =>
  Array.from({ length: n }, () => ({ key: `cnv_${unique("r")}`, kind: "conversation" as const, events }));

/** The account's shard bindings with the simulated queue. */
async function simulatedEnv(queue: SimulatedQueue, accountId: string) {
  return shardEnv({ ...env, DELIVERIES: queue.binding, DELIVERIES_DLQ: queue.binding } as unknown as Env, await shardOf(accountId));
}

describe("replay", () => {
  it("works in bounded steps, resumes after its step message is lost, and delivers every event once in line order", { timeout: 60_000 }, async () => {
    const { account, inbox, path, url, since } = await setup(conversations(12, 100), false);
    const queue = new SimulatedQueue();
    const simulated = await simulatedEnv(queue, account.accountId);

    const replay = await startReplay(simulated, { accountId: account.accountId, inboxId: inbox.id, since, url });
    expect(replay).toMatchObject({ state: "running", total: 1200 });
    // One step per invocation: only the first REPLAY_STEP events have deliveries so far.
    expect(await count("SELECT count(*) AS n FROM webhook_deliveries WHERE inbox_id = ?", inbox.id)).toBe(REPLAY_STEP);

    // The step's queue message is lost (a crash); recovery finds the stalled replay and continues it.
    const lost = await queue.drop((message) => message.kind === "replay");
    expect(lost).toBe(1);
    clock.advance(2 * 60_000);
    expect(await resumeReplays(simulated)).toBe(1);
    await queue.run(simulated, { done: async () => (await deliveryStates(inbox.id)).succeeded === 1200 });

    const done = await allShards.prepare("SELECT state, cursor, through_position FROM delivery_replays WHERE id = ?").bind(replay.id).first();
    expect(done).toMatchObject({ state: "done" });
    const seen = await expectLinesInOrder(path);
    expect(seen.perEvent.size).toBe(1200);
    expect([...seen.perEvent.values()].every((n) => n === 1)).toBe(true);
  });

  it("replays an account-level endpoint over the account's inboxes in bounded steps, only the events it takes", { timeout: 60_000 }, async () => {
    const path = await receiverPath([], { status: 200 });
    const account = await createTestAccount();
    const first = await createTestInbox(account);
    const second = await createTestInbox(account);
    const third = await createTestInbox(account);
    const created = await api("POST", `/v1/accounts/${account.accountId}/webhooks`, {
      token: account.adminToken,
      body: { url: `${env.RECEIVER_URL}${path}`, inbox_ids: [first.id, second.id], events: ["message_created"] },
    });
    expect(created.status, created.text).toBe(201);
    const endpointId = created.body.id as string;
    const since = Date.now() - 10 * 60_000;
    // 400 message events in each of three inboxes, and 100 contact events in the first: the endpoint takes 800.
    for (const inbox of [first, second, third]) {
      await fillLines({ accountId: account.accountId, inboxId: inbox.id, lines: conversations(4, 100), endpoints: [] });
    }
    await fillLines({ accountId: account.accountId, inboxId: first.id, lines: [{ key: `ct_${unique("r")}`, kind: "contact", events: 100 }], endpoints: [] });
    const queue = new SimulatedQueue();
    const simulated = await simulatedEnv(queue, account.accountId);
    const replay = await startReplay(simulated, { accountId: account.accountId, endpointId, since, url: `${env.RECEIVER_URL}${path}` });
    expect(replay).toMatchObject({ state: "running", total: 800, inboxId: "*", endpoint: endpointId });
    // One step covers REPLAY_STEP positions of the account's events, whatever the endpoint takes of them.
    expect(await count("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint = ?", endpointId)).toBeLessThanOrEqual(REPLAY_STEP);
    const endpointStates = async () =>
      (await allShards.prepare("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint = ? AND state = 'succeeded'").bind(endpointId).first<{ n: number }>())!.n;
    await queue.run(simulated, { done: async () => (await endpointStates()) === 800 });
    const done = await allShards.prepare("SELECT state FROM delivery_replays WHERE id = ?").bind(replay.id).first();
    expect(done).toMatchObject({ state: "done" });
    const seen = await expectLinesInOrder(path);
    expect(seen.lines).toBe(8);
    expect(seen.perEvent.size).toBe(800);
    expect(await count("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint = ? AND inbox_id = ?", endpointId, third.id)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint = ? AND event_type <> 'message_created'", endpointId)).toBe(0);
    // The same replay again: finished, nothing new.
    const again = await startReplay(simulated, { accountId: account.accountId, endpointId, since, url: `${env.RECEIVER_URL}${path}` });
    expect(again).toMatchObject({ id: replay.id, state: "done" });
    expect((await received(path)).length).toBe(800);
  });

  it("is idempotent: a retry while it runs joins it, a repeat after it finished changes nothing", { timeout: 60_000 }, async () => {
    const { account, inbox, path, since } = await setup(conversations(3, 10), true);
    const base = `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries`;
    await allShards.prepare("UPDATE webhook_deliveries SET state = 'succeeded', attempts = 1, completed_at = 1 WHERE inbox_id = ?").bind(inbox.id).run();

    const since_iso = new Date(since).toISOString();
    const [first, second] = await Promise.all([
      api("POST", `${base}/replay`, { token: account.adminToken, body: { since: since_iso } }),
      api("POST", `${base}/replay`, { token: account.adminToken, body: { since: since_iso } }),
    ]);
    expect(first.status, first.text).toBe(202);
    expect(second.body.replay_id).toBe(first.body.replay_id);
    expect(first.body).toMatchObject({ replayed: 30 });
    await expect.poll(async () => (await deliveryStates(inbox.id)).succeeded, { timeout: 20_000 }).toBe(30);
    await expect.poll(async () => (await received(path)).length).toBe(30);

    const snapshot = async () =>
      (await allShards.prepare("SELECT id, state, attempts, updated_at, enqueued_at FROM webhook_deliveries WHERE inbox_id = ? ORDER BY id").bind(inbox.id).all()).results;
    const before = await snapshot();
    const again = await api("POST", `${base}/replay`, { token: account.adminToken, body: { since: since_iso } });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ replay_id: first.body.replay_id, state: "done", replayed: 30 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await snapshot()).toEqual(before);
    expect(await received(path)).toHaveLength(30);
    await expectLinesInOrder(path);
  });

  it("never touches a pending delivery: one in flight keeps its lease and attempts, one waiting keeps its schedule", async () => {
    const { account, inbox, url, since } = await setup(conversations(1, 4), true);
    const rows = (await allShards.prepare("SELECT id FROM webhook_deliveries WHERE inbox_id = ? ORDER BY sequence").bind(inbox.id).all<{ id: string }>()).results;
    const [done, inFlight, waiting, fresh] = rows.map((row) => row.id);
    const now = Date.now();
    await allShards.batch([
      allShards.prepare("UPDATE webhook_deliveries SET state = 'succeeded', attempts = 1, completed_at = ? WHERE id = ?").bind(now, done!),
      allShards.prepare("UPDATE webhook_deliveries SET attempts = 2, leased_until = ?, enqueued_at = ? WHERE id = ?").bind(now + 60_000, now, inFlight!),
      allShards.prepare("UPDATE webhook_deliveries SET attempts = 1, next_attempt_at = ?, enqueued_at = ? WHERE id = ?").bind(now + 600_000, now, waiting!),
    ]);
    const read = (id: string) => allShards.prepare("SELECT state, attempts, leased_until, next_attempt_at, enqueued_at FROM webhook_deliveries WHERE id = ?").bind(id).first();
    const pendingBefore = await Promise.all([inFlight!, waiting!, fresh!].map(read));

    const queue = new SimulatedQueue();
    const replay = await startReplay(await simulatedEnv(queue, account.accountId), { accountId: account.accountId, inboxId: inbox.id, since, url });
    expect(replay.state).toBe("done");
    expect(await Promise.all([inFlight!, waiting!, fresh!].map(read))).toEqual(pendingBefore);
    // The settled one starts a new cycle. It is first in line, but the line has a delivery in flight:
    // it is not queued now — the outcome of the one in flight hands it over (one at a time per line).
    expect(await read(done!)).toMatchObject({ state: "pending", attempts: 0, enqueued_at: null });
    expect(queue.size).toBe(0);
  });
});
