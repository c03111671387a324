// Our own outages never spend an endpoint's retry schedule: 30 minutes of D1 or queue trouble (played
// out on the delivery clock, which the simulated queue moves forward when nothing is due) end with every
// delivery made and none failed; only the endpoint's own answers count as attempts.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { enqueueReady, type QueueMessage } from "../../src/delivery/outbox";
import { clock, faults } from "../../src/faults";
import { unique } from "../support/api";
import { createTestAccount } from "../support/api";
import { createTestInbox } from "../support/fixtures";
import { latentD1 } from "../support/faults";
import { SimulatedQueue } from "../support/queue-sim";
import { received, receiverPath } from "../support/receiver-client";
import type { Scripted } from "../support/receiver";
import { deliveryStates, expectLinesInOrder, fillLines, type Line } from "./lines";
import { allShards, shardOf } from "../support/shards";
import { shardEnv } from "../../src/db/shards";

const OUTAGE_MS = 30 * 60 * 1000;

afterEach(() => {
  clock.reset();
  faults.disarm();
});

async function setup(steps: Scripted[] = []) {
  const path = await receiverPath(steps, { status: 200, jitter_ms: 5 });
  const account = await createTestAccount();
  const inbox = await createTestInbox(account, { webhookPath: path });
  const lines: Line[] = [
    ...Array.from({ length: 10 }, () => ({ key: `cnv_${unique("u")}`, kind: "conversation" as const, events: 8 })),
    { key: `ct_${unique("u")}`, kind: "contact", events: 5 },
  ];
  const ids = await fillLines({ accountId: account.accountId, inboxId: inbox.id, lines, endpoints: [["inbox", `${env.RECEIVER_URL}${path}`]] });
  return { path, inbox, ids, shard: await shardOf(account.accountId) };
}

/** Per delivery: attempts counted, attempts logged, and requests the endpoint received for its event. */
async function ledger(inboxId: string, path: string) {
  const { results } = await allShards.prepare(
    `SELECT d.event_id, d.state, d.attempts, (SELECT count(*) FROM delivery_attempts a WHERE a.delivery_id = d.id) AS logged
     FROM webhook_deliveries d WHERE d.inbox_id = ?`,
  )
    .bind(inboxId)
    .all<{ event_id: string; state: string; attempts: number; logged: number }>();
  const requests = new Map<string, number>();
  for (const request of await received(path)) {
    const id = JSON.parse(request.body).id as string;
    requests.set(id, (requests.get(id) ?? 0) + 1);
  }
  return results.map((row) => ({ ...row, requests: requests.get(row.event_id) ?? 0 }));
}

describe("infrastructure outages", () => {
  it("a 30-minute D1 outage in the middle of delivering ends with everything delivered, nothing failed, no attempt spent", { timeout: 120_000 }, async () => {
    const { path, inbox, ids, shard } = await setup();
    const outage = { from: Infinity, until: -Infinity };
    const d1 = latentD1(shardEnv(env, shard).DB, {
      minMs: 1,
      maxMs: 6,
      down: () => {
        // D1 goes away once delivery is under way — some attempts are in flight, their outcome unwritten: after about a
        // third of the statements the 85 deliveries write without an outage (≈ 1,150). Counted in statements, not
        // round trips: a queue batch's deliveries share theirs (src/db/shared-batches.ts), and all 85 take ≈ 63, so
        // a threshold of 60 round trips sometimes came after the last delivery, and the outage never hit one.
        if (outage.from === Infinity && d1.stats.statements > 400) outage.from = clock.now();
        if (outage.until === -Infinity && outage.from !== Infinity) outage.until = outage.from + OUTAGE_MS;
        return clock.now() >= outage.from && clock.now() < outage.until;
      },
    });
    // Few queue retries, so messages also go through the dead-letter queue during the outage.
    const queue = new SimulatedQueue({ duplicate: 0.1, maxRetries: 5 });
    queue.preload(ids.map((deliveryId): QueueMessage => ({ kind: "delivery", deliveryId, shard })));
    const simulated = shardEnv({ ...env, [shard]: d1.db, DELIVERIES: queue.binding, DELIVERIES_DLQ: queue.binding } as unknown as Env, shard);
    const started = clock.now();
    await queue.run(simulated, {
      moveClock: true,
      concurrency: 8,
      // What the recovery sweep does every minute (failing too while D1 is down).
      tick: async () => void (await enqueueReady(simulated, { olderThanMs: 30_000 })),
      done: async () => (await deliveryStates(inbox.id)).pending === undefined,
      timeoutMs: 110_000,
    });

    expect(outage.until).toBeGreaterThan(started);
    expect(clock.now()).toBeGreaterThanOrEqual(outage.until);
    expect(d1.stats.failed).toBeGreaterThan(100);
    expect(await deliveryStates(inbox.id)).toEqual({ succeeded: ids.length });
    for (const row of await ledger(inbox.id, path)) {
      // The endpoint always answered 200: one attempt each, whatever happened around it. An attempt
      // whose outcome could not be written is made again (at least once), never counted twice.
      expect(row.attempts).toBe(1);
      expect(row.logged).toBe(1);
      expect(row.requests).toBeGreaterThanOrEqual(1);
    }
    await expectLinesInOrder(path);
  });

  it("a 30-minute queue outage ends with everything delivered, nothing failed; only the endpoint's answers count", { timeout: 120_000 }, async () => {
    // The first answers are 500s: their retries must be scheduled while the queue refuses sends.
    const { path, inbox, ids, shard } = await setup(Array.from({ length: 6 }, () => ({ status: 500 })));
    const until = clock.now() + OUTAGE_MS;
    const queue = new SimulatedQueue({ duplicate: 0.1, down: () => clock.now() < until });
    // What requests had published before the outage began.
    queue.preload(ids.map((deliveryId): QueueMessage => ({ kind: "delivery", deliveryId, shard })));
    const d1 = latentD1(shardEnv(env, shard).DB, { minMs: 1, maxMs: 6 });
    const simulated = shardEnv({ ...env, [shard]: d1.db, DELIVERIES: queue.binding, DELIVERIES_DLQ: queue.binding } as unknown as Env, shard);
    await queue.run(simulated, {
      moveClock: true,
      concurrency: 8,
      tick: async () => void (await enqueueReady(simulated, { olderThanMs: 30_000 })),
      done: async () => (await deliveryStates(inbox.id)).pending === undefined,
      timeoutMs: 110_000,
    });

    expect(clock.now()).toBeGreaterThanOrEqual(until);
    expect(queue.stats.refused).toBeGreaterThan(0);
    expect(await deliveryStates(inbox.id)).toEqual({ succeeded: ids.length });
    const rows = await ledger(inbox.id, path);
    for (const row of rows) {
      expect(row.attempts).toBe(row.requests);
      expect(row.logged).toBe(row.requests);
    }
    expect(rows.filter((row) => row.attempts === 2)).toHaveLength(6);
    await expectLinesInOrder(path);
  });
});
