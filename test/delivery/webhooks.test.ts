import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { sweep } from "../../src/delivery/sweeper";
import { faults } from "../../src/faults";
import { api, createTestAccount, expectProblem } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { payloads, receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards, shardBindings } from "../support/shards";

async function setup(steps: Parameters<typeof receiverPath>[0] = [], fallback?: Parameters<typeof receiverPath>[1]) {
  const account = await createTestAccount();
  const webhookPath = await receiverPath(steps, fallback);
  const inbox = await createTestInbox(account, { webhookPath });
  const token = await createInboxToken(account, inbox);
  return { account, inbox, token, webhookPath, base: `/v1/inboxes/${inbox.identifier}` };
}

async function deliveries(account: { accountId: string; adminToken: string }, inboxId: string, query = "") {
  const res = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inboxId}/deliveries${query}`, { token: account.adminToken });
  expect(res.status, res.text).toBe(200);
  return res.body.data as Array<Record<string, any>>;
}

describe("webhook delivery", () => {
  it("delivers every event signed (Standard Webhooks), with a snapshot payload and webhook-id = event id", async () => {
    const { inbox, token, webhookPath } = await setup();
    const sent = await sendMessage(token, inbox, { contact: { source_id: "w-1", name: "Maria" }, content: "hello" });
    const arrived = await waitForPayloads(webhookPath, 3);
    expect(arrived.map((item) => item.body.event)).toEqual(
      expect.arrayContaining(["contact_created", "conversation_created", "message_created"]),
    );
    const message = arrived.find((item) => item.body.event === "message_created")!;
    const verifier = new Webhook(inbox.secret!);
    expect(() => verifier.verify(message.request.body, message.request.headers)).not.toThrow();
    expect(message.request.headers["webhook-id"]).toBe(message.body.id);
    expect(message.body).toMatchObject({
      event: "message_created",
      sequence: 2,
      inbox: { id: inbox.id },
      conversation_id: sent.conversation.id,
      message: { id: sent.message.id, content: "hello", message_type: "incoming", seq: 1 },
      conversation: { id: sent.conversation.id, status: "open" },
      contact: { name: "Maria", source_id: "w-1" },
      origin: { type: "token" },
    });
    // A tampered body does not verify.
    expect(() => verifier.verify(message.request.body.replace("hello", "HELLO"), message.request.headers)).toThrow();
  });

  it("documents every event in the OpenAPI webhooks section, matching what arrives", async () => {
    const doc = (await api("GET", "/openapi.json")).body;
    const names = [
      "message_created",
      "message_updated",
      "conversation_created",
      "conversation_status_changed",
      "conversation_updated",
      "conversation_typing_on",
      "conversation_typing_off",
      "contact_created",
      "contact_updated",
      "contact_deleted",
      "webhook.test",
    ];
    expect(Object.keys(doc.webhooks).sort()).toEqual([...names].sort());
    for (const name of names) {
      const post = doc.webhooks[name].post;
      expect(post.parameters.map((parameter: { name: string }) => parameter.name)).toEqual(["webhook-id", "webhook-timestamp", "webhook-signature"]);
    }
    const { inbox, token, webhookPath } = await setup();
    await sendMessage(token, inbox, { contact: { source_id: "doc-1" }, content: "documented" });
    const [arrived] = await waitForPayloads(webhookPath, 1, "message_created");
    const schema = doc.webhooks.message_created.post.requestBody.content["application/json"].schema;
    const documented = Object.keys((schema.$ref ? doc.components.schemas[schema.$ref.split("/").at(-1)] : schema).properties);
    expect(Object.keys(arrived!.body).filter((key) => !documented.includes(key))).toEqual([]);
  });

  it("retries a failing endpoint with the same webhook-id until it succeeds, logging each attempt", async () => {
    const { account, inbox, token, webhookPath } = await setup([{ status: 500, body: "boom" }, { status: 500 }]);
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/r-1`, { token, body: { name: "one event" } });
    const arrived = await waitForPayloads(webhookPath, 3);
    expect(new Set(arrived.map((item) => item.request.headers["webhook-id"])).size).toBe(1);
    expect(arrived.map((item) => item.body.event)).toEqual(["contact_created", "contact_created", "contact_created"]);
    await expect.poll(async () => (await deliveries(account, inbox.id, "?state=succeeded")).length).toBe(1);
    const [retried] = await deliveries(account, inbox.id);
    expect(retried!.attempts.map((attempt: { status_code: number }) => attempt.status_code)).toEqual([500, 500, 200]);
    expect(retried!.attempts[0].response_excerpt).toBe("boom");
  });

  it("drops duplicate queue messages: a copy never adds an attempt or cuts a retry wait short", async () => {
    const { account, inbox, token, webhookPath } = await setup([{ status: 500 }, { status: 500 }]);
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/dup-1`, { token, body: {} });
    await waitForPayloads(webhookPath, 1);
    const [delivery] = await deliveries(account, inbox.id);
    // Copies of the first-attempt message and of the attempt already made arrive while the retry waits.
    await env.DELIVERIES.send({ kind: "delivery", deliveryId: delivery!.id });
    await env.DELIVERIES.send({ kind: "delivery", deliveryId: delivery!.id, attempt: 1 });
    await expect.poll(async () => (await deliveries(account, inbox.id, "?state=succeeded")).length, { timeout: 10_000 }).toBe(1);
    const [done] = await deliveries(account, inbox.id);
    expect(done!.attempts.map((attempt: { status_code: number }) => attempt.status_code)).toEqual([500, 500, 200]);
    const arrivals = (await payloads(webhookPath)).map((item) => item.request.at);
    expect(arrivals).toHaveLength(3);
    // WEBHOOK_RETRY_DELAYS=1,1,1 with ±10 % jitter: every retry waited its turn.
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(850);
    expect(arrivals[2]! - arrivals[1]!).toBeGreaterThanOrEqual(850);
  });

  it("marks a delivery failed after the whole schedule, and a manual retry then delivers it", async () => {
    const { account, inbox, token, webhookPath } = await setup([], { status: 503 });
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/down-1`, { token, body: { name: "X" } });
    await expect
      .poll(async () => (await deliveries(account, inbox.id, "?state=failed")).length, { timeout: 20_000, interval: 200 })
      .toBe(1);
    const [failed] = await deliveries(account, inbox.id, "?state=failed");
    expect(failed!.attempts).toHaveLength(4);
    expect(failed!.last_error).toMatch(/Gave up after 4 attempts/);
    const { script } = await import("../support/receiver-client");
    await script(webhookPath, [], { status: 204 });
    const retry = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries/${failed!.id}/retry`, {
      token: account.adminToken,
    });
    expect(retry.status).toBe(202);
    await expect.poll(async () => (await deliveries(account, inbox.id, "?state=succeeded")).length, { timeout: 10_000 }).toBe(1);
    const ids = (await payloads(webhookPath)).map((item) => item.body.id);
    expect(new Set(ids).size).toBe(1);
    expect(ids).toHaveLength(5);
  });

  it("disables the endpoint on 410 Gone and stops delivering", async () => {
    const { account, inbox, token, webhookPath } = await setup([], { status: 410 });
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/gone-1`, { token, body: {} });
    await expect.poll(async () => (await deliveries(account, inbox.id, "?state=failed")).length).toBe(1);
    const row = await allShards.prepare("SELECT webhook_disabled_at FROM inboxes WHERE id = ?").bind(inbox.id).first<{ webhook_disabled_at: number | null }>();
    expect(row!.webhook_disabled_at).not.toBeNull();
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/gone-2`, { token, body: {} });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await payloads(webhookPath)).toHaveLength(1);
    expect(await deliveries(account, inbox.id)).toHaveLength(1);
  });

  it("honours Retry-After on 429", async () => {
    const { account, inbox, token, webhookPath } = await setup([{ status: 429, headers: { "retry-after": "3" } }]);
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/slow-1`, { token, body: {} });
    const arrived = await waitForPayloads(webhookPath, 2, undefined, 10_000);
    expect(arrived[1]!.request.at - arrived[0]!.request.at).toBeGreaterThanOrEqual(2_700);
    await expect.poll(async () => (await deliveries(account, inbox.id, "?state=succeeded")).length).toBe(1);
  });

  it("holds later events of a conversation while an earlier one is retried, then delivers all in sequence order", async () => {
    const { inbox, token, webhookPath, base } = await setup();
    const first = await sendMessage(token, inbox, { contact: { source_id: "order-1" }, content: "m0" });
    await waitForPayloads(webhookPath, 3);
    const { script } = await import("../support/receiver-client");
    await script(webhookPath, [{ status: 500 }, { status: 500 }]);
    for (let i = 1; i <= 20; i++) {
      const res = await api("POST", `${base}/conversations/${first.conversation.id}/messages`, { token, body: { content: `m${i}` } });
      expect(res.status).toBe(201);
    }
    const messages = await waitForPayloads(webhookPath, 21 + 2, "message_created", 20_000);
    const delivered = messages.map((item) => item.body.sequence as number);
    // Each event once, except the retried head; arrival order never goes back.
    const distinct = delivered.filter((sequence, index) => delivered.indexOf(sequence) === index);
    expect(distinct).toEqual([...distinct].sort((a, b) => a - b));
    expect(distinct).toHaveLength(21);
    for (let i = 1; i < delivered.length; i++) expect(delivered[i]!).toBeGreaterThanOrEqual(delivered[i - 1]!);
  });

  it("delivers an event whose queue send failed, through the sweeper", async () => {
    const { account, inbox, token, webhookPath } = await setup();
    faults.arm("queue.send", 3);
    await sendMessage(token, inbox, { contact: { source_id: "lost-1" }, content: "still arrives" });
    faults.disarm("queue.send");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await payloads(webhookPath, "message_created")).toHaveLength(0);
    const report = await sweep(await shardBindings(account.accountId), { graceMs: 0 });
    expect(report.deliveries_queued).toBeGreaterThanOrEqual(1);
    const arrived = await waitForPayloads(webhookPath, 1, "message_created");
    expect(arrived[0]!.body.message.content).toBe("still arrives");
  });

  it("replays events since a time with the same webhook-ids, and the pull API returns the same events in order", async () => {
    const { account, inbox, token, webhookPath, base } = await setup();
    const since = new Date(Date.now() - 1000).toISOString();
    await sendMessage(token, inbox, { contact: { source_id: "replay-1" }, content: "a" });
    await waitForPayloads(webhookPath, 3);
    const firstIds = (await payloads(webhookPath)).map((item) => item.body.id).sort();
    const replay = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries/replay`, {
      token: account.adminToken,
      body: { since },
    });
    expect(replay.status, replay.text).toBe(202);
    expect(replay.body.replayed).toBe(3);
    await waitForPayloads(webhookPath, 6);
    const allIds = (await payloads(webhookPath)).map((item) => item.body.id).sort();
    expect(allIds).toEqual([...firstIds, ...firstIds].sort());

    const pulled = await api("GET", `${base}/events?limit=2`, { token });
    expect(pulled.status).toBe(200);
    const next = await api("GET", `${base}/events?after=${pulled.body.next_cursor}`, { token });
    const pulledIds = [...pulled.body.data, ...next.body.data].map((event: { id: string }) => event.id);
    expect(pulledIds.sort()).toEqual(firstIds);
    expect(pulled.body.data[0].event).toBe("contact_created");
    const empty = await api("GET", `${base}/events?after=${next.body.next_cursor}`, { token });
    expect(empty.body.data).toEqual([]);
    expect(empty.body.next_cursor).toBe(next.body.next_cursor);
    expectProblem(await api("GET", `${base}/events?after=-3`, { token }), 400, "invalid_cursor");
  });
});
