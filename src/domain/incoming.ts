// The integrator's side of a conversation: messages from the contact come in through here.
import type { CustomAttributes, Origin } from "../db/schema";
import { conversationObject } from "../conversation/stub";
import type { MessageOutcome } from "../conversation/protocol";
import type { Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { toContact, upsertContact, type ContactAttributes, type ContactCaller, type ContactInboxRow, type ContactRow } from "./contacts";
import type { IdentityInbox } from "./identity";
import { findContactAndConversation, openConversation, toConversation, type Conversation } from "./conversations";
import type { Message } from "./messages";

type Inbox = { id: string; accountId: string; lockToSingleConversation: boolean } & IdentityInbox;
export type Dedupe = { key: string; fingerprint: string } | undefined;

export type IncomingMessage = {
  content?: string;
  source_id?: string;
  content_attributes?: CustomAttributes;
  attachments?: { url: string; file_type: string; name?: string }[];
};

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
  }
}

/** Appends an incoming message from the conversation's contact; reopens it if resolved or snoozed. */
export async function appendIncoming(
  env: Bindings,
  target: { conversationId: string; contact: ContactRow; contactInbox: ContactInboxRow },
  message: IncomingMessage,
  origin: Origin,
  dedupe: Dedupe,
): Promise<Appended> {
  const outcome = await conversationObject(env, target.conversationId).appendMessage({
    conversationId: target.conversationId,
    message: {
      messageType: "incoming",
      content: message.content ?? null,
      contentAttributes: message.content_attributes ?? {},
      attachments: message.attachments ?? [],
      private: false,
      sender: { type: "contact", id: target.contact.id },
      sourceId: message.source_id ?? null,
    },
    contact: toContact(target.contact, target.contactInbox.sourceId),
    origin,
    reopen: true,
    dedupe,
  });
  return appendedOrThrow(outcome, target.conversationId);
}

/**
 * The one-call path: upsert the contact, continue its unresolved conversation (or the thread named by
 * conversation.source_id), or open one, then append the message. Every step is idempotent, so a retry —
 * with or without an Idempotency-Key — never creates a second contact, conversation or message.
 */
export async function receiveMessage(
  env: Bindings,
  inbox: Inbox,
  input: IncomingMessage & {
    contact: ContactAttributes & { source_id: string };
    conversation?: { source_id?: string; custom_attributes?: CustomAttributes };
  },
  caller: ContactCaller,
  origin: Origin,
  dedupe: Dedupe,
) {
  const { source_id: contactSourceId, ...attributes } = input.contact;
  const known = await findContactAndConversation(env, inbox, contactSourceId);
  const contact = await upsertContact(env, inbox, contactSourceId, attributes, caller, origin, known.contact ?? null);
  // A contact that was just linked or created has no conversation in this inbox yet.
  let conversation =
    input.conversation?.source_id === undefined && known.contact?.contactInbox.id === contact.contactInbox.id
      ? known.conversation
      : undefined;
  if (!conversation) {
    conversation = (
      await openConversation(
        env,
        inbox,
        contact,
        { sourceId: input.conversation?.source_id, customAttributes: input.conversation?.custom_attributes },
        origin,
      )
    ).conversation;
  }
  const appended = await appendIncoming(
    env,
    { conversationId: conversation.id, contact: contact.contact, contactInbox: contact.contactInbox },
    input,
    origin,
    dedupe,
  );
  return {
    created: appended.created,
    contact: toContact(contact.contact, contact.contactInbox.sourceId),
    conversation: appended.conversation ?? toConversation(conversation),
    message: appended.message,
  };
}
