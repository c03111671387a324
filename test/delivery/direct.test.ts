// The first attempt right after the commit (src/delivery/direct.ts): the conversation object's publisher
// runs each new delivery through the state machine itself; the queue and recovery take over what it leaves.
import { describe, expect, it } from "vitest";
import { processDelivery } from "../../src/delivery/consumer";
import { sweep } from "../../src/delivery/sweeper";
import { faults } from "../../src/faults";
import { api, createTestAccount, expectProblem } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { payloads, received, script, receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards, shardBindings } from "../support/shards";

async function setup() {
  const account = await createTestAccount();
  const webhookPath = await receiverPath();
  const inbox = await createTestInbox(account, { webhookPath });
  const token = await createInboxToken(account, inbox);
  const base = `/v1/inboxes/${inbox.identifier}`;
  // The contact, the conversation and its first message: the line is settled before each test's reply.
  const first = await sendMessage(token, inbox, { contact: { source_id: "direct" }, content: "m1" });
  await waitForPayloads(webhookPath, 3);
  const reply = async (content: string) => {
    const res = await api("POST", `${base}/conversations/${first.conversation.id}/messages`, { token, body: { content } });
    expect(res.status, res.text).toBe(201);
    return res.body as { id: string };
  };
  return { account, inbox, token, base, webhookPath, conversationId: first.conversation.id, reply };
}

type Row = { id: string; state: string; attempts: number; enqueued_at: number | null; leased_until: number | null; sequence: number };
const deliveryOf = async (messageId: string) =>
  (await allShards
    .prepare(
      `SELECT d.id, d.state, d.attempts, d.enqueued_at, d.leased_until, d.sequence FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
       WHERE e.type = 'message_created' AND json_extract(e.data, '$.message.id') = ?`,
    )
    .bind(messageId)
    .first()) as Row;
const postsFor = async (path: string, messageId: string) => (await payloads(path, "message_created")).filter((item) => item.body.message.id === messageId);

describe("the first attempt right after the commit", () => {
  it("delivers a reply without the queue, and a queue message for the same delivery makes no second POST", async () => {
    const { account, webhookPath, reply } = await setup();
    // The direct attempt waits; the queue's message for the same delivery gets there first.
    const release = faults.hold("delivery.direct");
    let message: { id: string };
    try {
      message = await reply("raced");
      const delivery = await deliveryOf(message.id);
      const shard = await shardBindings(account.accountId);
      expect(await processDelivery(shard, delivery.id, 1)).toEqual({ kind: "ack" });
      expect(await postsFor(webhookPath, message.id)).toHaveLength(1);
    } finally {
      release();
    }
    // The direct attempt, let go, can only find it settled: still one POST, one attempt.
    expect(await postsFor(webhookPath, message!.id)).toHaveLength(1);
    expect(await deliveryOf(message!.id)).toMatchObject({ state: "succeeded", attempts: 1 });
  });

  it("a queue message while the direct attempt holds the lease waits, and then finds it settled", async () => {
    const { account, webhookPath, reply } = await setup();
    await script(webhookPath, [{ status: 200, delay_ms: 400 }]);
    const message = await reply("slow endpoint");
    const delivery = await deliveryOf(message.id);
    const shard = await shardBindings(account.accountId);
    // The direct attempt is in flight (leased): the message looks again after the lease has expired.
    await expect.poll(async () => (await received(webhookPath)).length).toBe(4);
    expect(await processDelivery(shard, delivery.id, 1)).toMatchObject({ kind: "retry" });
    await expect.poll(async () => (await deliveryOf(message.id)).state).toBe("succeeded");
    expect(await processDelivery(shard, delivery.id, 1)).toEqual({ kind: "ack" });
    expect(await postsFor(webhookPath, message.id)).toHaveLength(1);
    expect(await deliveryOf(message.id)).toMatchObject({ state: "succeeded", attempts: 1 });
    // The event was marked handed over in the attempt's own arrive batch: recovery leaves it alone.
    const event = await allShards.prepare("SELECT queued_at FROM events WHERE json_extract(data, '$.message.id') = ?").bind(message.id).first();
    expect(event?.queued_at).not.toBeNull();
  });

  it("an endpoint that hangs does not hold up the conversation: the next reply is answered while the attempt is in flight", async () => {
    const { webhookPath, reply } = await setup();
    await script(webhookPath, [{ status: 200, hang: true }]);
    const hung = await reply("to an endpoint that never answers");
    await expect.poll(async () => (await received(webhookPath)).length).toBe(4);
    const next = await reply("answered anyway");
    // The first is still in flight under its lease (until the attempt's timeout); the second waits behind it.
    expect(await deliveryOf(hung.id)).toMatchObject({ state: "pending", attempts: 0 });
    expect((await deliveryOf(hung.id)).leased_until).not.toBeNull();
    expect(await deliveryOf(next.id)).toMatchObject({ state: "pending", attempts: 0 });
  });

  it("holds a reply behind an earlier event of its line that is being retried, then delivers both in order", async () => {
    const { webhookPath, reply } = await setup();
    await script(webhookPath, [{ status: 500 }]);
    const earlier = await reply("first, answered 500 once");
    await expect.poll(async () => (await deliveryOf(earlier.id)).attempts).toBe(1);
    const later = await reply("second, must wait");
    // The later one's direct attempt found its line busy: parked, not attempted, not queued.
    await expect.poll(async () => (await deliveryOf(later.id)).enqueued_at).toBeNull();
    expect(await deliveryOf(later.id)).toMatchObject({ state: "pending", attempts: 0 });
    expect(await postsFor(webhookPath, later.id)).toHaveLength(0);
    // The earlier one's retry (1 s) settles it and hands the later one over.
    const arrived = await waitForPayloads(webhookPath, 4, "message_created", 15_000);
    const order = arrived.map((item) => item.body.message.id).filter((id) => id === earlier.id || id === later.id);
    expect(order).toEqual([earlier.id, earlier.id, later.id]);
    expect(await deliveryOf(later.id)).toMatchObject({ state: "succeeded", attempts: 1 });
  });

  it("the object dying after its commit, before the direct attempt: recovery delivers the reply", async () => {
    const { account, token, base, conversationId, webhookPath } = await setup();
    faults.arm("conversation.reset_after_commit");
    expectProblem(await api("POST", `${base}/conversations/${conversationId}/messages`, { token, body: { content: "lost publisher" } }), 503, "outcome_unknown");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await payloads(webhookPath, "message_created")).toHaveLength(1);
    const report = await sweep(await shardBindings(account.accountId), { graceMs: 0 });
    expect(report.deliveries_queued).toBeGreaterThanOrEqual(1);
    const arrived = await waitForPayloads(webhookPath, 2, "message_created");
    expect(arrived[1]!.body.message.content).toBe("lost publisher");
  });

  it("when the direct attempt fails on our side, the queue delivers it", async () => {
    const { webhookPath, reply } = await setup();
    faults.arm("delivery.direct");
    const message = await reply("queued instead");
    await waitForPayloads(webhookPath, 2, "message_created");
    expect(await deliveryOf(message.id)).toMatchObject({ state: "succeeded", attempts: 1 });
  });
});
