// What agents and automation rules do to a conversation — reply, note, assign, label, change status —
// with the same checks, through the conversation's object. Outcomes become results or the API's errors.
import { and, eq, isNull } from "drizzle-orm";
import { database } from "../db/client";
import { inboxMembers, messages, users, type Attachment, type ConversationStatus, type CustomAttributes } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { requireWritableConversation, type Viewer } from "./access";
import type { Actor, ConversationOutcome, MessageOutcome } from "./protocol";
import { toContact, type Conversation, type Message } from "./resources";
import { findMessageBySource } from "./queries";
import { conversationObject } from "./stub";

export type Dedupe = { key: string; fingerprint: string } | undefined;

export type Appended = { created: boolean; message: Message; conversation: Conversation };

/** Turns the conversation object's answer into a result or the API's error. */
export function appendedOrThrow(outcome: MessageOutcome, conversationId: string): Appended {
  switch (outcome.kind) {
    case "created":
    case "existing":
      return { created: outcome.kind === "created", message: outcome.message, conversation: outcome.conversation };
    case "dedupe_mismatch":
      throw new ApiError("idempotency_key_reused", "This Idempotency-Key was already used for a different message; use a new key.");
    case "not_found":
      throw notFound("conversation_not_found", "conversation", conversationId);
    case "conflict":
      throw new ApiError("invalid_state", outcome.detail);
    case "guard_failed":
      // Only the isolate cache's path sends a guard, and it handles this itself.
      throw new Error(`an unguarded append to conversation ${conversationId} reported a failed guard`);
  }
}

function conversationOrThrow(outcome: ConversationOutcome, conversationId: string): Conversation {
  if (outcome.kind === "not_found") throw notFound("conversation_not_found", "conversation", conversationId);
  if (outcome.kind === "conflict") throw new ApiError("invalid_state", outcome.detail);
  return outcome.conversation;
}

/** What an agent's reply or note carries; `attachments` are resolved by the caller (domain/attachments). */
export type AgentMessageInput = {
  content?: string;
  private?: boolean;
  source_id?: string;
  content_attributes?: CustomAttributes & { in_reply_to?: string };
  attachments?: Attachment[];
};

/** An outgoing reply (reaches the integrator's webhook) or a private note (never leaves the platform). */
export async function postAgentMessage(
  env: Bindings,
  viewer: Viewer,
  actor: Actor,
  conversationId: string,
  input: AgentMessageInput,
  dedupe: Dedupe,
) {
  const row = await requireWritableConversation(env, viewer, conversationId);
  if (input.source_id !== undefined) {
    // The same source_id in this conversation is a retry (the object returns that message); elsewhere in
    // the inbox it names another message, and answering with that one would be wrong.
    const taken = await findMessageBySource(env, row.conversation.inboxId, input.source_id);
    if (taken && taken.conversationId !== conversationId) {
      throw new ApiError("invalid_state", `source_id '${input.source_id}' already names a message in another conversation of this inbox; send a new one.`);
    }
  }
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
      content: input.content ?? null,
      contentAttributes: input.content_attributes ?? {},
      attachments: input.attachments ?? [],
      private: input.private ?? false,
      sender: actor.sender,
      sourceId: input.source_id ?? null,
    },
    contact: toContact(row.contact, row.contactInbox.sourceId),
    origin: actor.origin,
    reopen: false,
    dedupe,
    lastRead: row.conversation,
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

/** Deletes a message of a conversation the viewer may change (Chatwoot's soft delete: emptied in place). */
export async function deleteMessage(env: Bindings, viewer: Viewer, actor: Actor, conversationId: string, messageId: string): Promise<Message> {
  await requireWritableConversation(env, viewer, conversationId);
  const outcome = await conversationObject(env, conversationId).deleteMessage({ conversationId, messageId, origin: actor.origin });
  if (outcome.kind === "not_found") throw new ApiError("message_not_found", `No message '${messageId}' exists in this conversation.`);
  if (outcome.kind === "not_deletable") throw new ApiError("invalid_state", `Message '${messageId}' is an activity line of the history; those are not deleted.`);
  return outcome.message;
}
