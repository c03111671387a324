// What agents do with conversations — people through the API, bots, and automation rules alike: read,
// reply, note, assign, label, change status. Every change goes through the conversation's object.
import { and, desc, eq, isNull, sql, type SQL } from "drizzle-orm";
import { conversationObject } from "../conversation/stub";
import type { Actor, ConversationOutcome } from "../conversation/protocol";
import { database } from "../db/client";
import {
  contactInboxes,
  contacts,
  conversations,
  inboxes,
  inboxMembers,
  labels,
  messages,
  users,
  type ConversationStatus,
  type CustomAttributes,
  type Role,
} from "../db/schema";
import type { Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { toContact } from "./contacts";
import { toConversation, type Conversation } from "./conversations";
import { appendedOrThrow, type Dedupe } from "./incoming";
import { toMessage } from "./messages";
import { beyondKey, decodeCursor, encodeCursor } from "./pagination";
import { conversationsMatching } from "./search";

/** A person (or bot) with a user token. */
export type UserViewer = { kind: "user"; accountId: string; userId: string; role: Role };
/** Who is looking: a user, or an automation rule, which sees its whole account like an administrator. */
export type Viewer = UserViewer | { kind: "automation"; accountId: string };

/** Agents see the inboxes they are members of; administrators and automations see all. */
function memberInboxCondition(viewer: Viewer): SQL | undefined {
  if (viewer.kind === "automation" || viewer.role === "administrator") return undefined;
  return sql`${conversations.inboxId} IN (SELECT inbox_id FROM inbox_members WHERE user_id = ${viewer.userId} AND account_id = ${viewer.accountId})`;
}

/** The conversation if this viewer may see it — another inbox's is the same 404 as a missing one. */
export async function requireVisibleConversation(env: Bindings, viewer: Viewer, conversationId: string) {
  const row = await database(env)
    .select({ conversation: conversations, contact: contacts, contactInbox: contactInboxes, inboxDeletedAt: inboxes.deletedAt })
    .from(conversations)
    .innerJoin(contacts, eq(contacts.id, conversations.contactId))
    .innerJoin(contactInboxes, eq(contactInboxes.id, conversations.contactInboxId))
    .innerJoin(inboxes, eq(inboxes.id, conversations.inboxId))
    .where(and(eq(conversations.accountId, viewer.accountId), eq(conversations.id, conversationId), memberInboxCondition(viewer)))
    .get();
  if (!row) throw notFound("conversation_not_found", "conversation", conversationId);
  return row;
}

/** Writes need a live inbox: a deleted inbox's conversations stay readable but frozen. */
async function requireWritableConversation(env: Bindings, viewer: Viewer, conversationId: string) {
  const row = await requireVisibleConversation(env, viewer, conversationId);
  if (row.inboxDeletedAt !== null) {
    throw new ApiError("inbox_deleted", `Conversation '${conversationId}' belongs to a deleted inbox; it can be read but not changed.`);
  }
  return row;
}

export async function actorFor(env: Bindings, viewer: UserViewer, origin: Actor["origin"]): Promise<Actor> {
  const user = await database(env).select({ name: users.name }).from(users).where(eq(users.id, viewer.userId)).get();
  return { origin, name: user?.name ?? "an agent", sender: { type: "user", id: viewer.userId } };
}

export type ConversationFilters = {
  status?: ConversationStatus;
  inbox_id?: string;
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
    assignee,
    filters.label ? sql`EXISTS (SELECT 1 FROM json_each(${conversations.labels}) WHERE value = ${filters.label})` : undefined,
    filters.q ? sql`${conversations.id} IN (${conversationsMatching(viewer.accountId, filters.q)})` : undefined,
  );
  const [rows, counts] = await Promise.all([
    db
      .select()
      .from(conversations)
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
  const last = data[data.length - 1];
  const meta = { open: 0, pending: 0, snoozed: 0, resolved: 0, all: 0 };
  for (const row of counts) {
    meta[row.status] = row.count;
    meta.all += row.count;
  }
  return {
    data: data.map(toConversation),
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
    last_message: last ? toMessage(last) : null,
  };
}

function conversationOrThrow(outcome: ConversationOutcome, conversationId: string): Conversation {
  if (outcome.kind === "not_found") throw notFound("conversation_not_found", "conversation", conversationId);
  if (outcome.kind === "conflict") throw new ApiError("invalid_state", outcome.detail);
  return outcome.conversation;
}

/** An outgoing reply (reaches the integrator's webhook) or a private note (never leaves the platform). */
export async function postAgentMessage(
  env: Bindings,
  viewer: Viewer,
  actor: Actor,
  conversationId: string,
  input: { content: string; private?: boolean; content_attributes?: CustomAttributes & { in_reply_to?: string } },
  dedupe: Dedupe,
) {
  const row = await requireWritableConversation(env, viewer, conversationId);
  const inReplyTo = input.content_attributes?.in_reply_to;
  if (inReplyTo !== undefined) {
    const target = await database(env)
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), eq(messages.id, inReplyTo)))
      .get();
    if (!target) {
      throw new ApiError("validation_failed", `content_attributes.in_reply_to: no message '${inReplyTo}' in this conversation.`, {
        errors: [{ location: "body", pointer: "/content_attributes/in_reply_to", detail: "unknown message id" }],
      });
    }
  }
  const outcome = await conversationObject(env, conversationId).appendMessage({
    conversationId,
    message: {
      messageType: "outgoing",
      content: input.content,
      contentAttributes: input.content_attributes ?? {},
      attachments: [],
      private: input.private ?? false,
      sender: actor.sender,
      sourceId: null,
    },
    contact: toContact(row.contact, row.contactInbox.sourceId),
    origin: actor.origin,
    reopen: false,
    dedupe,
  });
  return appendedOrThrow(outcome, conversationId);
}

/** `onlyIfUnassigned`: leave a conversation someone already took alone (auto-assignment). */
export async function assignConversation(
  env: Bindings,
  viewer: Viewer,
  actor: Actor,
  conversationId: string,
  assigneeId: string | null,
  options: { onlyIfUnassigned?: boolean } = {},
) {
  const row = await requireWritableConversation(env, viewer, conversationId);
  let assignee: { id: string; name: string } | null = null;
  if (assigneeId !== null) {
    const member = await database(env)
      .select({ id: users.id, name: users.name })
      .from(users)
      .innerJoin(inboxMembers, and(eq(inboxMembers.userId, users.id), eq(inboxMembers.inboxId, row.conversation.inboxId)))
      .where(and(eq(users.accountId, viewer.accountId), eq(users.id, assigneeId), isNull(users.deletedAt)))
      .get();
    if (!member) {
      throw new ApiError("validation_failed", `assignee_id '${assigneeId}' is not a member of this conversation's inbox; add them to the inbox first.`, {
        errors: [{ location: "body", pointer: "/assignee_id", detail: "not a member of the inbox" }],
      });
    }
    assignee = member;
  }
  return conversationOrThrow(
    await conversationObject(env, conversationId).assign({ conversationId, assignee, actor, onlyIfUnassigned: options.onlyIfUnassigned }),
    conversationId,
  );
}

export async function labelConversation(env: Bindings, viewer: Viewer, actor: Actor, conversationId: string, names: string[]) {
  await requireWritableConversation(env, viewer, conversationId);
  return conversationOrThrow(await conversationObject(env, conversationId).setLabels({ conversationId, labels: names, actor }), conversationId);
}

/** Adds and removes labels against the set as it is when the change applies, so concurrent edits are not lost. */
export async function editConversationLabels(
  env: Bindings,
  viewer: Viewer,
  actor: Actor,
  conversationId: string,
  edit: { add?: string[]; remove?: string[] },
) {
  await requireWritableConversation(env, viewer, conversationId);
  return conversationOrThrow(
    await conversationObject(env, conversationId).setLabels({ conversationId, edit: { add: edit.add ?? [], remove: edit.remove ?? [] }, actor }),
    conversationId,
  );
}

export async function changeConversationStatus(
  env: Bindings,
  viewer: Viewer,
  actor: Actor,
  conversationId: string,
  input: { status: ConversationStatus; snoozed_until?: string },
) {
  await requireWritableConversation(env, viewer, conversationId);
  const snoozedUntil = input.snoozed_until === undefined ? null : Date.parse(input.snoozed_until);
  return conversationOrThrow(
    await conversationObject(env, conversationId).setStatus({ conversationId, status: input.status, snoozedUntil, actor }),
    conversationId,
  );
}

export async function listLabels(env: Bindings, accountId: string) {
  const rows = await database(env).select().from(labels).where(eq(labels.accountId, accountId)).orderBy(labels.name);
  return { data: rows.map((row) => ({ name: row.name, created_at: new Date(row.createdAt).toISOString() })), next_cursor: null };
}
