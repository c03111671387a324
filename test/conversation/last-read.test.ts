import { describe, expect, it } from "vitest";
import { conversationObject } from "../../src/conversation/stub";
import type { ConversationRow } from "../../src/conversation/resources";
import { api, createTestAccount } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { allShards, shardBindings } from "../support/shards";

// A cold conversation object starts from the row its caller just read (`lastRead`, src/conversation/object.ts).
// That row can be older than D1 — the object committed after the caller read it and then restarted — and
// the unique (conversation, seq) and (conversation, sequence) indexes must catch it: the object re-reads
// D1 and the message still gets the next seq, gap-free, nothing lost.
describe("a cold conversation object handed a stale row", () => {
  it("re-reads D1 when the commit clashes and appends with the next seq", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    const first = await sendMessage(token, inbox, { contact: { source_id: "stale-1" }, content: "one" });
    const conversationId = first.conversation.id;
    const stale = (await allShards.prepare("SELECT * FROM conversations WHERE id = ?").bind(conversationId).first())!;
    await sendMessage(token, inbox, { contact: { source_id: "stale-1" }, content: "two" });
    await sendMessage(token, inbox, { contact: { source_id: "stale-1" }, content: "three" });

    const object = conversationObject(await shardBindings(account.accountId), conversationId);
    await object.reset(); // the object forgets: its next call starts cold
    const lastRead: ConversationRow = {
      id: stale.id as string,
      accountId: stale.account_id as string,
      inboxId: stale.inbox_id as string,
      contactId: stale.contact_id as string,
      contactInboxId: stale.contact_inbox_id as string,
      sourceId: stale.source_id as string | null,
      status: stale.status as ConversationRow["status"],
      assigneeId: stale.assignee_id as string | null,
      labels: JSON.parse(stale.labels as string),
      customAttributes: JSON.parse(stale.custom_attributes as string),
      snoozedUntil: stale.snoozed_until as number | null,
      singleOpenKey: stale.single_open_key as string | null,
      lastSeq: stale.last_seq as number,
      lastEventSequence: stale.last_event_sequence as number,
      lastActivityAt: stale.last_activity_at as number,
      createdAt: stale.created_at as number,
      updatedAt: stale.updated_at as number,
    };
    expect(lastRead.lastSeq).toBe(1);
    const outcome = await object.appendMessage({
      conversationId,
      message: {
        messageType: "incoming",
        content: "four",
        contentAttributes: {},
        attachments: [],
        private: false,
        sender: { type: "contact", id: first.contact.id },
        sourceId: null,
      },
      contact: first.contact as never,
      origin: { type: "system", id: null },
      reopen: true,
      lastRead,
    });
    expect(outcome.kind).toBe("created");
    expect((outcome as { message: { seq: number } }).message.seq).toBe(4);

    const history = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages`, { token });
    expect(history.body.data.map((message: { seq: number; content: string }) => [message.seq, message.content])).toEqual([
      [1, "one"],
      [2, "two"],
      [3, "three"],
      [4, "four"],
    ]);
    const sequences = await allShards.prepare("SELECT sequence FROM events WHERE conversation_id = ? ORDER BY sequence").bind(conversationId).all<{ sequence: number }>();
    const seen = sequences.results.map((row) => row.sequence);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
  });
});
