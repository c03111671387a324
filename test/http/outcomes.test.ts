// Issue 22, second half: a 503 tells the truth about what was written, and a retried message is never
// written twice, whatever happened to its conversation in between.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { conversationObject } from "../../src/conversation/stub";
import { SYSTEM_ORIGIN } from "../../src/delivery/events";
import { faults } from "../../src/faults";
import { api, createTestAccount, expectProblem, unique } from "../support/api";
import { count, createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { callWithEnv, failingD1 } from "../support/faults";
import { TEST_PLATFORM_TOKEN } from "../support/constants";
import { allShards, shardBindings } from "../support/shards";

afterEach(() => {
  faults.disarm();
  vi.restoreAllMocks();
});

async function conversation() {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account);
  const token = await createInboxToken(account, inbox);
  const first = await sendMessage(token, inbox, { contact: { source_id: unique("c"), name: "Maria" }, content: "help" });
  const replies = `/v1/accounts/${account.accountId}/conversations/${first.conversation.id}/messages`;
  return { account, inbox, token, conversationId: first.conversation.id, replies };
}

const outgoing = (conversationId: string) =>
  count("SELECT count(*) AS n FROM messages WHERE conversation_id = ? AND message_type = 'outgoing'", conversationId);

describe("a 503 tells the truth", () => {
  it("a reply whose D1 batch committed but whose answer was lost is 503 outcome_unknown; the retry with its source_id writes nothing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { account, conversationId, replies } = await conversation();
    const body = { content: "Refund sent", source_id: unique("console") };
    faults.arm("d1.batch.answer_lost");
    const lost = await api("POST", replies, { token: account.adminToken, body });
    expectProblem(lost, 503, "outcome_unknown");
    expect(lost.body.detail).toMatch(/Idempotency-Key/);
    expect(lost.body.detail).toMatch(/source_id/);
    expect(lost.body.detail).toMatch(/history|GET/);
    // It was written: the answer was what got lost.
    expect(await outgoing(conversationId)).toBe(1);

    const retried = await api("POST", replies, { token: account.adminToken, body });
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body).toMatchObject({ content: "Refund sent", source_id: body.source_id, message_type: "outgoing" });
    expect(await outgoing(conversationId)).toBe(1);
  });

  it("an agent reply takes a source_id: a repeat returns the first reply (200) instead of sending a second", async () => {
    const { account, inbox, token, conversationId, replies } = await conversation();
    const body = { content: "On it", source_id: unique("console") };
    const first = await api("POST", replies, { token: account.adminToken, body });
    expect(first.status, first.text).toBe(201);
    expect(first.body.source_id).toBe(body.source_id);
    const again = await api("POST", replies, { token: account.adminToken, body });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await outgoing(conversationId)).toBe(1);

    // A source_id that names a message of another conversation is refused, not answered with that message.
    const other = await sendMessage(token, inbox, { contact: { source_id: unique("c2") }, content: "another thread" });
    const clash = await api("POST", `/v1/accounts/${account.accountId}/conversations/${other.conversation.id}/messages`, {
      token: account.adminToken,
      body: { content: "wrong thread", source_id: body.source_id },
    });
    expectProblem(clash, 409, "invalid_state");
    expect(await outgoing(other.conversation.id)).toBe(0);
  });

  it("a conversation object reset after committing is 503 outcome_unknown; the retry with the key returns the message", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { account, conversationId, replies } = await conversation();
    const key = unique("reset");
    faults.arm("conversation.reset_after_commit");
    const failed = await api("POST", replies, { token: account.adminToken, body: { content: "Shipped" }, headers: { "idempotency-key": key } });
    expectProblem(failed, 503, "outcome_unknown");
    const retried = await api("POST", replies, { token: account.adminToken, body: { content: "Shipped" }, headers: { "idempotency-key": key } });
    expect([200, 201], retried.text).toContain(retried.status);
    expect(retried.body.content).toBe("Shipped");
    expect(await outgoing(conversationId)).toBe(1);
  });

  it("outside the object too: a write batch sent without an answer is outcome_unknown, a failed read storage_unavailable", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const created = await callWithEnv({ DB: failingD1() }, "POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      body: { name: "Lost", administrator: { name: "A", email: `${unique("a")}@example.com` } },
    });
    expectProblem(created, 503, "outcome_unknown");
    const account = await createTestAccount();
    const read = await callWithEnv({ DB: failingD1() }, "GET", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken });
    expectProblem(read, 503, "storage_unavailable");
  });

  it("storage_unavailable still means nothing was written", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { account, conversationId, replies } = await conversation();
    faults.arm("conversation.commit");
    const failed = await api("POST", replies, { token: account.adminToken, body: { content: "Not yet" } });
    expectProblem(failed, 503, "storage_unavailable");
    expect(await outgoing(conversationId)).toBe(0);
  });

  it("a bug inside the conversation object is a 500 with a request id, not a retryable 503", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { account, conversationId, replies } = await conversation();
    faults.arm("conversation.commit", 1, "bug");
    const failed = await api("POST", replies, { token: account.adminToken, body: { content: "Boom" } });
    expectProblem(failed, 500, "internal_error");
    expect(failed.body.request_id).toEqual(expect.any(String));
    expect(failed.body.detail).toContain(failed.body.request_id);
    expect(failed.headers.get("retry-after")).toBeNull();
    expect(await outgoing(conversationId)).toBe(0);
  });
});

describe("key dedupe outlives the conversation", () => {
  it("a one-call message retried after its key's lease expired and its conversation was resolved is not written again", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    const key = unique("msg");
    const body = { contact: { source_id: unique("c"), name: "Lee" }, content: "where is my order?" };
    const first = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers: { "idempotency-key": key } });
    expect(first.status, first.text).toBe(201);

    // The Worker died after the commit: the idempotency object still holds the lease, which has expired.
    const scope = `${account.accountId} ${inbox.id} /v1/inboxes/${inbox.identifier}/messages ${key}`;
    await runInDurableObject(env.IDEMPOTENCY.get(env.IDEMPOTENCY.idFromName(scope)), async (_instance, state) => {
      const record = state.storage.kv.get<{ fingerprint: string }>("record")!;
      state.storage.kv.put("record", { state: "running", fingerprint: record.fingerprint, leaseId: "dead", leaseExpiresAt: Date.now() - 1 });
    });
    // …and before the client's retry, an agent resolves the conversation.
    const resolved = await api("POST", `/v1/accounts/${account.accountId}/conversations/${first.body.conversation.id}/status`, {
      token: account.adminToken,
      body: { status: "resolved" },
    });
    expect(resolved.status, resolved.text).toBe(200);

    const retried = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers: { "idempotency-key": key } });
    expect([200, 201], retried.text).toContain(retried.status);
    expect(retried.body.message.id).toBe(first.body.message.id);
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ? AND message_type = 'incoming'", inbox.id)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM conversations WHERE inbox_id = ?", inbox.id)).toBe(1);
  });

  it("the conversation object answers a key already used in another conversation of the inbox with that message", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    const source = unique("c");
    const first = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, {
      token,
      body: { contact: { source_id: source }, content: "first" },
      headers: { "idempotency-key": unique("k") },
    });
    expect(first.status, first.text).toBe(201);
    await api("POST", `/v1/accounts/${account.accountId}/conversations/${first.body.conversation.id}/status`, {
      token: account.adminToken,
      body: { status: "resolved" },
    });
    const second = await sendMessage(token, inbox, { contact: { source_id: source }, content: "a new thread" });
    expect(second.conversation.id).not.toBe(first.body.conversation.id);
    const requestKey = (await allShards.prepare("SELECT request_key FROM messages WHERE id = ?").bind(first.body.message.id).first<{ request_key: string }>())!.request_key;

    // A retry that raced past every other check reaches the object of the new conversation: D1's index
    // (inbox_id, request_key) refuses the second write, and the object answers with the first message.
    const outcome = await conversationObject(await shardBindings(account.accountId), second.conversation.id).appendMessage({
      conversationId: second.conversation.id,
      message: { messageType: "incoming", content: "first", contentAttributes: {}, attachments: [], private: false, sender: { type: "contact", id: first.body.contact.id }, sourceId: null },
      contact: first.body.contact,
      origin: SYSTEM_ORIGIN,
      reopen: true,
      dedupe: { key: requestKey, fingerprint: "raced" },
    });
    expect(outcome).toMatchObject({ kind: "existing", message: { id: first.body.message.id } });
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ? AND content = 'first'", inbox.id)).toBe(1);
  });
});
