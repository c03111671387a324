// Chatwoot's JSON shapes, from ours: pure functions over our resources and the numbers the Chatwoot surface
// gives them (ids.ts). The field names, types and wrappers follow Chatwoot's jbuilder views and models
// (Message#push_event_data / webhook_data, Conversation#push_event_data, Contact#push_event_data), which
// are what Chatwoot really answers — where its swagger disagrees with them, docs/chatwoot.md lists it.
import type { Attachment, CustomAttributes, MessageStatus, MessageType, NumericKind } from "../db/schema";

/** Chatwoot's integer message_type (Message.message_types): 0 incoming, 1 outgoing, 2 activity, 3 template. */
export const MESSAGE_TYPE_NUMBERS: Record<MessageType, number> = { incoming: 0, outgoing: 1, activity: 2 };

/** Looks up the number of one of our ids (the caller numbered them all first). */
export type Numbers = (kind: NumericKind, id: string) => number;

const seconds = (isoTime: string | null | undefined) => (isoTime ? Math.floor(Date.parse(isoTime) / 1000) : null);

export type OurContact = {
  id: string;
  source_id: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  identifier: string | null;
  custom_attributes: CustomAttributes;
  created_at: string;
  updated_at?: string;
};

export type OurConversation = {
  id: string;
  inbox_id: string;
  contact_id: string;
  status: string;
  assignee_id: string | null;
  labels: string[];
  custom_attributes: CustomAttributes;
  snoozed_until: string | null;
  last_activity_at: string;
  created_at: string;
  updated_at: string;
};

export type OurMessage = {
  id: string;
  conversation_id: string;
  inbox_id: string;
  message_type: MessageType;
  content: string | null;
  content_attributes: CustomAttributes;
  attachments: Attachment[];
  private: boolean;
  sender: { type: string; id: string | null };
  source_id: string | null;
  status: MessageStatus;
  status_reason: string | null;
  created_at: string;
  updated_at?: string;
};

export type OurUser = { id: string; name: string; email: string; role: string; available: boolean };
export type OurInbox = { id: string; identifier: string; name: string; webhook_url: string | null; hmac_mandatory?: boolean };

/** Contact#push_event_data: the sender of a contact's message and a conversation's meta.sender. */
export function contactPushData(contact: OurContact, n: Numbers) {
  return {
    additional_attributes: {},
    custom_attributes: contact.custom_attributes,
    email: contact.email,
    id: n("contact", contact.id),
    identifier: contact.identifier,
    name: contact.name ?? "",
    phone_number: contact.phone,
    thumbnail: "",
    blocked: false,
    type: "contact",
  };
}

/** User#push_event_data. */
export function userPushData(user: { id: string; name: string; available?: boolean }, n: Numbers) {
  return {
    id: n("user", user.id),
    name: user.name,
    available_name: user.name,
    avatar_url: "",
    type: "user",
    availability_status: user.available === false ? "offline" : "online",
    thumbnail: "",
  };
}

const FILE_EXTENSION = /\.([A-Za-z0-9]{1,10})$/;

/** Attachment#push_event_data. URL attachments (hosted by the integrator) have no id of ours: id null. */
export function attachmentData(attachment: Attachment, message: { id: string }, accountNumber: number, n: Numbers) {
  const stored = "id" in attachment && typeof attachment.id === "string" ? attachment : null;
  const url = stored ? (stored.data_url ?? "") : (attachment as { url: string }).url;
  const name = stored ? stored.file_name : ((attachment as { name?: string }).name ?? url);
  return {
    id: stored ? n("attachment", stored.id) : null,
    message_id: n("message", message.id),
    file_type: attachment.file_type,
    account_id: accountNumber,
    extension: FILE_EXTENSION.exec(name)?.[1] ?? null,
    data_url: url,
    thumb_url: attachment.file_type === "image" ? url : "",
    file_size: stored ? stored.byte_size : null,
  };
}

export type Senders = { contacts: Map<string, OurContact>; users: Map<string, OurUser> };

function senderOf(message: OurMessage, senders: Senders, n: Numbers) {
  if (message.sender.type === "contact" && message.sender.id) {
    const contact = senders.contacts.get(message.sender.id);
    return contact ? { sender: contactPushData(contact, n), sender_type: "Contact", sender_id: n("contact", contact.id) } : null;
  }
  if (message.sender.type === "user" && message.sender.id) {
    const user = senders.users.get(message.sender.id);
    return user ? { sender: userPushData(user, n), sender_type: "User", sender_id: n("user", user.id) } : null;
  }
  return null;
}

/** The Client API's message (public/api/v1/models/_message.json.jbuilder). */
export function publicMessage(message: OurMessage, senders: Senders, accountNumber: number, n: Numbers, echoId?: string) {
  const sender = senderOf(message, senders, n);
  return {
    id: n("message", message.id),
    content: message.content,
    message_type: MESSAGE_TYPE_NUMBERS[message.message_type],
    content_type: "text",
    content_attributes: message.content_attributes,
    created_at: seconds(message.created_at)!,
    conversation_id: n("conversation", message.conversation_id),
    ...(message.attachments.length > 0 ? { attachments: message.attachments.map((a) => attachmentData(a, message, accountNumber, n)) } : {}),
    ...(sender ? { sender: sender.sender } : {}),
    ...(echoId !== undefined ? { echo_id: echoId } : {}),
  };
}

/** The Application API's message (api/v1/accounts/conversations/messages + Message#push_event_data). */
export function appMessage(message: OurMessage, senders: Senders, accountNumber: number, n: Numbers, echoId?: string) {
  const sender = senderOf(message, senders, n);
  return {
    id: n("message", message.id),
    content: message.content,
    inbox_id: n("inbox", message.inbox_id),
    conversation_id: n("conversation", message.conversation_id),
    message_type: MESSAGE_TYPE_NUMBERS[message.message_type],
    content_type: "text",
    status: message.status,
    content_attributes: {
      ...message.content_attributes,
      ...(message.status === "failed" && message.status_reason ? { external_error: message.status_reason } : {}),
    },
    created_at: seconds(message.created_at)!,
    private: message.private,
    source_id: message.source_id,
    sender_type: sender?.sender_type ?? null,
    sender_id: sender?.sender_id ?? null,
    external_source_ids: {},
    additional_attributes: {},
    processed_message_content: message.content,
    sentiment: {},
    account_id: accountNumber,
    attachments: message.attachments.map((a) => attachmentData(a, message, accountNumber, n)),
    ...(sender ? { sender: sender.sender } : {}),
    ...(echoId !== undefined ? { echo_id: echoId } : {}),
  };
}

/** The Client API's contact (public/api/v1/inboxes/contacts/*.json.jbuilder). */
export function publicContact(contact: OurContact, sourceId: string, pubsubToken: string, n: Numbers) {
  return {
    id: n("contact", contact.id),
    source_id: sourceId,
    name: contact.name,
    email: contact.email,
    phone_number: contact.phone,
    pubsub_token: pubsubToken,
  };
}

/** The Client API's conversation (public/api/v1/models/_conversation.json.jbuilder). */
export function publicConversation(
  conversation: OurConversation,
  contact: OurContact,
  messages: ReturnType<typeof publicMessage>[],
  n: Numbers,
) {
  return {
    id: n("conversation", conversation.id),
    uuid: conversation.id,
    inbox_id: n("inbox", conversation.inbox_id),
    contact_last_seen_at: 0,
    status: conversation.status,
    agent_last_seen_at: 0,
    messages,
    contact: { id: n("contact", contact.id), name: contact.name, email: contact.email, phone_number: contact.phone },
  };
}

/** Conversation#push_event_data, which the Application API's conversation views and webhooks both use. */
export function appConversation(
  conversation: OurConversation,
  related: { contact: OurContact; sourceId: string | null; assignee: OurUser | null; lastMessage: ReturnType<typeof appMessage> | null; unread?: number },
  accountNumber: number,
  n: Numbers,
) {
  const at = seconds(conversation.last_activity_at)!;
  return {
    meta: {
      sender: contactPushData(related.contact, n),
      channel: "Channel::Api",
      assignee: related.assignee ? userPushData(related.assignee, n) : null,
      team: null,
      hmac_verified: false,
    },
    id: n("conversation", conversation.id),
    channel: "Channel::Api",
    messages: related.lastMessage ? [related.lastMessage] : [],
    account_id: accountNumber,
    uuid: conversation.id,
    additional_attributes: {},
    agent_last_seen_at: 0,
    assignee_last_seen_at: 0,
    can_reply: true,
    contact_last_seen_at: 0,
    custom_attributes: conversation.custom_attributes,
    inbox_id: n("inbox", conversation.inbox_id),
    labels: conversation.labels,
    muted: false,
    snoozed_until: seconds(conversation.snoozed_until),
    status: conversation.status,
    created_at: seconds(conversation.created_at)!,
    updated_at: Date.parse(conversation.updated_at) / 1000,
    timestamp: at,
    first_reply_created_at: null,
    unread_count: related.unread ?? 0,
    last_non_activity_message: related.lastMessage,
    last_activity_at: at,
    priority: null,
    waiting_since: 0,
    sla_policy_id: null,
    contact_inbox: { source_id: related.sourceId, inbox_id: n("inbox", conversation.inbox_id), contact_id: n("contact", related.contact.id) },
  };
}

/** The Application API's contact (api/v1/models/_contact.json.jbuilder), with its contact_inboxes when known. */
export function appContact(
  contact: OurContact,
  inboxes: { inbox: OurInbox; sourceId: string }[] | undefined,
  accountNumber: number,
  n: Numbers,
) {
  return {
    additional_attributes: {},
    availability_status: "offline",
    email: contact.email,
    id: n("contact", contact.id),
    name: contact.name ?? "",
    phone_number: contact.phone,
    blocked: false,
    identifier: contact.identifier,
    thumbnail: "",
    custom_attributes: contact.custom_attributes,
    created_at: seconds(contact.created_at)!,
    last_activity_at: seconds(contact.updated_at ?? contact.created_at),
    account_id: accountNumber,
    ...(inboxes ? { contact_inboxes: inboxes.map((link) => contactInbox(link.inbox, link.sourceId, n)) } : {}),
  };
}

export function contactInbox(inbox: OurInbox, sourceId: string, n: Numbers) {
  return { source_id: sourceId, inbox: appInbox(inbox, n) };
}

/** The Application API's inbox (api/v1/models/_inbox.json.jbuilder), for an API channel. */
export function appInbox(inbox: OurInbox, n: Numbers) {
  return {
    id: n("inbox", inbox.id),
    avatar_url: "",
    channel_id: n("inbox", inbox.id),
    name: inbox.name,
    channel_type: "Channel::Api",
    greeting_enabled: false,
    greeting_message: null,
    working_hours_enabled: false,
    enable_email_collect: false,
    csat_survey_enabled: false,
    enable_auto_assignment: false,
    out_of_office_message: null,
    working_hours: [],
    timezone: "UTC",
    allow_messages_after_resolved: true,
    lock_to_single_conversation: false,
    webhook_url: inbox.webhook_url,
    inbox_identifier: inbox.identifier,
    hmac_mandatory: inbox.hmac_mandatory ?? false,
  };
}

/** The Client API's inbox (public/api/v1/inboxes/show.json.jbuilder). */
export function publicInbox(inbox: OurInbox) {
  return {
    identifier: inbox.identifier,
    identity_validation_enabled: inbox.hmac_mandatory ?? false,
    name: inbox.name,
    timezone: "UTC",
    working_hours: [],
    working_hours_enabled: false,
    csat_survey_enabled: false,
    add_label_to_resolve_conversation: false,
    greeting_enabled: false,
  };
}
