// What agents do with conversations through the API: list and read them, and change them with the
// commands automation rules use too (conversation/commands.ts), which go through the conversation's object.
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { memberInboxCondition, requireVisibleConversation, type UserViewer, type Viewer } from "../conversation/access";
import type { Actor } from "../conversation/protocol";
import { toContact, toConversation, toMessage } from "../conversation/resources";
import { beyondKey, decodeCursor, encodeCursor } from "../core/pagination";
import { database } from "../db/client";
import { postAgentMessage as postMessage } from "../conversation/commands";
import type { AgentMessageInput, Dedupe } from "../conversation/commands";
import { contactInboxes, contacts, conversations, labels, messages, users, type Attachment, type ConversationStatus } from "../db/schema";
import { resolveAttachments, withDataUrls } from "./attachments";
import type { Bindings } from "../env";
import { conversationsMatching } from "./search";

// The routes reach the commands and the visibility check through the domain.
export { requireVisibleConversation, type UserViewer, type Viewer };
export { assignConversation, changeConversationStatus, deleteMessage, editConversationLabels, labelConversation } from "../conversation/commands";

/** A reply or private note, with the account's uploads it references (attachment_ids) as its files. */
export async function postAgentMessage(
  env: Bindings,
  viewer: UserViewer,
  actor: Actor,
  conversationId: string,
  input: Omit<AgentMessageInput, "attachments"> & { attachment_ids?: string[] },
  dedupe: Dedupe,
) {
  const { attachment_ids, ...fields } = input;
  let attachments: Attachment[] = [];
  if (attachment_ids && attachment_ids.length > 0) {
    // Uses are recorded only for a conversation the agent may see.
    await requireVisibleConversation(env, viewer, conversationId);
    attachments = await resolveAttachments(env, { accountId: viewer.accountId, inboxId: null }, conversationId, { attachment_ids });
  }
  const appended = await postMessage(env, viewer, actor, conversationId, { ...fields, attachments }, dedupe);
  return { ...appended, message: await withDataUrls(env, appended.message) };
}

export async function actorFor(env: Bindings, viewer: UserViewer, origin: Actor["origin"]): Promise<Actor> {
  const user = await database(env).select({ name: users.name }).from(users).where(eq(users.id, viewer.userId)).get();
  return { origin, name: user?.name ?? "an agent", sender: { type: "user", id: viewer.userId } };
}

export type ConversationFilters = {
  status?: ConversationStatus;
  inbox_id?: string;
  /** One contact's conversations (the console's side panel). */
  contact_id?: string;
  assignee?: string;
  label?: string;
  /** Words that a message of the conversation contains (full-text search; private notes included). */
  q?: string;
  limit: number;
  cursor?: string;
};

/** Newest activity first, with the count per status of the same filters (ignoring status). */
export async function listConversations(env: Bindings, viewer: UserViewer, filters: ConversationFilters) {
  const db = database(env);
  const after = decodeCursor(filters.cursor, { at: "number", id: "string" });
  const assignee =
    filters.assignee === undefined
      ? undefined
      : filters.assignee === "unassigned"
        ? isNull(conversations.assigneeId)
        : eq(conversations.assigneeId, filters.assignee === "me" ? viewer.userId : filters.assignee);
  const common = and(
    eq(conversations.accountId, viewer.accountId),
    memberInboxCondition(viewer),
    filters.inbox_id ? eq(conversations.inboxId, filters.inbox_id) : undefined,
    filters.contact_id ? eq(conversations.contactId, filters.contact_id) : undefined,
    assignee,
    filters.label ? sql`EXISTS (SELECT 1 FROM json_each(${conversations.labels}) WHERE value = ${filters.label})` : undefined,
    filters.q ? sql`${conversations.id} IN (${conversationsMatching(viewer.accountId, filters.q)})` : undefined,
  );
  const [rows, counts] = await Promise.all([
    db
      // Who each conversation is with, in the same query: a list shows names, not ids.
      .select({
        conversation: conversations,
        contact: { id: contacts.id, source_id: contactInboxes.sourceId, name: contacts.name, email: contacts.email, phone: contacts.phone },
      })
      .from(conversations)
      .innerJoin(contacts, eq(contacts.id, conversations.contactId))
      .innerJoin(contactInboxes, eq(contactInboxes.id, conversations.contactInboxId))
      .where(
        and(
          common,
          filters.status ? eq(conversations.status, filters.status) : undefined,
          beyondKey(conversations.lastActivityAt, conversations.id, after && { time: after.at, id: after.id }, "desc"),
        ),
      )
      .orderBy(desc(conversations.lastActivityAt), desc(conversations.id))
      .limit(filters.limit + 1),
    db
      .select({ status: conversations.status, count: sql<number>`count(*)` })
      .from(conversations)
      .where(common)
      .groupBy(conversations.status),
  ]);
  const hasMore = rows.length > filters.limit;
  const data = hasMore ? rows.slice(0, filters.limit) : rows;
  const last = data[data.length - 1]?.conversation;
  const meta = { open: 0, pending: 0, snoozed: 0, resolved: 0, all: 0 };
  for (const row of counts) {
    meta[row.status] = row.count;
    meta.all += row.count;
  }
  return {
    data: data.map((row) => ({ ...toConversation(row.conversation), contact: row.contact })),
    next_cursor: hasMore && last ? encodeCursor({ at: last.lastActivityAt, id: last.id }) : null,
    meta: { counts: meta },
  };
}

/** A conversation with its contact, assignee and last message. */
export async function getConversationDetail(env: Bindings, viewer: Viewer, conversationId: string) {
  const row = await requireVisibleConversation(env, viewer, conversationId);
  const db = database(env);
  const [assignee, last] = await Promise.all([
    row.conversation.assigneeId
      ? db.select({ id: users.id, name: users.name, email: users.email }).from(users).where(eq(users.id, row.conversation.assigneeId)).get()
      : undefined,
    db.select().from(messages).where(eq(messages.conversationId, conversationId)).orderBy(desc(messages.seq)).limit(1).get(),
  ]);
  return {
    ...toConversation(row.conversation),
    inbox_deleted: row.inboxDeletedAt !== null,
    contact: toContact(row.contact, row.contactInbox.sourceId),
    assignee: assignee ?? null,
    last_message: last ? await withDataUrls(env, toMessage(last)) : null,
  };
}

export async function listLabels(env: Bindings, accountId: string) {
  const rows = await database(env).select().from(labels).where(eq(labels.accountId, accountId)).orderBy(labels.name);
  return { data: rows.map((row) => ({ name: row.name, created_at: new Date(row.createdAt).toISOString() })), next_cursor: null };
}
