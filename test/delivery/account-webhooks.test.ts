// Account-level webhook endpoints through HTTP, with the real receiver: CRUD and validation, tenant
// isolation, the event and inbox filters, order alongside the inbox's own endpoint, 410, rotation,
// ping, the delivery log, retry and replay.
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, type TestAccount } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { payloads, receiverPath, script, waitForPayloads } from "../support/receiver-client";
import { allShards } from "../support/shards";

/** A `since` inside the retention window, before anything a test does. */
const recent = new Date(Date.now() - 60 * 60_000).toISOString();

const hooks = (account: TestAccount) => `/v1/accounts/${account.accountId}/webhooks`;

async function createEndpoint(account: TestAccount, path: string, extra: Record<string, unknown> = {}) {
  const res = await api("POST", hooks(account), { token: account.adminToken, body: { url: `${env.RECEIVER_URL}${path}`, ...extra } });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; secret: string; url: string };
}

async function endpointDeliveries(account: TestAccount, id: string, query = "") {
  const res = await api("GET", `${hooks(account)}/${id}/deliveries${query}`, { token: account.adminToken });
  expect(res.status, res.text).toBe(200);
  return res.body.data as Array<Record<string, any>>;
}

async function setup() {
  const account = await createTestAccount();
  const inboxPath = await receiverPath();
  const inbox = await createTestInbox(account, { webhookPath: inboxPath });
  const token = await createInboxToken(account, inbox);
  return { account, inbox, token, inboxPath };
}

describe("account-level webhook endpoints: the resource", () => {
  it("creates, lists, reads, changes and deletes an endpoint; the secret is shown only on create and rotate", async () => {
    const { account, inbox } = await setup();
    const path = await receiverPath();
    const created = await createEndpoint(account, path, { description: "CRM", events: ["message_created", "message_created"], inbox_ids: [inbox.id] });
    expect(created).toMatchObject({
      id: expect.stringMatching(/^whe_/),
      secret: expect.stringMatching(/^whsec_/),
      description: "CRM",
      events: ["message_created"],
      inbox_ids: [inbox.id],
      status: { enabled: true, disabled_at: null },
    });
    const list = await api("GET", hooks(account), { token: account.adminToken });
    expect(list.status).toBe(200);
    expect(list.body.data.map((item: { id: string }) => item.id)).toEqual([created.id]);
    expect(list.text).not.toContain(created.secret);
    const got = await api("GET", `${hooks(account)}/${created.id}`, { token: account.adminToken });
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty("secret");

    const patched = await api("PATCH", `${hooks(account)}/${created.id}`, {
      token: account.adminToken,
      body: { events: null, inbox_ids: null, description: null, enabled: false },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ events: null, inbox_ids: null, description: null, status: { enabled: false } });
    const enabled = await api("PATCH", `${hooks(account)}/${created.id}`, { token: account.adminToken, body: { enabled: true } });
    expect(enabled.body.status).toMatchObject({ enabled: true, disabled_at: null });

    const deleted = await api("DELETE", `${hooks(account)}/${created.id}`, { token: account.adminToken });
    expect(deleted.status).toBe(204);
    expectProblem(await api("GET", `${hooks(account)}/${created.id}`, { token: account.adminToken }), 404, "webhook_endpoint_not_found");
    expectProblem(await api("DELETE", `${hooks(account)}/${created.id}`, { token: account.adminToken }), 404, "webhook_endpoint_not_found");
  });

  it("validates: URL policy, unknown event types and fields, inboxes of another account, empty filters", async () => {
    const { account } = await setup();
    const other = await createTestAccount();
    const foreign = await createTestInbox(other);
    const post = (body: unknown) => api("POST", hooks(account), { token: account.adminToken, body });
    expectProblem(await post({ url: "http://10.0.0.1/hook" }), 422, "webhook_url_not_allowed");
    expectProblem(await post({ url: "https://user:pw@example.com/hook" }), 422, "webhook_url_not_allowed");
    expectProblem(await post({ url: "https://169.254.169.254/latest" }), 422, "webhook_url_not_allowed");
    expectProblem(await post({ url: `${env.RECEIVER_URL}/x`, events: ["nope"] }), 422, "validation_failed");
    expectProblem(await post({ url: `${env.RECEIVER_URL}/x`, events: [] }), 422, "validation_failed");
    expectProblem(await post({ url: `${env.RECEIVER_URL}/x`, colour: "red" }), 422, "validation_failed");
    const wrongInbox = await post({ url: `${env.RECEIVER_URL}/x`, inbox_ids: [foreign.id] });
    expectProblem(wrongInbox, 422, "validation_failed");
    expect(wrongInbox.body.errors[0]).toMatchObject({ pointer: "/inbox_ids/0" });
    expectProblem(await post({}), 422, "validation_failed");
    expect((await api("GET", hooks(account), { token: account.adminToken })).body.data).toEqual([]);
  });

  it("is for administrators of the account only: an agent gets 403, another account 404", async () => {
    const { account } = await setup();
    const agent = await createTestUser(account, "agent");
    const other = await createTestAccount();
    const created = await createEndpoint(account, await receiverPath());
    expectProblem(await api("GET", hooks(account), { token: agent.token }), 403, "forbidden");
    expectProblem(await api("POST", hooks(account), { token: agent.token, body: { url: `${env.RECEIVER_URL}/a` } }), 403, "forbidden");
    expectProblem(await api("GET", `${hooks(account)}/${created.id}`, { token: other.adminToken }), 404, "account_not_found");
    // The other account's administrator, on their own account, naming this account's endpoint.
    for (const [method, suffix] of [["GET", ""], ["PATCH", ""], ["DELETE", ""], ["POST", "/test"], ["POST", "/secret/rotate"], ["GET", "/deliveries"]] as const) {
      const res = await api(method, `${hooks(other)}/${created.id}${suffix}`, { token: other.adminToken, body: method === "PATCH" ? {} : undefined });
      expectProblem(res, 404, "webhook_endpoint_not_found");
    }
    expect((await api("GET", `${hooks(account)}/${created.id}`, { token: account.adminToken })).status).toBe(200);
  });

  it("idempotent create; a stored answer with a rotated or deleted endpoint's secret is withdrawn", async () => {
    const { account } = await setup();
    const body = { url: `${env.RECEIVER_URL}${await receiverPath()}` };
    const headers = { "idempotency-key": "create-endpoint-1" };
    const first = await api("POST", hooks(account), { token: account.adminToken, body, headers });
    expect(first.status).toBe(201);
    const again = await api("POST", hooks(account), { token: account.adminToken, body, headers });
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect((await api("GET", hooks(account), { token: account.adminToken })).body.data).toHaveLength(1);
    const rotated = await api("POST", `${hooks(account)}/${first.body.id}/secret/rotate`, { token: account.adminToken });
    expect(rotated.status).toBe(200);
    expectProblem(await api("POST", hooks(account), { token: account.adminToken, body, headers }), 409, "idempotency_answer_withdrawn");

    const rotateHeaders = { "idempotency-key": "rotate-1" };
    const rotate = await api("POST", `${hooks(account)}/${first.body.id}/secret/rotate`, { token: account.adminToken, headers: rotateHeaders });
    expect(rotate.status).toBe(200);
    expect((await api("DELETE", `${hooks(account)}/${first.body.id}`, { token: account.adminToken })).status).toBe(204);
    const replayed = await api("POST", `${hooks(account)}/${first.body.id}/secret/rotate`, { token: account.adminToken, headers: rotateHeaders });
    expect([404, 409]).toContain(replayed.status);
    expect(replayed.text).not.toContain(rotate.body.secret);
  });
});

describe("account-level webhook endpoints: delivery", () => {
  it("sends the events it takes (type and inbox filters), signed with its own secret; private notes never leave", async () => {
    const { account, inbox, token, inboxPath } = await setup();
    const second = await createTestInbox(account, { webhookPath: await receiverPath() });
    const secondToken = await createInboxToken(account, second);
    const allPath = await receiverPath();
    const messagesPath = await receiverPath();
    const firstInboxPath = await receiverPath();
    const all = await createEndpoint(account, allPath);
    const messages = await createEndpoint(account, messagesPath, { events: ["message_created"] });
    const firstInbox = await createEndpoint(account, firstInboxPath, { inbox_ids: [inbox.id] });

    const sent = await sendMessage(token, inbox, { contact: { source_id: "f-1", name: "Maria" }, content: "one" });
    await sendMessage(secondToken, second, { contact: { source_id: "f-2" }, content: "two" });
    const note = await api("POST", `/v1/accounts/${account.accountId}/conversations/${sent.conversation.id}/messages`, {
      token: account.adminToken,
      body: { content: "secret note", private: true },
    });
    expect(note.status, note.text).toBe(201);
    await sendMessage(token, inbox, { contact: { source_id: "f-1" }, content: "three" });

    // contact, conversation, message ×2 in inbox 1 (+1 message), the same three in inbox 2.
    const everything = await waitForPayloads(allPath, 7);
    const onlyMessages = await waitForPayloads(messagesPath, 3);
    const onlyFirst = await waitForPayloads(firstInboxPath, 4);
    await waitForPayloads(inboxPath, 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await payloads(allPath)).toHaveLength(7);
    expect(onlyMessages.map((item) => item.body.event)).toEqual(["message_created", "message_created", "message_created"]);
    expect(await payloads(messagesPath)).toHaveLength(3);
    expect(new Set(onlyFirst.map((item) => item.body.inbox.id))).toEqual(new Set([inbox.id]));
    expect(await payloads(firstInboxPath)).toHaveLength(4);
    for (const item of [...everything, ...onlyMessages]) expect(item.request.body).not.toContain("secret note");

    // Each endpoint's own secret signs; another's does not verify.
    const verify = (secret: string, item: (typeof everything)[number]) => new Webhook(secret).verify(item.request.body, item.request.headers);
    for (const item of everything) expect(() => verify(all.secret, item)).not.toThrow();
    expect(() => verify(messages.secret, everything[0]!)).toThrow();
    expect(() => verify(inbox.secret!, everything[0]!)).toThrow();
    for (const item of onlyMessages) expect(() => verify(messages.secret, item)).not.toThrow();
    for (const item of onlyFirst) expect(() => verify(firstInbox.secret, item)).not.toThrow();
    // The same event has the same webhook-id at every endpoint.
    const message = onlyMessages[0]!;
    expect(everything.some((item) => item.request.headers["webhook-id"] === message.request.headers["webhook-id"])).toBe(true);

    // The endpoint's log has its deliveries; the inbox's log keeps only the inbox's own.
    await expect.poll(async () => (await endpointDeliveries(account, all.id, "?state=succeeded")).length).toBe(7);
    const inboxLog = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries`, { token: account.adminToken });
    expect(inboxLog.body.data.every((item: { endpoint: string }) => item.endpoint === "inbox")).toBe(true);
    const messageLog = await endpointDeliveries(account, messages.id);
    expect(messageLog.every((item) => item.endpoint === messages.id && item.event_type === "message_created")).toBe(true);
  });

  it("keeps each conversation in order on an account endpoint alongside the inbox endpoint", async () => {
    const { account, inbox, token, inboxPath } = await setup();
    // The first two answers fail: later events must wait for the retries of earlier ones.
    const accountPath = await receiverPath([{ status: 500 }, { status: 503 }]);
    await createEndpoint(account, accountPath, { events: ["message_created"] });
    const first = await sendMessage(token, inbox, { contact: { source_id: "o-1" }, content: "m0" });
    for (let i = 1; i < 8; i++) {
      await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${first.conversation.id}/messages`, { token, body: { content: `m${i}` } });
    }
    const arrived = await waitForPayloads(accountPath, 10, undefined, 20_000);
    const ok = arrived.filter((_, index) => index >= 2).map((item) => item.body.message.content);
    expect(ok).toEqual(["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    const sequences = arrived.slice(2).map((item) => item.body.sequence);
    expect([...sequences].sort((x, y) => x - y)).toEqual(sequences);
    const inboxMessages = await waitForPayloads(inboxPath, 8, "message_created");
    expect(inboxMessages.map((item) => item.body.message.content)).toEqual(["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
  });

  it("410 Gone disables only that endpoint; a new url re-enables it", async () => {
    const { account, inbox, token, inboxPath } = await setup();
    const gonePath = await receiverPath([], { status: 410 });
    const okPath = await receiverPath();
    const gone = await createEndpoint(account, gonePath);
    await createEndpoint(account, okPath);
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/g-1`, { token, body: {} });
    await expect.poll(async () => (await endpointDeliveries(account, gone.id, "?state=failed")).length).toBe(1);
    const got = await api("GET", `${hooks(account)}/${gone.id}`, { token: account.adminToken });
    expect(got.body.status).toMatchObject({ enabled: false, disabled_reason: expect.stringContaining("410") });
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/g-2`, { token, body: {} });
    await waitForPayloads(okPath, 2);
    await waitForPayloads(inboxPath, 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await payloads(gonePath)).toHaveLength(1);
    expect(await endpointDeliveries(account, gone.id)).toHaveLength(1);
    const inboxRow = await allShards.prepare("SELECT webhook_disabled_at FROM inboxes WHERE id = ?").bind(inbox.id).first<{ webhook_disabled_at: number | null }>();
    expect(inboxRow!.webhook_disabled_at).toBeNull();
    // Retry and replay refuse while disabled; a new url enables it again.
    const [failed] = await endpointDeliveries(account, gone.id);
    expectProblem(await api("POST", `${hooks(account)}/${gone.id}/deliveries/${failed!.id}/retry`, { token: account.adminToken }), 409, "invalid_state");
    expectProblem(await api("POST", `${hooks(account)}/${gone.id}/replay`, { token: account.adminToken, body: { since: recent } }), 409, "invalid_state");
    const fixed = await receiverPath();
    const patched = await api("PATCH", `${hooks(account)}/${gone.id}`, { token: account.adminToken, body: { url: `${env.RECEIVER_URL}${fixed}` } });
    expect(patched.body.status.enabled).toBe(true);
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/g-3`, { token, body: {} });
    await waitForPayloads(fixed, 1);
  });

  it("rotation: for 24 h deliveries carry both signatures, old and new", async () => {
    const { account, inbox, token } = await setup();
    const path = await receiverPath();
    const endpoint = await createEndpoint(account, path);
    const rotated = await api("POST", `${hooks(account)}/${endpoint.id}/secret/rotate`, { token: account.adminToken });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/rot-1`, { token, body: {} });
    const [arrived] = await waitForPayloads(path, 1);
    expect(arrived!.request.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(() => new Webhook(rotated.body.secret).verify(arrived!.request.body, arrived!.request.headers)).not.toThrow();
    expect(() => new Webhook(endpoint.secret).verify(arrived!.request.body, arrived!.request.headers)).not.toThrow();
  });

  it("test ping: signed webhook.test with inbox null, reported whatever the endpoint answered", async () => {
    const { account } = await setup();
    const path = await receiverPath([{ status: 500, body: "nope" }]);
    const endpoint = await createEndpoint(account, path);
    const failed = await api("POST", `${hooks(account)}/${endpoint.id}/test`, { token: account.adminToken });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ ok: false, status_code: 500, response_excerpt: "nope" });
    const ok = await api("POST", `${hooks(account)}/${endpoint.id}/test`, { token: account.adminToken });
    expect(ok.body).toMatchObject({ ok: true, status_code: 200 });
    const arrived = await payloads(path);
    expect(arrived).toHaveLength(2);
    expect(arrived[1]!.body).toMatchObject({ event: "webhook.test", inbox: null, account: { id: account.accountId } });
    expect(() => new Webhook(endpoint.secret).verify(arrived[1]!.request.body, arrived[1]!.request.headers)).not.toThrow();
    // Pings are probes: no delivery is logged.
    expect(await endpointDeliveries(account, endpoint.id)).toEqual([]);
  });

  it("delivery log by state, retry of a failed delivery, and replay since a time with the same webhook-ids", async () => {
    const { account, inbox, token } = await setup();
    const path = await receiverPath([], { status: 503 });
    const endpoint = await createEndpoint(account, path, { events: ["contact_created", "contact_updated"] });
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/l-1`, { token, body: { name: "A" } });
    await expect
      .poll(async () => (await endpointDeliveries(account, endpoint.id, "?state=failed")).length, { timeout: 20_000, interval: 200 })
      .toBe(1);
    expect(await endpointDeliveries(account, endpoint.id, "?state=succeeded")).toEqual([]);
    const [failed] = await endpointDeliveries(account, endpoint.id, "?state=failed");
    expect(failed).toMatchObject({ endpoint: endpoint.id, event_type: "contact_created", attempts_count: 4 });
    expect(failed!.attempts).toHaveLength(4);

    await script(path, [], { status: 204 });
    const retry = await api("POST", `${hooks(account)}/${endpoint.id}/deliveries/${failed!.id}/retry`, { token: account.adminToken });
    expect(retry.status, retry.text).toBe(202);
    await expect.poll(async () => (await endpointDeliveries(account, endpoint.id, "?state=succeeded")).length, { timeout: 10_000 }).toBe(1);
    expectProblem(await api("POST", `${hooks(account)}/${endpoint.id}/deliveries/${failed!.id}/retry`, { token: account.adminToken }), 409, "invalid_state");
    // A delivery of another endpoint (the inbox's) is not this endpoint's.
    const inboxLog = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries`, { token: account.adminToken });
    expectProblem(
      await api("POST", `${hooks(account)}/${endpoint.id}/deliveries/${inboxLog.body.data[0].id}/retry`, { token: account.adminToken }),
      404,
      "delivery_not_found",
    );

    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/l-1`, { token, body: { name: "B" } });
    await waitForPayloads(path, 6);
    const before = await payloads(path);
    const replay = await api("POST", `${hooks(account)}/${endpoint.id}/replay`, {
      token: account.adminToken,
      body: { since: recent },
    });
    expect(replay.status, replay.text).toBe(202);
    // Only what the endpoint takes: the contact's two events, not the inbox's other events.
    expect(replay.body).toMatchObject({ replayed: 2, replay_id: expect.stringMatching(/^rpl_/) });
    const after = await waitForPayloads(path, before.length + 2);
    const replayed = after.slice(before.length);
    expect(replayed.map((item) => item.body.event)).toEqual(["contact_created", "contact_updated"]);
    expect(replayed.map((item) => item.request.headers["webhook-id"])).toEqual(
      before.filter((item) => item.request.headers["webhook-id"] !== undefined).map((item) => item.request.headers["webhook-id"]).filter((id, i, all) => all.indexOf(id) === i),
    );
    for (const item of replayed) expect(() => new Webhook(endpoint.secret).verify(item.request.body, item.request.headers)).not.toThrow();
    // The same request again once it finished changes nothing.
    await expect.poll(async () => (await endpointDeliveries(account, endpoint.id, "?state=pending")).length).toBe(0);
    const again = await api("POST", `${hooks(account)}/${endpoint.id}/replay`, { token: account.adminToken, body: { since: recent } });
    expect(again.body).toMatchObject({ replay_id: replay.body.replay_id, state: "done" });
    // Beyond the retention window the events are gone: said so, not silently replayed short.
    expectProblem(
      await api("POST", `${hooks(account)}/${endpoint.id}/replay`, { token: account.adminToken, body: { since: "2020-01-01T00:00:00Z" } }),
      422,
      "beyond_retention",
    );
  });

  it("a deleted endpoint gets nothing more: its pending deliveries fail, a queued message finds nowhere to send", async () => {
    const { account, inbox, token } = await setup();
    const path = await receiverPath([], { status: 500 });
    const endpoint = await createEndpoint(account, path);
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/d-1`, { token, body: {} });
    await waitForPayloads(path, 1);
    expect((await api("DELETE", `${hooks(account)}/${endpoint.id}`, { token: account.adminToken })).status).toBe(204);
    const row = await allShards.prepare("SELECT state, last_error FROM webhook_deliveries WHERE endpoint = ?").bind(endpoint.id).first<{ state: string; last_error: string }>();
    expect(row).toMatchObject({ state: "failed", last_error: expect.stringContaining("deleted") });
    await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/d-2`, { token, body: {} });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await payloads(path)).toHaveLength(1);
    const count = await allShards.prepare("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint = ?").bind(endpoint.id).first<{ n: number }>();
    expect(count!.n).toBe(1);
  });
});
