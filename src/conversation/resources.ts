// What the API shows of a conversation, its messages and its contact: the row→resource mappers, shared by
// the conversation object (its events' snapshots), the domain (API answers) and the rules engine (facts).
import type {
  Attachment,
  ConversationStatus,
  contactInboxes,
  contacts,
  conversations,
  CustomAttributes,
  MessageStatus,
  MessageType,
  messages,
  SenderType,
} from "../db/schema";
import { iso } from "../core/time";

export type ContactRow = typeof contacts.$inferSelect;
export type ContactInboxRow = typeof contactInboxes.$inferSelect;

/** identifier_scope of a proven identifier: unique in the whole account (domain/identity.ts). */
export const ACCOUNT_SCOPE = "account";

export type Contact = {
  id: string;
  source_id: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  identifier: string | null;
  /** The identifier was proven (identifier_hash or a user token) and links the person across inboxes. */
  identifier_verified: boolean;
  custom_attributes: CustomAttributes;
  created_at: string;
  updated_at: string;
};

export function toContact(row: ContactRow, sourceId: string | null = null): Contact {
  return {
    id: row.id,
    source_id: sourceId,
    name: row.name,
    email: row.email,
    phone: row.phone,
    identifier: row.identifier,
    identifier_verified: row.identifier !== null && row.identifierScope === ACCOUNT_SCOPE,
    custom_attributes: row.customAttributes,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

export type ConversationRow = typeof conversations.$inferSelect;

export type Conversation = {
  id: string;
  inbox_id: string;
  contact_id: string;
  source_id: string | null;
  status: ConversationStatus;
  assignee_id: string | null;
  labels: string[];
  custom_attributes: CustomAttributes;
  snoozed_until: string | null;
  messages_count: number;
  last_activity_at: string;
  created_at: string;
  updated_at: string;
};

export function toConversation(row: ConversationRow): Conversation {
  return {
    id: row.id,
    inbox_id: row.inboxId,
    contact_id: row.contactId,
    source_id: row.sourceId,
    status: row.status,
    assignee_id: row.assigneeId,
    labels: row.labels,
    custom_attributes: row.customAttributes,
    snoozed_until: iso(row.snoozedUntil),
    messages_count: row.lastSeq,
    last_activity_at: iso(row.lastActivityAt),
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/**
 * The key that makes "one unresolved conversation per contact" a unique index: set while the inbox locks
 * the contact to a single conversation and this one is not resolved. Threads the integrator names with
 * its own source_id are exempt — it asked for several.
 */
export function singleOpenKey(inbox: { lockToSingleConversation: boolean }, conversation: { sourceId: string | null; contactInboxId: string; status: ConversationStatus }) {
  return inbox.lockToSingleConversation && conversation.sourceId === null && conversation.status !== "resolved"
    ? conversation.contactInboxId
    : null;
}

export type MessageRow = typeof messages.$inferSelect;

export type Message = {
  id: string;
  conversation_id: string;
  inbox_id: string;
  seq: number;
  message_type: MessageType;
  content: string | null;
  content_attributes: CustomAttributes;
  attachments: Attachment[];
  private: boolean;
  /** "integration": recorded by the integrator, sent by the business from its own system. */
  sender: { type: SenderType | "integration"; id: string | null };
  source_id: string | null;
  status: MessageStatus;
  status_reason: string | null;
  /** The original time of an imported message; null when it happened on arrival. */
  external_created_at: string | null;
  created_at: string;
  updated_at: string;
};

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    conversation_id: row.conversationId,
    inbox_id: row.inboxId,
    seq: row.seq,
    message_type: row.messageType,
    content: row.content,
    content_attributes: row.contentAttributes,
    attachments: row.attachments,
    private: row.private,
    sender: { type: row.origin === "integration" ? "integration" : row.senderType, id: row.senderId },
    source_id: row.sourceId,
    status: row.status,
    status_reason: row.statusReason,
    external_created_at: iso(row.externalCreatedAt),
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}
