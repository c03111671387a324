// The one-call message's isolate cache (src/domain/ingest-cache.ts, src/http/integrator/ingest.ts): a
// remembered contact's next message skips the look-up round trip, and its commit's guard
// (src/conversation/guard.ts) re-checks every assumption. Each case changes one assumption and checks the
// next message is answered exactly as without a cache, the failed guarded attempt having written nothing.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ConversationObject } from "../../src/conversation/object";
import { sha256HexSync } from "../../src/core/crypto";
import { identifierHash } from "../../src/domain/identity";
import { ingestCounters, ingestKey, recallIngest } from "../../src/domain/ingest-cache";
import { faults } from "../../src/faults";
import { conversationObject } from "../../src/conversation/stub";
import { allShards, shardBindings } from "../support/shards";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { api, createTestAccount, createTestUser, expectProblem, unique, type TestAccount } from "../support/api";
import { count, createTestInbox, setMembers, type TestInbox } from "../support/fixtures";

afterEach(() => {
  faults.disarm();
  vi.restoreAllMocks();
});

async function setup() {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account);
  const issued = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`, { token: account.adminToken });
  expect(issued.status, issued.text).toBe(201);
  return { account, inbox, token: issued.body.token as string, tokenId: issued.body.id as string };
}

const send = (token: string, inbox: TestInbox, body: Record<string, unknown>) => api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body });

/** Sends `body`, expecting the cache to serve it (served) or not (a hit that fell back, or no hit at all). */
async function sendCounted(token: string, inbox: TestInbox, body: Record<string, unknown>) {
  const before = { ...ingestCounters };
  const res = await send(token, inbox, body);
  return { res, served: ingestCounters.served - before.served, fellBack: ingestCounters.fellBack - before.fellBack };
}

/** What the account holds that a message writes: messages, events, contacts, conversations. */
async function rows(account: TestAccount) {
  const n = (table: string) => count(`SELECT count(*) AS n FROM ${table} WHERE account_id = ?`, account.accountId);
  return { messages: await n("messages"), events: await n("events"), contacts: await n("contacts"), conversations: await n("conversations") };
}

/** A contact with one message (the slow path, which fills the cache) and a second one served from the cache. */
async function remembered(token: string, inbox: TestInbox, sourceId = "c-1") {
  const first = await send(token, inbox, { contact: { source_id: sourceId, name: "Ana" }, content: "one" });
  expect(first.status, first.text).toBe(201);
  const second = await sendCounted(token, inbox, { contact: { source_id: sourceId }, content: "two" });
  expect(second.res.status, second.res.text).toBe(201);
  expect(second.served).toBe(1);
  return { first: first.body, second: second.res.body };
}

describe("the one-call message's isolate cache", () => {
  it("answers a remembered contact's message exactly as the slow path does", async () => {
    const { account, inbox, token } = await setup();
    const { first, second } = await remembered(token, inbox);
    expect(second.contact).toEqual(first.contact);
    expect(second.conversation.id).toBe(first.conversation.id);
    expect(second.message).toMatchObject({ seq: first.message.seq + 1, content: "two", message_type: "incoming" });
    expect(Object.keys(second).sort()).toEqual(Object.keys(first).sort());
    expect(Object.keys(second.message).sort()).toEqual(Object.keys(first.message).sort());
    expect(Object.keys(second.conversation).sort()).toEqual(Object.keys(first.conversation).sort());
    // The same attributes again, a message source_id (twice: 201 then 200 with the stored one), an outgoing echo: all served.
    const same = await sendCounted(token, inbox, { contact: { source_id: "c-1", name: "Ana" }, content: "three", source_id: "m-3" });
    expect([same.res.status, same.served]).toEqual([201, 1]);
    const again = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "three", source_id: "m-3" });
    expect([again.res.status, again.served]).toEqual([200, 1]);
    expect(again.res.body.message.id).toBe(same.res.body.message.id);
    const outgoing = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "from us", message_type: "outgoing", echo: true });
    expect([outgoing.res.status, outgoing.served, outgoing.res.body.message.message_type]).toEqual([201, 1, "outgoing"]);
    // Every message once, gap-free, each with its message_created.
    const history = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${first.conversation.id}/messages`, { token });
    expect(history.body.data.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(await count("SELECT count(*) AS n FROM events WHERE account_id = ? AND type = 'message_created'", account.accountId)).toBe(4);
  });

  it("answers right when the conversation object was evicted between two cached messages", async () => {
    const { account, inbox, token } = await setup();
    const { first } = await remembered(token, inbox);
    // The object forgets: the next cached message starts it cold, from the row the entry hands it.
    await conversationObject(await shardBindings(account.accountId), first.conversation.id).reset();
    const third = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "three" });
    expect([third.res.status, third.served, third.res.body.message.seq]).toEqual([201, 1, 3]);
    expect(third.res.body.conversation.id).toBe(first.conversation.id);
    const history = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${first.conversation.id}/messages`, { token });
    expect(history.body.data.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
  });

  it("takes the slow path for a message that changes the contact, names a thread or carries a key", async () => {
    const { inbox, token } = await setup();
    await remembered(token, inbox);
    const renamed = await sendCounted(token, inbox, { contact: { source_id: "c-1", name: "Bea" }, content: "x" });
    expect([renamed.res.status, renamed.served, renamed.fellBack, renamed.res.body.contact.name]).toEqual([201, 0, 1, "Bea"]);
    const threaded = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, conversation: { source_id: "t-1" }, content: "x" });
    expect([threaded.res.status, threaded.served]).toEqual([201, 0]);
    const keyed = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body: { contact: { source_id: "c-1" }, content: "k" }, headers: { "idempotency-key": "k-1" } });
    expect(keyed.status).toBe(201);
  });

  it("answers 401 once the token is revoked, writing nothing — also for an invalid body", async () => {
    const { account, inbox, token, tokenId } = await setup();
    await remembered(token, inbox);
    const revoked = await api("DELETE", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens/${tokenId}`, { token: account.adminToken });
    expect(revoked.status, revoked.text).toBeLessThan(300);
    const before = await rows(account);
    // Validation fails after a hit: the token is checked first, as without a cache.
    const invalid = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "" });
    expectProblem(invalid.res, 401, "invalid_token");
    const refused = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "after revocation" });
    expectProblem(refused.res, 401, "invalid_token");
    expect(await rows(account)).toEqual(before);
  });

  it("answers 404 for another inbox's or account's token and for a deleted inbox, writing nothing", async () => {
    const { account, inbox, token } = await setup();
    const other = await createTestInbox(account);
    const otherAccount = await setup();
    await remembered(token, inbox);
    await remembered(account.adminToken, inbox, "c-admin");
    const before = await rows(account);
    expectProblem(await send(token, other, { contact: { source_id: "c-1" }, content: "x" }), 404, "inbox_not_found");
    expectProblem(await send(otherAccount.token, inbox, { contact: { source_id: "c-1" }, content: "x" }), 404, "inbox_not_found");
    const deleted = await api("DELETE", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}`, { token: account.adminToken });
    expect(deleted.status, deleted.text).toBeLessThan(300);
    const afterDelete = await rows(account);
    const gone = await sendCounted(account.adminToken, inbox, { contact: { source_id: "c-admin" }, content: "x" });
    expectProblem(gone.res, 404, "inbox_not_found");
    expect(gone.fellBack).toBe(1);
    // The inbox token died with its inbox.
    expectProblem(await send(token, inbox, { contact: { source_id: "c-1" }, content: "x" }), 401, "invalid_token");
    expect(await rows(account)).toEqual(afterDelete);
    expect(afterDelete.messages).toBe(before.messages);
  });

  it("answers 404 to an agent removed from the inbox, writing nothing", async () => {
    const { account, inbox } = await setup();
    const agent = await createTestUser(account);
    await setMembers(account, inbox, [agent.id]);
    await remembered(agent.token, inbox);
    await setMembers(account, inbox, []);
    const before = await rows(account);
    const refused = await sendCounted(agent.token, inbox, { contact: { source_id: "c-1" }, content: "x" });
    expectProblem(refused.res, 404, "inbox_not_found");
    expect(refused.fellBack).toBe(1);
    expect(await rows(account)).toEqual(before);
  });

  it("answers 404 to an administrator demoted to a non-member agent, writing nothing", async () => {
    const { account, inbox } = await setup();
    const admin = await createTestUser(account, "administrator");
    await remembered(admin.token, inbox);
    const demoted = await api("PATCH", `/v1/accounts/${account.accountId}/users/${admin.id}`, { token: account.adminToken, body: { role: "agent" } });
    expect(demoted.status, demoted.text).toBe(200);
    const before = await rows(account);
    const refused = await sendCounted(admin.token, inbox, { contact: { source_id: "c-1" }, content: "x" });
    expectProblem(refused.res, 404, "inbox_not_found");
    expect(refused.fellBack).toBe(1);
    expect(await rows(account)).toEqual(before);
  });

  it("answers with the contact as an agent changed it, the failed attempt writing nothing", async () => {
    const { account, inbox, token } = await setup();
    const { first } = await remembered(token, inbox);
    const edited = await api("PATCH", `/v1/accounts/${account.accountId}/contacts/${first.contact.id}`, { token: account.adminToken, body: { name: "Carla" } });
    expect(edited.status, edited.text).toBe(200);
    const before = await rows(account);
    const next = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "x" });
    expect([next.res.status, next.fellBack, next.res.body.contact.name]).toEqual([201, 1, "Carla"]);
    expect(next.res.body.message.seq).toBe(3);
    // Exactly one message and its message_created: the guarded attempt wrote nothing.
    expect(await rows(account)).toEqual({ ...before, messages: before.messages + 1, events: before.events + 1 });
    // The slow path remembered the contact as it is now.
    const served = await sendCounted(token, inbox, { contact: { source_id: "c-1", name: "Carla" }, content: "y" });
    expect([served.res.status, served.served]).toEqual([201, 1]);
  });

  it("opens a new conversation once the remembered one is resolved", async () => {
    const { account, inbox, token } = await setup();
    const { first } = await remembered(token, inbox);
    const resolved = await api("POST", `/v1/accounts/${account.accountId}/conversations/${first.conversation.id}/status`, {
      token: account.adminToken,
      body: { status: "resolved" },
    });
    expect(resolved.status, resolved.text).toBe(200);
    const before = await rows(account);
    const inResolved = () => count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", first.conversation.id);
    const resolvedHad = await inResolved();
    const next = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "new topic" });
    expect([next.res.status, next.fellBack]).toEqual([201, 1]);
    expect(next.res.body.conversation.id).not.toBe(first.conversation.id);
    expect(next.res.body.message.seq).toBe(1);
    expect((await rows(account)).conversations).toBe(before.conversations + 1);
    // The guarded attempt wrote nothing into the resolved conversation (no message, no reopening).
    expect(await inResolved()).toBe(resolvedHad);
    const old = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${first.conversation.id}`, { token });
    expect(old.body.status).toBe("resolved");
  });

  it("creates a new contact for an erased source id", async () => {
    const { account, inbox, token } = await setup();
    const { first } = await remembered(token, inbox);
    const erased = await api("DELETE", `/v1/inboxes/${inbox.identifier}/contacts/c-1`, { token });
    expect(erased.status, erased.text).toBe(200);
    const before = await rows(account);
    const next = await sendCounted(token, inbox, { contact: { source_id: "c-1" }, content: "hello again" });
    expect([next.res.status, next.fellBack]).toEqual([201, 1]);
    expect(next.res.body.contact.id).not.toBe(first.contact.id);
    expect(next.res.body.contact.name).toBeNull();
    expect(next.res.body.message.seq).toBe(1);
    expect((await rows(account)).messages).toBe(before.messages + 1);
  });
});

describe("a new contact's first message (contact and conversation in one commit)", () => {
  it("writes one contact, one conversation and its events, and a retry after a committed attempt writes nothing more", async () => {
    const { account, inbox, token } = await setup();
    const body = { contact: { source_id: "first", name: "Dee" }, conversation: { custom_attributes: { topic: "billing" } }, content: "hi", source_id: "m-1" };
    const first = await send(token, inbox, body);
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ contact: { name: "Dee", source_id: "first" }, conversation: { status: "open", custom_attributes: { topic: "billing" } }, message: { seq: 1 } });
    expect(await count("SELECT count(*) AS n FROM events WHERE account_id = ? AND type IN ('contact_created', 'conversation_created', 'message_created')", account.accountId)).toBe(3);
    const before = await rows(account);
    // Retries (the first answer lost), from the cache and through the slow path (another token of the inbox): the stored message, nothing written again.
    const secondToken = (await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`, { token: account.adminToken })).body.token;
    for (const retryToken of [token, secondToken]) {
      const retried = await send(retryToken, inbox, body);
      expect(retried.status, retried.text).toBe(200);
      expect(retried.body.message.id).toBe(first.body.message.id);
      expect(retried.body.conversation.id).toBe(first.body.conversation.id);
      expect(retried.body.contact).toEqual(first.body.contact);
    }
    expect(await rows(account)).toEqual(before);
  });

  it("writes nothing when the first message's commit fails (the contact's batch is that commit), and the retry writes it all", async () => {
    const { account, inbox, token } = await setup();
    faults.arm("conversation.commit");
    expectProblem(await send(token, inbox, { contact: { source_id: "half" }, content: "1" }), 503, "storage_unavailable");
    faults.disarm("conversation.commit");
    expect(await rows(account)).toEqual({ messages: 0, events: 0, contacts: 0, conversations: 0 });
    const retried = await send(token, inbox, { contact: { source_id: "half" }, content: "1" });
    expect(retried.status, retried.text).toBe(201);
    expect(retried.body.message.seq).toBe(1);
    expect(await rows(account)).toMatchObject({ contacts: 1, conversations: 1, messages: 1 });
  });

  it("creates one contact and one conversation when first messages race, also without the single-conversation lock", async () => {
    for (const lockToSingleConversation of [true, false]) {
      const account = await createTestAccount();
      const inbox = await createTestInbox(account, { lockToSingleConversation });
      const issued = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`, { token: account.adminToken });
      const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => send(issued.body.token, inbox, { contact: { source_id: "racer" }, content: `m${i}` })));
      expect(responses.map((res) => res.status)).toEqual(Array(10).fill(201));
      const counted = await rows(account);
      expect(counted.contacts).toBe(1);
      expect(counted.messages).toBe(10);
      // A loser of the contact race continues the conversation the winner opened with it (read in its batch).
      expect(counted.conversations).toBe(1);
      expect(new Set(responses.map((res) => res.body.conversation.id)).size).toBe(1);
      expect(responses.map((res) => res.body.message.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(await count("SELECT count(*) AS n FROM events WHERE account_id = ? AND type = 'contact_created'", account.accountId)).toBe(1);
      expect(await count("SELECT count(*) AS n FROM events WHERE account_id = ? AND type = 'conversation_created'", account.accountId)).toBe(counted.conversations);
    }
  });

  it("opens the conversation of a source id linked to an existing person with that person", async () => {
    const { account, inbox, token } = await setup();
    const other = await createTestInbox(account);
    const otherToken = (await api("POST", `/v1/accounts/${account.accountId}/inboxes/${other.id}/tokens`, { token: account.adminToken })).body.token;
    const proof = async (inboxId: string) => {
      const res = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inboxId}/identity`, { token: account.adminToken });
      return identifierHash(res.body.identity_secret, "person-1");
    };
    const first = await send(token, inbox, { contact: { source_id: "a", identifier: "person-1", identifier_hash: await proof(inbox.id) }, content: "1" });
    const linked = await send(otherToken, other, { contact: { source_id: "b", identifier: "person-1", identifier_hash: await proof(other.id) }, content: "2" });
    expect(linked.status, linked.text).toBe(201);
    expect(linked.body.contact.id).toBe(first.body.contact.id);
    expect(await count("SELECT count(*) AS n FROM conversations WHERE inbox_id = ? AND contact_id = ?", other.id, first.body.contact.id)).toBe(1);
    expect((await rows(account)).contacts).toBe(1);
  });
  it("commits the first message with the contact, without the conversation object; the next one starts the cold object from the remembered row", async () => {
    const { account, inbox, token } = await setup();
    const first = await send(token, inbox, { contact: { source_id: "cold" }, content: "one", source_id: "cold-1" });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ conversation: { messages_count: 1 }, message: { seq: 1, source_id: "cold-1" } });
    // The object was never called: it holds no state of its own.
    const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(first.body.conversation.id));
    expect(await runInDurableObject(stub, (instance: ConversationObject) => (instance as unknown as { cached?: unknown }).cached)).toBeUndefined();
    // The cache remembers the conversation as that commit left it: a cold object starts at seq 1, not 0.
    const entry = recallIngest(ingestKey(sha256HexSync(token), inbox.identifier, "cold"));
    expect(entry?.conversation).toMatchObject({ id: first.body.conversation.id, lastSeq: 1, lastEventSequence: 2 });
    const second = await sendCounted(token, inbox, { contact: { source_id: "cold" }, content: "two" });
    expect([second.res.status, second.served, second.res.body.message.seq]).toEqual([201, 1, 2]);
    const events = await allShards
      .prepare("SELECT type, sequence FROM events WHERE conversation_id = ? ORDER BY sequence")
      .bind(first.body.conversation.id)
      .all<{ type: string; sequence: number }>();
    expect(events.results).toEqual([
      { type: "conversation_created", sequence: 1 },
      { type: "message_created", sequence: 2 },
      { type: "message_created", sequence: 3 },
    ]);
    const [summary] = (await allShards.prepare("SELECT last_seq, last_event_sequence FROM conversations WHERE id = ?").bind(first.body.conversation.id).all()).results;
    expect(summary).toEqual({ last_seq: 2, last_event_sequence: 3 });
    expect(await rows(account)).toEqual({ messages: 2, events: 4, contacts: 1, conversations: 1 });
  });

  it("a new contact's first message with an Idempotency-Key still goes through the object, and its retry with the key replays it", async () => {
    const { inbox, token } = await setup();
    const body = { contact: { source_id: "keyed" }, content: "k" };
    const first = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers: { "idempotency-key": "first-key" } });
    expect(first.status, first.text).toBe(201);
    const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(first.body.conversation.id));
    expect(await runInDurableObject(stub, (instance: ConversationObject) => (instance as unknown as { cached?: { lastSeq: number } }).cached?.lastSeq)).toBe(1);
    const again = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers: { "idempotency-key": "first-key" } });
    expect([again.status, again.headers.get("idempotent-replayed"), again.text]).toEqual([201, "true", first.text]);
  });

  it("10 racing first messages with one source_id write one contact, one conversation, one message, also without the lock", async () => {
    for (const lockToSingleConversation of [true, false]) {
      const account = await createTestAccount();
      const inbox = await createTestInbox(account, { lockToSingleConversation });
      const issued = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`, { token: account.adminToken });
      const body = { contact: { source_id: "twin" }, content: "same", source_id: "twin-1" };
      const responses = await Promise.all(Array.from({ length: 10 }, () => send(issued.body.token, inbox, body)));
      expect(responses.map((res) => res.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
      expect(new Set(responses.map((res) => res.body.message.id)).size).toBe(1);
      expect(await rows(account)).toEqual({ messages: 1, events: 3, contacts: 1, conversations: 1 });
      // A retry with an Idempotency-Key (the slow path through the object) finds it by source_id too.
      const keyed = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token: issued.body.token, body, headers: { "idempotency-key": unique("twin") } });
      expect([keyed.status, keyed.body.message.id]).toEqual([200, responses[0]!.body.message.id]);
    }
  });

  it("a D1 batch that fails writes nothing; one whose answer was lost is 503 and its retry returns the message it wrote", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { account, inbox, token } = await setup();
    const body = { contact: { source_id: "lost" }, content: "1", source_id: "lost-1" };
    faults.arm("d1.batch");
    expectProblem(await send(token, inbox, body), 503, "storage_unavailable");
    expect(await rows(account)).toEqual({ messages: 0, events: 0, contacts: 0, conversations: 0 });
    faults.arm("d1.batch.answer_lost");
    expectProblem(await send(token, inbox, body), 503, "outcome_unknown");
    expect(await rows(account)).toEqual({ messages: 1, events: 3, contacts: 1, conversations: 1 });
    const retried = await send(token, inbox, body);
    expect([retried.status, retried.body.message.seq, retried.body.message.source_id]).toEqual([200, 1, "lost-1"]);
    expect(await rows(account)).toEqual({ messages: 1, events: 3, contacts: 1, conversations: 1 });
  });

  it("a first message whose source_id another contact's message has: answered with that message, as before", async () => {
    const { account, inbox, token } = await setup();
    const theirs = await send(token, inbox, { contact: { source_id: "one" }, content: "mine", source_id: "shared" });
    const clash = await send(token, inbox, { contact: { source_id: "two" }, content: "also mine", source_id: "shared" });
    expect(clash.status, clash.text).toBe(200);
    expect(clash.body.message).toEqual(theirs.body.message);
    expect(clash.body.contact.source_id).toBe("two");
    // The new contact and its conversation are still written (the message's own conversation is answered).
    expect(await rows(account)).toMatchObject({ messages: 1, contacts: 2, conversations: 2 });
    expect(await count("SELECT count(*) AS n FROM events WHERE account_id = ? AND type = 'conversation_created'", account.accountId)).toBe(2);
  });

  it("on an inbox with a webhook: contact_created, conversation_created then message_created delivered, signed, in sequence order", async () => {
    const account = await createTestAccount();
    const webhookPath = await receiverPath();
    const inbox = await createTestInbox(account, { webhookPath });
    const token = (await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`, { token: account.adminToken })).body.token;
    const first = await send(token, inbox, { contact: { source_id: "hooked" }, content: "hello" });
    expect(first.status, first.text).toBe(201);
    const arrived = await waitForPayloads(webhookPath, 3);
    const verifier = new Webhook(inbox.secret!);
    for (const item of arrived) expect(() => verifier.verify(item.request.body, item.request.headers)).not.toThrow();
    expect(arrived.map((item) => item.body.event).sort()).toEqual(["contact_created", "conversation_created", "message_created"]);
    const line = arrived.filter((item) => item.body.conversation_id === first.body.conversation.id);
    expect(line.map((item) => [item.body.event, item.body.sequence])).toEqual([
      ["conversation_created", 1],
      ["message_created", 2],
    ]);
    expect(line[1]!.body.message.id).toBe(first.body.message.id);
    expect(await count("SELECT count(*) AS n FROM webhook_deliveries WHERE account_id = ? AND state = 'succeeded'", account.accountId)).toBe(3);
  });
});

describe("a new contact's message on a remembered caller (no token round trip, the caller re-checked in its batch)", () => {
  async function sendFresh(token: string, inbox: TestInbox, body: Record<string, unknown>) {
    const before = { ...ingestCounters };
    const res = await send(token, inbox, body);
    return { res, callerServed: ingestCounters.callerServed - before.callerServed, fellBack: ingestCounters.fellBack - before.fellBack };
  }

  it("writes the new contact, its conversation and its first message, answered as the slow path answers", async () => {
    const { account, inbox, token } = await setup();
    await remembered(token, inbox);
    const before = await rows(account);
    const fresh = await sendFresh(token, inbox, { contact: { source_id: "c-2", name: "Bo" }, content: "hello", source_id: "f-1" });
    expect([fresh.res.status, fresh.callerServed, fresh.fellBack]).toEqual([201, 1, 0]);
    expect(fresh.res.body).toMatchObject({ contact: { name: "Bo", source_id: "c-2" }, conversation: { status: "open", messages_count: 1 }, message: { seq: 1, source_id: "f-1" } });
    expect(await rows(account)).toEqual({ messages: before.messages + 1, events: before.events + 3, contacts: before.contacts + 1, conversations: before.conversations + 1 });
    // Its next message is the remembered contact's; a retry of the first is answered with the stored message.
    const next = await sendCounted(token, inbox, { contact: { source_id: "c-2" }, content: "again" });
    expect([next.res.status, next.served, next.res.body.message.seq]).toEqual([201, 1, 2]);
    const retried = await send(token, inbox, { contact: { source_id: "c-2", name: "Bo" }, content: "hello", source_id: "f-1" });
    expect([retried.status, retried.body.message.id]).toEqual([200, fresh.res.body.message.id]);
  });

  it("continues a contact that exists after all (made through another token), as the look-up would", async () => {
    const { account, inbox, token } = await setup();
    await remembered(token, inbox);
    const other = (await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`, { token: account.adminToken })).body.token;
    const elsewhere = await send(other, inbox, { contact: { source_id: "c-3", name: "Cy" }, content: "one" });
    expect(elsewhere.status, elsewhere.text).toBe(201);
    const before = await rows(account);
    const fresh = await sendFresh(token, inbox, { contact: { source_id: "c-3" }, content: "two" });
    expect([fresh.res.status, fresh.callerServed]).toEqual([201, 1]);
    expect(fresh.res.body.contact).toEqual(elsewhere.body.contact);
    expect([fresh.res.body.conversation.id, fresh.res.body.message.seq]).toEqual([elsewhere.body.conversation.id, 2]);
    expect(await rows(account)).toEqual({ ...before, messages: before.messages + 1, events: before.events + 1 });
  });

  it("answers 401 to a revoked token and 404 to an agent removed from the inbox or a deleted inbox, writing nothing", async () => {
    const { account, inbox, token, tokenId } = await setup();
    const agent = await createTestUser(account);
    await setMembers(account, inbox, [agent.id]);
    await remembered(token, inbox);
    await remembered(agent.token, inbox, "c-agent");
    await remembered(account.adminToken, inbox, "c-admin");
    const before = await rows(account);
    const revoked = await api("DELETE", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens/${tokenId}`, { token: account.adminToken });
    expect(revoked.status, revoked.text).toBeLessThan(300);
    // An invalid body too: the caller is checked first, as without a cache.
    const invalid = await sendFresh(token, inbox, { contact: { source_id: "n-1" }, content: "" });
    expectProblem(invalid.res, 401, "invalid_token");
    expect([invalid.callerServed, invalid.fellBack]).toEqual([0, 1]);
    expectProblem((await sendFresh(token, inbox, { contact: { source_id: "n-2" }, content: "x" })).res, 401, "invalid_token");
    await setMembers(account, inbox, []);
    const removed = await sendFresh(agent.token, inbox, { contact: { source_id: "n-3" }, content: "x" });
    expectProblem(removed.res, 404, "inbox_not_found");
    expect([removed.callerServed, removed.fellBack]).toEqual([0, 1]);
    const deleted = await api("DELETE", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}`, { token: account.adminToken });
    expect(deleted.status, deleted.text).toBeLessThan(300);
    const afterDelete = await rows(account);
    expectProblem((await sendFresh(account.adminToken, inbox, { contact: { source_id: "n-4" }, content: "x" })).res, 404, "inbox_not_found");
    expect(await rows(account)).toEqual(afterDelete);
    expect(afterDelete.messages).toBe(before.messages);
    expect(afterDelete.contacts).toBe(before.contacts);
  });

  it("takes the slow path, writing nothing first, once the inbox's lock to a single conversation changed", async () => {
    const { account, inbox, token } = await setup();
    await remembered(token, inbox);
    const changed = await api("PATCH", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}`, { token: account.adminToken, body: { lock_to_single_conversation: false } });
    expect(changed.status, changed.text).toBe(200);
    const before = await rows(account);
    const fresh = await sendFresh(token, inbox, { contact: { source_id: "l-1" }, content: "x" });
    expect([fresh.res.status, fresh.callerServed, fresh.fellBack]).toEqual([201, 0, 1]);
    const [opened] = (await allShards.prepare("SELECT single_open_key FROM conversations WHERE id = ?").bind(fresh.res.body.conversation.id).all()).results;
    expect(opened).toEqual({ single_open_key: null });
    expect(await rows(account)).toEqual({ messages: before.messages + 1, events: before.events + 3, contacts: before.contacts + 1, conversations: before.conversations + 1 });
  });

  it("takes the slow path for what it does not serve: a key, a thread, an identifier", async () => {
    const { inbox, token } = await setup();
    await remembered(token, inbox);
    const threaded = await sendFresh(token, inbox, { contact: { source_id: "t-1" }, conversation: { source_id: "thread" }, content: "x" });
    expect([threaded.res.status, threaded.callerServed, threaded.fellBack]).toEqual([201, 0, 1]);
    const identified = await sendFresh(token, inbox, { contact: { source_id: "t-2", identifier: "person" }, content: "x" });
    expect([identified.res.status, identified.callerServed]).toEqual([201, 0]);
    const keyed = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body: { contact: { source_id: "t-3" }, content: "k" }, headers: { "idempotency-key": unique("k") } });
    expect(keyed.status, keyed.text).toBe(201);
  });
});
