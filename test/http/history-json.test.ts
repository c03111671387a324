import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { listMessages, listMessagesJson } from "../../src/domain/messages";
import { api, createTestAccount, expectProblem } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";

// History pages are serialised from the stored rows without building message objects
// (src/domain/messages.ts listMessagesJson). They must be exactly what JSON.stringify makes of the
// objects listMessages builds — the answer the route gave before.
describe("history pages serialised from the rows", () => {
  it("are byte for byte JSON.stringify(listMessages(…)), private notes, attributes, attachments, nulls and escapes included", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    const first = await sendMessage(token, inbox, {
      contact: { source_id: "json-1" },
      content: 'quotes " backslash \\ newline \n tab \t control \u0001 \u001f unicode é 😀 \u2028 slash /',
      source_id: "src-1",
      content_attributes: { nested: { list: [1, 2.5, true, null, "x"] }, empty: {} },
      attachments: [{ url: "https://files.example.com/a.png", file_type: "image", name: "a.png" }],
    });
    const conversationId = first.conversation.id;
    await sendMessage(token, inbox, { contact: { source_id: "json-1" }, content: "plain" });
    const reply = await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/messages`, {
      token: account.adminToken,
      body: { content: "a private note", private: true },
    });
    expect(reply.status, reply.text).toBe(201);
    for (const includePrivate of [false, true]) {
      for (const options of [{ limit: 100 }, { limit: 1 }, { limit: 1, afterSeq: 1 }, { limit: 2 }, { limit: 3 }, { limit: 100, afterSeq: 50 }]) {
        const expected = JSON.stringify(await listMessages(env, conversationId, { ...options, includePrivate }));
        expect(await listMessagesJson(env, conversationId, { ...options, includePrivate })).toBe(expected);
        expect(await listMessagesJson(env, conversationId, { ...options, includePrivate, inboxId: inbox.id })).toBe(expected);
      }
    }
    const page = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages?limit=1`, { token });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("application/json");
    expect(page.text).toBe(JSON.stringify(await listMessages(env, conversationId, { limit: 1, includePrivate: false })));
    // Checked against the inbox in the same round trip: another inbox's history is a 404.
    const other = await createTestInbox(account);
    const otherToken = await createInboxToken(account, other);
    expectProblem(await api("GET", `/v1/inboxes/${other.identifier}/conversations/${conversationId}/messages`, { token: otherToken }), 404, "conversation_not_found");
    const next = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages?limit=1&cursor=${page.body.next_cursor}`, { token });
    expect(next.body.data[0].seq).toBe(2);
  });
});
