import { describe, expect, it } from "vitest";
import { identifierHash } from "../../src/domain/identity";
import { faults } from "../../src/faults";
import { api, createTestAccount, createTestUser, expectProblem, unique } from "../support/api";
import { count, createInboxToken, createTestInbox, sendMessage, setMembers } from "../support/fixtures";
import { allShards } from "../support/shards";

async function setup(options: { lockToSingleConversation?: boolean } = {}) {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account, options);
  const token = await createInboxToken(account, inbox);
  const base = `/v1/inboxes/${inbox.identifier}`;
  return { account, inbox, token, base };
}

describe("contacts", () => {
  it("creates (201) then updates (200) the contact behind a source id, merging custom attributes", async () => {
    const { token, base } = await setup();
    const created = await api("PUT", `${base}/contacts/user-1`, { token, body: { name: "Maria", custom_attributes: { plan: "free" } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ source_id: "user-1", name: "Maria", custom_attributes: { plan: "free" } });
    const updated = await api("PUT", `${base}/contacts/user-1`, { token, body: { email: "maria@example.com", custom_attributes: { tier: 2 } } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: created.body.id, name: "Maria", email: "maria@example.com", custom_attributes: { plan: "free", tier: 2 } });
    const read = await api("GET", `${base}/contacts/user-1`, { token });
    expect(read.body).toEqual(updated.body);
  });

  it("writes contact_created and contact_updated events, and no event when nothing changed", async () => {
    const { token, base, inbox } = await setup();
    await api("PUT", `${base}/contacts/evt-1`, { token, body: { name: "A" } });
    await api("PUT", `${base}/contacts/evt-1`, { token, body: { name: "A" } });
    await api("PUT", `${base}/contacts/evt-1`, { token, body: { name: "B" } });
    const rows = await allShards.prepare("SELECT type, data FROM events WHERE inbox_id = ? ORDER BY position").bind(inbox.id).all<{ type: string; data: string }>();
    expect(rows.results.map((row) => row.type)).toEqual(["contact_created", "contact_updated"]);
    expect(JSON.parse(rows.results[1]!.data)).toMatchObject({ contact: { name: "B" }, changed_attributes: ["name"] });
  });

  it("links the same identifier across inboxes of the account, and refuses taking another contact's identifier", async () => {
    const { account, inbox, token, base } = await setup();
    const other = await createTestInbox(account);
    const otherToken = await createInboxToken(account, other);
    // Linking across inboxes needs proof of the identifier (issue 19): each inbox signs it with its identity secret.
    const proof = async (inboxId: string, identifier: string) => {
      const res = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inboxId}/identity`, { token: account.adminToken });
      return identifierHash(res.body.identity_secret, identifier);
    };
    const first = await api("PUT", `${base}/contacts/a-1`, { token, body: { identifier: "person-7", identifier_hash: await proof(inbox.id, "person-7"), name: "P" } });
    const second = await api("PUT", `/v1/inboxes/${other.identifier}/contacts/b-9`, {
      token: otherToken,
      body: { identifier: "person-7", identifier_hash: await proof(other.id, "person-7") },
    });
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.source_id).toBe("b-9");
    await api("PUT", `${base}/contacts/a-2`, { token, body: { identifier: "person-8" } });
    expectProblem(
      await api("PUT", `${base}/contacts/a-2`, { token, body: { identifier: "person-7", identifier_hash: await proof(inbox.id, "person-7") } }),
      409,
      "identifier_taken",
    );
  });

  it("creates one contact when 20 upserts of a new source id race", async () => {
    const { token, base, account } = await setup();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api("PUT", `${base}/contacts/racer`, { token, body: { custom_attributes: { [`k${i}`]: i } } })),
    );
    expect(responses.filter((res) => res.status === 201)).toHaveLength(1);
    expect(responses.every((res) => res.status === 200 || res.status === 201)).toBe(true);
    expect(new Set(responses.map((res) => res.body.id)).size).toBe(1);
    expect(await count("SELECT count(*) AS n FROM contacts WHERE account_id = ?", account.accountId)).toBe(1);
  });

  it("rejects bad contact input naming the field, writing nothing", async () => {
    const { token, base, account } = await setup();
    const bad = await api("PUT", `${base}/contacts/x`, { token, body: { email: "nope", colour: "red" } });
    expectProblem(bad, 422, "validation_failed");
    expect(bad.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(expect.arrayContaining(["/email"]));
    expectProblem(await api("PUT", `${base}/contacts/has%20space`, { token, body: {} }), 422, "validation_failed");
    expect(await count("SELECT count(*) AS n FROM contacts WHERE account_id = ?", account.accountId)).toBe(0);
  });
});

describe("conversations", () => {
  it("finds or creates by the integrator's thread source_id", async () => {
    const { token, base } = await setup();
    await api("PUT", `${base}/contacts/c-1`, { token, body: {} });
    const first = await api("POST", `${base}/contacts/c-1/conversations`, { token, body: { source_id: "thread-1" } });
    const again = await api("POST", `${base}/contacts/c-1/conversations`, { token, body: { source_id: "thread-1" } });
    const other = await api("POST", `${base}/contacts/c-1/conversations`, { token, body: { source_id: "thread-2" } });
    expect([first.status, again.status, other.status]).toEqual([201, 200, 201]);
    expect(again.body.id).toBe(first.body.id);
    expect(other.body.id).not.toBe(first.body.id);
    const list = await api("GET", `${base}/contacts/c-1/conversations`, { token });
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([other.body.id, first.body.id]);
    // Another contact cannot take over the thread id.
    await api("PUT", `${base}/contacts/c-2`, { token, body: {} });
    expectProblem(await api("POST", `${base}/contacts/c-2/conversations`, { token, body: { source_id: "thread-1" } }), 409, "invalid_state");
  });

  it("with lock_to_single_conversation returns the open conversation, even to concurrent requests", async () => {
    const { token, base } = await setup({ lockToSingleConversation: true });
    await api("PUT", `${base}/contacts/solo`, { token, body: {} });
    const responses = await Promise.all(Array.from({ length: 10 }, () => api("POST", `${base}/contacts/solo/conversations`, { token, body: {} })));
    expect(responses.filter((res) => res.status === 201)).toHaveLength(1);
    expect(new Set(responses.map((res) => res.body.id)).size).toBe(1);
  });

  it("without the lock opens a new conversation each time", async () => {
    const { token, base } = await setup({ lockToSingleConversation: false });
    await api("PUT", `${base}/contacts/multi`, { token, body: {} });
    const a = await api("POST", `${base}/contacts/multi/conversations`, { token, body: {} });
    const b = await api("POST", `${base}/contacts/multi/conversations`, { token, body: {} });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.id).not.toBe(b.body.id);
  });

  it("answers an unknown contact with 404 naming its source id", async () => {
    const { token, base } = await setup();
    const res = await api("POST", `${base}/contacts/ghost/conversations`, { token, body: {} });
    expectProblem(res, 404, "contact_not_found");
    expect(res.body.detail).toContain("ghost");
  });
});

describe("messages", () => {
  it("appends incoming messages with gap-free seq and returns the history in order", async () => {
    const { token, base } = await setup();
    const first = await sendMessage(token, { identifier: base.split("/")[3]! } as never, { contact: { source_id: "h-1" }, content: "one" });
    const conversationId = first.conversation.id;
    for (const content of ["two", "three"]) {
      const res = await api("POST", `${base}/conversations/${conversationId}/messages`, { token, body: { content } });
      expect(res.status).toBe(201);
    }
    const history = await api("GET", `${base}/conversations/${conversationId}/messages?limit=2`, { token });
    expect(history.body.data.map((m: { seq: number; content: string }) => [m.seq, m.content])).toEqual([[1, "one"], [2, "two"]]);
    const rest = await api("GET", `${base}/conversations/${conversationId}/messages?cursor=${history.body.next_cursor}`, { token });
    expect(rest.body.data.map((m: { seq: number }) => m.seq)).toEqual([3]);
    expect(rest.body.next_cursor).toBeNull();
    const after = await api("GET", `${base}/conversations/${conversationId}/messages?after_seq=1`, { token });
    expect(after.body.data.map((m: { seq: number }) => m.seq)).toEqual([2, 3]);
    expect(after.body.data[0]).toMatchObject({ message_type: "incoming", sender: { type: "contact", id: first.contact.id }, status: "sent" });
  });

  it("dedupes by message source_id forever, with or without a key (200 with the stored message)", async () => {
    const { token, base, inbox } = await setup();
    const first = await api("POST", `${base}/messages`, { token, body: { contact: { source_id: "d-1" }, content: "hi", source_id: "m-1" } });
    expect(first.status).toBe(201);
    const again = await api("POST", `${base}/messages`, { token, body: { contact: { source_id: "d-1" }, content: "hi (edited)", source_id: "m-1" } });
    expect(again.status).toBe(200);
    expect(again.body.message).toEqual(first.body.message);
    const direct = await api("POST", `${base}/conversations/${first.body.conversation.id}/messages`, { token, body: { content: "x", source_id: "m-1" } });
    expect(direct.status).toBe(200);
    expect(direct.body.id).toBe(first.body.message.id);
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ?", inbox.id)).toBe(1);
  });

  it("serialises 50 concurrent identical requests with one Idempotency-Key into one message and one answer", async () => {
    const { token, base, inbox } = await setup();
    const key = unique("idem");
    const body = { contact: { source_id: "storm" }, content: "same" };
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => api("POST", `${base}/messages`, { token, body, headers: { "idempotency-key": key } })),
    );
    expect(new Set(responses.map((res) => res.status))).toEqual(new Set([201]));
    expect(new Set(responses.map((res) => res.text)).size).toBe(1);
    expect(responses.filter((res) => res.headers.get("idempotent-replayed") === "true")).toHaveLength(49);
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ?", inbox.id)).toBe(1);
    const reused = await api("POST", `${base}/messages`, { token, body: { ...body, content: "different" }, headers: { "idempotency-key": key } });
    expectProblem(reused, 422, "idempotency_key_reused");
  });

  it("creates one contact, one conversation and 20 gap-free messages when 20 first messages race", async () => {
    const { token, base, account, inbox } = await setup();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api("POST", `${base}/messages`, { token, body: { contact: { source_id: "new-person" }, content: `m${i}` } })),
    );
    expect(responses.every((res) => res.status === 201)).toBe(true);
    expect(await count("SELECT count(*) AS n FROM contacts WHERE account_id = ?", account.accountId)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM conversations WHERE inbox_id = ?", inbox.id)).toBe(1);
    const seqs = responses.map((res) => res.body.message.seq).sort((a: number, b: number) => a - b);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("keeps 100 concurrent messages into one conversation gap-free, history order = seq, events in the same order", async () => {
    const { token, base } = await setup();
    const { conversation } = await sendMessage(token, { identifier: base.split("/")[3]! } as never, { contact: { source_id: "hot" }, content: "start" });
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => api("POST", `${base}/conversations/${conversation.id}/messages`, { token, body: { content: `n${i}` } })),
    );
    expect(responses.every((res) => res.status === 201)).toBe(true);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { seq: number }[]; next_cursor: string | null } } = await api(
        "GET",
        `${base}/conversations/${conversation.id}/messages?limit=100${cursor ? `&cursor=${cursor}` : ""}`,
        { token },
      );
      seen.push(...page.body.data.map((m) => m.seq));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    const events = await allShards.prepare("SELECT sequence, data FROM events WHERE conversation_id = ? AND type = 'message_created' ORDER BY sequence")
      .bind(conversation.id)
      .all<{ sequence: number; data: string }>();
    const messageSeqs = events.results.map((row) => JSON.parse(row.data).message.seq);
    expect(messageSeqs).toEqual(seen);
    const sequences = events.results.map((row) => row.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  });

  it("rejects empty, oversized and badly attached messages naming the field, writing nothing", async () => {
    const { token, base, inbox } = await setup();
    const { conversation } = await sendMessage(token, { identifier: base.split("/")[3]! } as never, { contact: { source_id: "v" }, content: "ok" });
    const path = `${base}/conversations/${conversation.id}/messages`;
    const cases: Array<[unknown, string]> = [
      [{ content: "   " }, "/content"],
      [{}, "/content"],
      [{ content: "x".repeat(150_001) }, "/content"],
      [{ content: "x", attachments: [{ url: "ftp://example.com/a.png", file_type: "image" }] }, "/attachments/0/url"],
      [{ content: "x", attachments: [{ url: "https://example.com/a.png", file_type: "hologram" }] }, "/attachments/0/file_type"],
      [{ content: 42 }, "/content"],
    ];
    for (const [body, pointer] of cases) {
      const res = await api("POST", path, { token, body });
      expectProblem(res, 422, "validation_failed");
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer);
    }
    const attached = await api("POST", path, { token, body: { attachments: [{ url: "https://example.com/a.png", file_type: "image" }] } });
    expect(attached.status).toBe(201);
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ?", inbox.id)).toBe(2);
  });

  it("answers 503 when D1 fails mid-write, writes nothing, and a retry succeeds with gap-free seq", async () => {
    const { token, base, inbox } = await setup();
    const { conversation } = await sendMessage(token, { identifier: base.split("/")[3]! } as never, { contact: { source_id: "f" }, content: "1" });
    faults.arm("conversation.commit");
    const failed = await api("POST", `${base}/conversations/${conversation.id}/messages`, { token, body: { content: "2" } });
    expectProblem(failed, 503, "storage_unavailable");
    expect(failed.headers.get("retry-after")).toBe("1");
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ?", inbox.id)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM events WHERE conversation_id = ? AND type = 'message_created'", conversation.id)).toBe(1);
    const retried = await api("POST", `${base}/conversations/${conversation.id}/messages`, { token, body: { content: "2" } });
    expect(retried.status).toBe(201);
    expect(retried.body.seq).toBe(2);
  });

  it("accepts delivery receipts only for outgoing replies", async () => {
    const { token, base } = await setup();
    const { message } = await sendMessage(token, { identifier: base.split("/")[3]! } as never, { contact: { source_id: "r" }, content: "hi" });
    const res = await api("POST", `${base}/messages/${message.id}/status`, { token, body: { status: "read" } });
    expectProblem(res, 409, "invalid_state");
    expectProblem(await api("POST", `${base}/messages/msg_NOPE/status`, { token, body: { status: "read" } }), 404, "message_not_found");
  });
});

describe("access to the integrator API", () => {
  it("answers an unknown identifier with 404 naming it", async () => {
    const { token } = await setup();
    const res = await api("POST", "/v1/inboxes/not-an-inbox/messages", { token, body: { contact: { source_id: "x" }, content: "hi" } });
    expectProblem(res, 404, "inbox_not_found");
    expect(res.body.detail).toContain("not-an-inbox");
  });

  it("treats another account's token and another inbox's token exactly like an unknown identifier", async () => {
    const { account, base, inbox } = await setup();
    const stranger = await createTestAccount();
    const otherInbox = await createTestInbox(account);
    const otherToken = await createInboxToken(account, otherInbox);
    const body = { contact: { source_id: "x" }, content: "hi" };
    expectProblem(await api("POST", `${base}/messages`, { token: stranger.adminToken, body }), 404, "inbox_not_found");
    expectProblem(await api("POST", `${base}/messages`, { token: otherToken, body }), 404, "inbox_not_found");
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ?", inbox.id)).toBe(0);
  });

  it("lets administrators and member agents in, and keeps non-member agents out", async () => {
    const { account, base, inbox } = await setup();
    const member = await createTestUser(account, "agent");
    const outsider = await createTestUser(account, "agent");
    await setMembers(account, inbox, [member.id]);
    const body = { contact: { source_id: "x" }, content: "hi" };
    expect((await api("POST", `${base}/messages`, { token: account.adminToken, body })).status).toBe(201);
    expect((await api("GET", `${base}/contacts/x`, { token: member.token })).status).toBe(200);
    expectProblem(await api("GET", `${base}/contacts/x`, { token: outsider.token }), 404, "inbox_not_found");
  });

  it("refuses a conversation id of another inbox as not found", async () => {
    const { account, token, base } = await setup();
    const other = await createTestInbox(account);
    const otherToken = await createInboxToken(account, other);
    const elsewhere = await sendMessage(otherToken, other, { contact: { source_id: "y" }, content: "hi" });
    const res = await api("POST", `${base}/conversations/${elsewhere.conversation.id}/messages`, { token, body: { content: "sneaky" } });
    expectProblem(res, 404, "conversation_not_found");
    expect(res.body.detail).toContain(elsewhere.conversation.id);
  });
});

describe("the conversation object failing", () => {
  it("fails cleanly when reset after writing, and a retry with the same key returns that message instead of a second", async () => {
    const { token, base, inbox } = await setup();
    const { conversation } = await sendMessage(token, { identifier: base.split("/")[3]! } as never, { contact: { source_id: "reset" }, content: "1" });
    faults.arm("conversation.reset_after_commit");
    const path = `${base}/conversations/${conversation.id}/messages`;
    const failed = await api("POST", path, { token, body: { content: "2" }, headers: { "idempotency-key": "reset-key" } });
    expectProblem(failed, 503, "outcome_unknown");
    const retried = await api("POST", path, { token, body: { content: "2" }, headers: { "idempotency-key": "reset-key" } });
    expect([200, 201]).toContain(retried.status);
    expect(retried.body.seq).toBe(2);
    const next = await api("POST", path, { token, body: { content: "3" } });
    expect(next.body.seq).toBe(3);
    expect(await count("SELECT count(*) AS n FROM messages WHERE inbox_id = ?", inbox.id)).toBe(3);
  });

  it("recovers from a reset without a key: the next message continues the seq without a gap", async () => {
    const { token, base } = await setup();
    const { conversation } = await sendMessage(token, { identifier: base.split("/")[3]! } as never, { contact: { source_id: "reset2" }, content: "1" });
    faults.arm("conversation.reset_after_commit");
    const path = `${base}/conversations/${conversation.id}/messages`;
    expectProblem(await api("POST", path, { token, body: { content: "2" } }), 503, "outcome_unknown");
    const next = await api("POST", path, { token, body: { content: "3" } });
    expect(next.status).toBe(201);
    const history = await api("GET", path, { token });
    expect(history.body.data.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
  });
});

describe("malformed integrator URLs", () => {
  it("answers a malformed %-encoded inbox identifier with 404, not a 500", async () => {
    const { token } = await setup();
    const res = await api("GET", "/v1/inboxes/%E0%A4%A/contacts/x", { token });
    expectProblem(res, 404, "inbox_not_found");
  });
});
