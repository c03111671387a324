// Who may see and change a conversation: agents the inboxes they are members of, administrators and
// automation rules their whole account. Every read and command (agents and rules alike) checks here.
import { and, eq, sql, type SQL } from "drizzle-orm";
import { database } from "../db/client";
import { contactInboxes, contacts, conversations, inboxes, type Role } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";

/** A person (or bot) with a user token. */
export type UserViewer = { kind: "user"; accountId: string; userId: string; role: Role };
/** Who is looking: a user, or an automation rule, which sees its whole account like an administrator. */
export type Viewer = UserViewer | { kind: "automation"; accountId: string };

/** Agents see the inboxes they are members of; administrators and automations see all. */
export function memberInboxCondition(viewer: Viewer): SQL | undefined {
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
export async function requireWritableConversation(env: Bindings, viewer: Viewer, conversationId: string) {
  const row = await requireVisibleConversation(env, viewer, conversationId);
  if (row.inboxDeletedAt !== null) {
    throw new ApiError("inbox_deleted", `Conversation '${conversationId}' belongs to a deleted inbox; it can be read but not changed.`);
  }
  return row;
}
