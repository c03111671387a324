import { createExecutionContext, createScheduledController, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ConversationObject } from "../../src/conversation/object";
import { faults } from "../../src/faults";
import worker from "../../src/index";
import { RECOVERY_PERIOD_MS, recoveryStub as shardRecovery } from "../../src/recovery/object";
import { shardNames } from "../../src/db/shards";
import { api, createTestAccount, expectProblem } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { payloads, receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards, shardDb } from "../support/shards";

const DAY = 24 * 60 * 60 * 1000;

/** The first shard's recovery object (each shard has its own; they behave alike). */
function recoveryStub() {
  return shardRecovery(env, FIRST);
}

const FIRST = shardNames(env)[0]!;

/** Runs one recovery pass the way production does, on every shard: its recovery object's alarm (armed first if needed). */
async function runRecovery() {
  for (const shard of shardNames(env)) {
    await shardRecovery(env, shard).arm(shard);
    expect(await runDurableObjectAlarm(shardRecovery(env, shard))).toBe(true);
  }
}

async function setup() {
  const account = await createTestAccount();
  const webhookPath = await receiverPath();
  const inbox = await createTestInbox(account, { webhookPath });
  const token = await createInboxToken(account, inbox);
  return { account, inbox, token, webhookPath, base: `/v1/inboxes/${inbox.identifier}` };
}

describe("recovery runs wherever the service runs", () => {
  it("is armed by the Worker's first request, with no manual step, and re-arms itself after each pass", async () => {
    const health = await api("GET", "/health");
    expect(health.status).toBe(200);
    // The arm runs in the request's waitUntil: give it a moment.
    await expect.poll(() => runInDurableObject(recoveryStub(), (_instance, state) => state.storage.getAlarm()), { timeout: 5_000 }).not.toBeNull();

    expect(await runDurableObjectAlarm(recoveryStub())).toBe(true);
    const next = await runInDurableObject(recoveryStub(), (_instance, state) => state.storage.getAlarm());
    expect(next).not.toBeNull();
    expect(next! - Date.now()).toBeGreaterThan(RECOVERY_PERIOD_MS - 5_000);
    expect(next! - Date.now()).toBeLessThanOrEqual(RECOVERY_PERIOD_MS);
  });

  it("is poked by the deployment's cron: a missing alarm is set again", async () => {
    await runInDurableObject(recoveryStub(), (_instance, state) => state.storage.deleteAlarm());
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await runInDurableObject(recoveryStub(), (_instance, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it("keeps running after a failing pass (D1 down): the next alarm is set anyway", async () => {
    await recoveryStub().arm(FIRST);
    faults.arm("d1.batch", Infinity);
    try {
      expect(await runDurableObjectAlarm(recoveryStub())).toBe(true);
    } finally {
      faults.disarm("d1.batch");
    }
    expect(await runInDurableObject(recoveryStub(), (_instance, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it("re-sends a delivery whose queue message was lost (a local queue dies with its process) within a minute or two", async () => {
    const { account, inbox, token, webhookPath } = await setup();
    // The message is committed but its queue hand-over fails; then it looks as if it had been queued two
    // minutes ago and lost, as after `npm start` was killed.
    faults.arm("queue.send", 3);
    const sent = await sendMessage(token, inbox, { contact: { source_id: "lost-queue-1" }, content: "survives the crash" });
    faults.disarm("queue.send");
    await allShards.prepare("UPDATE webhook_deliveries SET enqueued_at = ? WHERE inbox_id = ?").bind(Date.now() - 2 * 60_000, inbox.id).run();
    await allShards.prepare("UPDATE events SET queued_at = ? WHERE inbox_id = ?").bind(Date.now() - 2 * 60_000, inbox.id).run();
    expect(await payloads(webhookPath, "message_created")).toHaveLength(0);

    await runRecovery();
    const arrived = await waitForPayloads(webhookPath, 1, "message_created");
    expect(arrived[0]!.body.message.id).toBe(sent.message.id);
    const log = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries`, { token: account.adminToken });
    expect(log.body.data.every((delivery: { state: string }) => delivery.state === "succeeded")).toBe(true);
  });
});

describe("snooze always ends", () => {
  async function snoozedConversation(forMs = 60 * 60_000) {
    const { account, inbox, token } = await setup();
    const first = await sendMessage(token, inbox, { contact: { source_id: `snooze-${crypto.randomUUID()}` }, content: "hi" });
    const conversationPath = `/v1/accounts/${account.accountId}/conversations/${first.conversation.id}`;
    const until = new Date(Date.now() + forMs).toISOString();
    const snoozed = await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "snoozed", snoozed_until: until } });
    expect(snoozed.status, snoozed.text).toBe(200);
    return { account, conversationId: first.conversation.id, conversationPath };
  }

  it("recovery wakes a conversation whose snooze is due when its own alarm is gone (retries spent)", async () => {
    const { account, conversationId, conversationPath } = await snoozedConversation(1_500);
    // The object's alarm will never fire for this snooze (as when its retries ran out).
    const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(conversationId));
    await runInDurableObject(stub, async (_instance, state) => {
      state.storage.kv.delete("snooze");
      await state.storage.deleteAlarm();
    });
    await new Promise((resolve) => setTimeout(resolve, 1_700));
    expect((await api("GET", conversationPath, { token: account.adminToken })).body.status).toBe("snoozed");

    await runRecovery();
    const after = await api("GET", conversationPath, { token: account.adminToken });
    expect(after.body.status).toBe("open");
    // Idempotent: a second pass (or the object's own late alarm) adds nothing.
    await runRecovery();
    const history = await api("GET", `${conversationPath}/messages`, { token: account.adminToken });
    expect(history.body.data.filter((message: { content: string }) => message.content === "Conversation reopened: snooze ended")).toHaveLength(1);
  });

  it("an alarm racing a new snooze keeps the new wake-up time", async () => {
    const { conversationId } = await snoozedConversation();
    const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(conversationId));
    const later = Date.now() + 2 * 60 * 60_000;
    const kept = await runInDurableObject(stub, async (instance: ConversationObject, state) => {
      // The old wake-up is due; the alarm fires while an agent snoozes the conversation again.
      state.storage.kv.put("snooze", { conversationId, until: Date.now() - 1 });
      const snoozeAgain = instance.setStatus({
        conversationId,
        status: "snoozed",
        snoozedUntil: later,
        actor: { origin: { type: "system", id: null }, name: "Agent", sender: { type: "system", id: null } },
      });
      const alarm = instance.alarm();
      await Promise.all([snoozeAgain, alarm]);
      return { snooze: state.storage.kv.get<{ until: number }>("snooze"), alarm: await state.storage.getAlarm() };
    });
    expect(kept.snooze?.until).toBe(later);
    expect(kept.alarm).not.toBeNull();
    expect(kept.alarm!).toBeLessThanOrEqual(later);
  });
});

describe("retention", () => {
  it("prunes events, deliveries and attempts older than the window, keeps newer ones and pending deliveries", async () => {
    const { inbox, token, webhookPath } = await setup();
    await sendMessage(token, inbox, { contact: { source_id: "old-1" }, content: "old" });
    await waitForPayloads(webhookPath, 3);
    // Everything written so far (this file's earlier tests too) becomes older than the window.
    const old = Date.now() - 31 * DAY;
    await allShards.batch([
      allShards.prepare("UPDATE events SET created_at = ?").bind(old),
      allShards.prepare("UPDATE webhook_deliveries SET created_at = ?, updated_at = ?").bind(old, old),
      allShards.prepare("UPDATE delivery_attempts SET started_at = ?").bind(old),
    ]);
    // One old delivery is still pending (being retried): it and its event stay.
    const pending = await allShards.prepare("SELECT id, event_id FROM webhook_deliveries WHERE inbox_id = ? AND event_type = 'message_created'")
      .bind(inbox.id)
      .first<{ id: string; event_id: string }>();
    await allShards.prepare("UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ? WHERE id = ?").bind(Date.now() + DAY, pending!.id).run();
    await sendMessage(token, inbox, { contact: { source_id: "new-1" }, content: "new" });
    await waitForPayloads(webhookPath, 6);

    await runRecovery();
    const left = async (sql: string) => (await allShards.prepare(sql).bind(inbox.id).first<{ n: number }>())!.n;
    expect(await left("SELECT count(*) AS n FROM events WHERE inbox_id = ? AND created_at < strftime('%s','now') * 1000 - 30 * 86400000")).toBe(1);
    expect(await left("SELECT count(*) AS n FROM webhook_deliveries WHERE inbox_id = ? AND created_at < strftime('%s','now') * 1000 - 30 * 86400000")).toBe(1);
    expect(
      await left("SELECT count(*) AS n FROM delivery_attempts WHERE started_at < strftime('%s','now') * 1000 - 30 * 86400000 AND delivery_id IN (SELECT id FROM webhook_deliveries WHERE inbox_id = ?)"),
    ).toBe(0);
    expect(await left("SELECT count(*) AS n FROM events WHERE inbox_id = ? AND created_at > strftime('%s','now') * 1000 - 86400000")).toBe(3);
    expect(await left("SELECT count(*) AS n FROM webhook_deliveries WHERE inbox_id = ? AND created_at > strftime('%s','now') * 1000 - 86400000")).toBe(3);
    const remaining = await allShards.prepare("SELECT count(*) AS n FROM events WHERE id = ?").bind(pending!.event_id).first<{ n: number }>();
    expect(remaining!.n).toBe(1);
  });

  it("refuses a replay since a time older than the window, naming it", async () => {
    const { account, inbox } = await setup();
    const since = new Date(Date.now() - 31 * DAY).toISOString();
    const replay = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries/replay`, { token: account.adminToken, body: { since } });
    expectProblem(replay, 422, "beyond_retention");
    expect(replay.body.detail).toContain("30 days");
    expect(replay.body.retention_days).toBe(30);
    const recent = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries/replay`, {
      token: account.adminToken,
      body: { since: new Date(Date.now() - 29 * DAY).toISOString() },
    });
    expect(recent.status, recent.text).toBe(202);
  });

  it("forgets replays that finished before the window; a running replay stays whatever its age", async () => {
    const { account, inbox } = await setup();
    const path = `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries/replay`;
    const since = new Date(Date.now() - DAY).toISOString();
    const replay = await api("POST", path, { token: account.adminToken, body: { since } });
    expect(replay.status, replay.text).toBe(202);
    const old = Date.now() - 31 * DAY;
    const running = crypto.randomUUID();
    // A finished replay from long ago, and a running one as old (its step is still to be resumed).
    const db = await shardDb(account.accountId);
    await db.batch([
      db.prepare("UPDATE delivery_replays SET state = 'done', completed_at = ?, updated_at = ?, created_at = ? WHERE inbox_id = ?").bind(old, old, old, inbox.id),
      db.prepare(
        `INSERT INTO delivery_replays (id, account_id, inbox_id, endpoint, since, through_position, total, state, created_at, updated_at)
         VALUES (?, ?, ?, 'inbox', ?, 0, 0, 'running', ?, ?)`,
      ).bind(running, account.accountId, inbox.id, old - DAY, old, old),
    ]);
    const count = async (state: string) =>
      (await db.prepare("SELECT count(*) AS n FROM delivery_replays WHERE inbox_id = ? AND state = ?").bind(inbox.id, state).first<{ n: number }>())!.n;
    expect(await count("done")).toBe(1);

    await runRecovery();
    expect(await count("done")).toBe(0);
    expect(await count("running")).toBe(1);
  });

  it("the events feed refuses a cursor from before events the inbox lost to retention, and reads on from the oldest kept", async () => {
    const { inbox, token, webhookPath, base } = await setup();
    await sendMessage(token, inbox, { contact: { source_id: "feed-1" }, content: "one" });
    const firstPage = await api("GET", `${base}/events?limit=1`, { token });
    const cursor = firstPage.body.next_cursor as string;
    await sendMessage(token, inbox, { contact: { source_id: "feed-1" }, content: "two" });
    await waitForPayloads(webhookPath, 4);
    // Everything but the last message's event (this file's earlier tests' too) is older than the window.
    const newest = await allShards.prepare("SELECT max(position) AS p FROM events WHERE inbox_id = ?").bind(inbox.id).first<{ p: number }>();
    await allShards.prepare("UPDATE events SET created_at = ? WHERE position < ?").bind(Date.now() - 31 * DAY, newest!.p).run();

    await runRecovery();
    const expired = await api("GET", `${base}/events?after=${cursor}`, { token });
    expectProblem(expired, 410, "cursor_expired");
    expect(expired.body.detail).toContain("30 days");
    const fresh = await api("GET", `${base}/events`, { token });
    expect(fresh.status).toBe(200);
    expect(fresh.body.data.map((event: { event: string }) => event.event)).toEqual(["message_created"]);
    const caughtUp = await api("GET", `${base}/events?after=${fresh.body.next_cursor}`, { token });
    expect(caughtUp.status).toBe(200);
  });
});
