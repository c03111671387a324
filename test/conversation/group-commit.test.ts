// Group commit (issue 15, row 2): appends that queue up behind a running commit of one conversation share
// the next D1 batch. Each still gets its own seq, events, deliveries and answer, in one order; a refusal
// that belongs to one of them falls back to one at a time; a failed batch reports none of them created.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ConversationObject } from "../../src/conversation/object";
import type { MessageDraft, MessageOutcome } from "../../src/conversation/protocol";
import { conversationObject } from "../../src/conversation/stub";
import { ingestCounters } from "../../src/domain/ingest-cache";
import { faults } from "../../src/faults";
import { api, createTestAccount, expectProblem, unique, type ApiResponse } from "../support/api";
import { count, createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards, shardBindings } from "../support/shards";

afterEach(() => {
  faults.disarm();
  vi.restoreAllMocks();
});

async function hotConversation(options: { webhook?: boolean } = {}) {
  const account = await createTestAccount();
  const webhookPath = options.webhook ? await receiverPath() : undefined;
  const inbox = await createTestInbox(account, webhookPath ? { webhookPath } : {});
  const token = await createInboxToken(account, inbox);
  const first = await sendMessage(token, inbox, { contact: { source_id: unique("hot") }, content: "start" });
  const conversationId: string = first.conversation.id;
  const post = (content: string, headers: Record<string, string> = {}) =>
    api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages`, { token, body: { content }, headers });
  return { account, inbox, token, first, conversationId, post, webhookPath };
}

/** The appends waiting in the conversation object for their turn (the next group). */
function waiting(conversationId: string) {
  const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(conversationId));
  return runInDurableObject(stub, (instance: ConversationObject) => (instance as unknown as { open?: unknown[] }).open?.length ?? 0);
}

/**
 * Holds the conversation's commits, starts `first` (its commit waits at the hold), then `rest`: they queue
 * up behind it. Returns once all of `rest` wait in one group; `release` lets the commits go.
 */
async function queueBehindACommit<T>(conversationId: string, first: () => Promise<T>, rest: Array<() => Promise<T>>) {
  const commits = faults.count("conversation.commit");
  const release = faults.hold("conversation.commit");
  const held = first();
  await expect.poll(commits).toBe(1);
  const queued = rest.map((call) => call());
  await expect.poll(() => waiting(conversationId)).toBe(rest.length);
  return { held, queued, commits, release };
}

describe("group commit: one hot conversation", () => {
  it("N concurrent appends: all 201, seq and sequences gap-free in one order, history = answers, one batch for the group", async () => {
    const { conversationId, post, token, inbox, webhookPath } = await hotConversation({ webhook: true });
    const { held, queued, commits, release } = await queueBehindACommit(
      conversationId,
      () => post("m0"),
      Array.from({ length: 24 }, (_, i) => () => post(`m${i + 1}`)),
    );
    release();
    const responses = [await held, ...(await Promise.all(queued))];
    for (const response of responses) expect(response.status, response.text).toBe(201);
    // The held message's commit, then one for the 24 that queued behind it.
    expect(commits()).toBe(2);

    const answers = responses.map((response) => response.body).sort((a, b) => a.seq - b.seq);
    expect(answers.map((message) => message.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 2));
    const history = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages?limit=100`, { token });
    expect(history.status, history.text).toBe(200);
    const listed = history.body.data.filter((message: { seq: number }) => message.seq > 1);
    expect(listed.map((message: { id: string; seq: number; content: string }) => [message.id, message.seq, message.content])).toEqual(
      answers.map((message) => [message.id, message.seq, message.content]),
    );

    // Events: one message_created per message, sequences gap-free in seq order, each with its delivery.
    const events = await allShards
      .prepare("SELECT id, sequence, data FROM events WHERE conversation_id = ? AND type = 'message_created' ORDER BY sequence")
      .bind(conversationId)
      .all<{ id: string; sequence: number; data: string }>();
    const sequences = events.results.map((row) => row.sequence);
    expect(sequences).toEqual(Array.from({ length: 26 }, (_, i) => sequences[0]! + i));
    expect(events.results.map((row) => JSON.parse(row.data).message.seq)).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
    expect(await count("SELECT count(DISTINCT event_id) AS n FROM webhook_deliveries WHERE conversation_id = ? AND event_type = 'message_created'", conversationId)).toBe(26);
    // The webhook receives them in that order.
    const arrived = await waitForPayloads(webhookPath!, 26, "message_created");
    expect(arrived.map((payload) => payload.body.message.seq)).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
  });

  it("a repeated Idempotency-Key or source_id inside one group: exactly one message, both callers get it", async () => {
    const { account, conversationId, first } = await hotConversation();
    const object = conversationObject(await shardBindings(account.accountId), conversationId);
    const append = (content: string, extra: { sourceId?: string; key?: string } = {}) => () =>
      object.appendMessage({
        conversationId,
        message: { messageType: "incoming", content, contentAttributes: {}, attachments: [], private: false, sender: { type: "contact", id: first.contact.id }, sourceId: extra.sourceId ?? null } satisfies MessageDraft,
        contact: first.contact as never,
        origin: { type: "system", id: null },
        reopen: true,
        ...(extra.key ? { dedupe: { key: extra.key, fingerprint: "same-body" } } : {}),
      });
    const key = unique("key");
    const source = unique("src");
    const { held, queued, release } = await queueBehindACommit<MessageOutcome>(conversationId, append("m0"), [
      append("keyed", { key }),
      append("keyed", { key }),
      append("sourced", { sourceId: source }),
      append("sourced", { sourceId: source }),
      append("plain"),
    ]);
    release();
    await held;
    const [keyed, keyedAgain, sourced, sourcedAgain, plain] = await Promise.all(queued);
    expect([keyed!.kind, keyedAgain!.kind, sourced!.kind, sourcedAgain!.kind, plain!.kind]).toEqual(["created", "existing", "created", "existing", "created"]);
    const id = (outcome: MessageOutcome) => (outcome.kind === "created" || outcome.kind === "existing" ? outcome.message.id : outcome.kind);
    expect(id(keyedAgain!)).toBe(id(keyed!));
    expect(id(sourcedAgain!)).toBe(id(sourced!));
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ? AND request_key = ?", conversationId, key)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ? AND source_id = ?", conversationId, source)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", conversationId)).toBe(5);
  });

  it("a failed group commit reports none created and writes none; their retries create each once", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { conversationId, post } = await hotConversation();
    const keys = Array.from({ length: 5 }, () => unique("retry"));
    const { held, queued, release } = await queueBehindACommit(
      conversationId,
      () => post("m0"),
      keys.map((key, i) => () => post(`m${i + 1}`, { "idempotency-key": key })),
    );
    // The held commit passed the fault point already: the group's commit is the next one.
    faults.arm("conversation.commit");
    release();
    expect((await held).status).toBe(201);
    for (const failed of await Promise.all(queued)) expectProblem(failed, 503, "storage_unavailable");
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", conversationId)).toBe(2);

    const retried = await Promise.all(keys.map((key, i) => post(`m${i + 1}`, { "idempotency-key": key })));
    for (const response of retried) expect(response.status, response.text).toBe(201);
    expect(retried.map((response) => response.body.seq).sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7]);
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", conversationId)).toBe(7);
  });

  it("a group whose batch committed without an answer: every member 503 outcome_unknown, retries (again grouped) get theirs, nothing twice", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { conversationId, post } = await hotConversation();
    const keys = Array.from({ length: 6 }, () => unique("lost"));
    const send = (i: number) => () => post(`m${i}`, { "idempotency-key": keys[i]! });
    const first = await queueBehindACommit(conversationId, send(0), [1, 2, 3, 4, 5].map(send));
    // Both batches (the held one's and the group's) commit and lose their answer.
    faults.arm("d1.batch.answer_lost", 2);
    first.release();
    const lost: ApiResponse[] = [await first.held, ...(await Promise.all(first.queued))];
    for (const response of lost) expectProblem(response, 503, "outcome_unknown");
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", conversationId)).toBe(7);

    // The retries queue up as a group too: its batch clashes on their keys, so each is answered alone.
    const again = await queueBehindACommit(conversationId, send(0), [1, 2, 3, 4, 5].map(send));
    again.release();
    const retried = [await again.held, ...(await Promise.all(again.queued))];
    for (const response of retried) expect([200, 201], response.text).toContain(response.status);
    expect(retried.map((response) => response.body.content)).toEqual(keys.map((_, i) => `m${i}`));
    // The held retry alone, the group's batch (refused: the keys are taken), then each of the five alone.
    expect(again.commits()).toBe(7);
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", conversationId)).toBe(7);
  });
});

describe("group commit with the ingest cache's guarded appends", () => {
  it("guarded appends share a group; when the contact changes under a waiting group, each falls back and is answered as without a cache", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    const send = (content: string) => () => api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body: { contact: { source_id: "guarded" }, content } });
    // The slow path: it fills the isolate cache, so the next messages are guarded.
    const first = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body: { contact: { source_id: "guarded", name: "Ana" }, content: "one" } });
    expect(first.status, first.text).toBe(201);
    const conversationId: string = first.body.conversation.id;

    const before = { ...ingestCounters };
    const shared = await queueBehindACommit(conversationId, send("a0"), [1, 2, 3, 4, 5].map((i) => send(`a${i}`)));
    shared.release();
    const answers = [await shared.held, ...(await Promise.all(shared.queued))];
    for (const response of answers) expect(response.status, response.text).toBe(201);
    expect(shared.commits()).toBe(2);
    expect(ingestCounters.served - before.served).toBe(6);

    // An agent edits the contact while a group waits: every guard now fails (the batch writes nothing),
    // and each message takes the slow path — answered with the contact as edited.
    const edited = await queueBehindACommit(conversationId, send("b0"), [1, 2, 3, 4, 5].map((i) => send(`b${i}`)));
    const patched = await api("PATCH", `/v1/accounts/${account.accountId}/contacts/${first.body.contact.id}`, { token: account.adminToken, body: { name: "Carla" } });
    expect(patched.status, patched.text).toBe(200);
    edited.release();
    const after = [await edited.held, ...(await Promise.all(edited.queued))];
    expect(ingestCounters.fellBack - before.fellBack).toBe(6);
    for (const response of after) {
      expect(response.status, response.text).toBe(201);
      expect(response.body.contact.name).toBe("Carla");
    }
    const seqs = [...answers, ...after].map((response) => response.body.message.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", conversationId)).toBe(13);
  });
});
