// An event's webhook body in Chatwoot's form (payload_format "chatwoot"): what Chatwoot POSTs for the same
// event — Message#webhook_data, Conversation#webhook_data, Contact#webhook_data, plus `event` — built from
// the event's stored snapshot. Numbers come from ids.ts; the contact, the assignee and a reply's author
// are read when the snapshot does not carry them (docs/chatwoot.md says which fields are read at send time).
import { eq, inArray } from "drizzle-orm";
import { database } from "../db/client";
import { contactInboxes, contacts, users, type events, type NumericKind } from "../db/schema";
import { accountName } from "../db/shards";
import type { Bindings } from "../env";
import { numberAll } from "./ids";
import { appConversation, appMessage, attachmentData, type Numbers, type OurContact, type OurConversation, type OurMessage, type OurUser } from "./shapes";

type EventRow = typeof events.$inferSelect;
type SnapshotContact = OurContact & { source_id: string | null };

function contactWebhookData(contact: OurContact, account: { id: number; name: string }, n: Numbers) {
  return {
    id: n("contact", contact.id),
    name: contact.name ?? "",
    avatar: "",
    type: "contact",
    account,
    additional_attributes: {},
    custom_attributes: contact.custom_attributes,
    email: contact.email,
    identifier: contact.identifier,
    phone_number: contact.phone,
    thumbnail: "",
    blocked: false,
  };
}

/** The body Chatwoot would send for this event; null for events Chatwoot has no webhook for. */
export async function chatwootPayload(env: Bindings, event: EventRow, inbox: { id: string; name: string }): Promise<Record<string, unknown> | null> {
  const data = event.data as { message?: OurMessage; conversation?: OurConversation; contact?: SnapshotContact; changed_attributes?: unknown; user?: { id: string } };
  const db = database(env);
  const conversation = data.conversation;
  const message = data.message;
  const contactId = data.contact?.id ?? conversation?.contact_id ?? null;
  const userIds = [conversation?.assignee_id, message?.sender.type === "user" ? message.sender.id : null, data.user?.id].filter((id): id is string => !!id);
  const accountRows = [{ name: await accountName(env, event.accountId) }];
  const [contactRows, linkRows, userRows] = await db.batch([
    db.select().from(contacts).where(eq(contacts.id, contactId ?? "")).limit(1),
    db.select({ sourceId: contactInboxes.sourceId }).from(contactInboxes).where(eq(contactInboxes.contactId, contactId ?? "")).limit(1),
    db.select({ id: users.id, name: users.name, email: users.email, role: users.role, available: users.available }).from(users).where(inArray(users.id, userIds.length ? userIds : [""])),
  ]);
  const storedContact = contactRows[0];
  // The snapshot's contact (as it was) when there is one; else the contact as it is now.
  const contact: OurContact | null =
    data.contact && "custom_attributes" in data.contact
      ? data.contact
      : storedContact
        ? {
            id: storedContact.id,
            source_id: null,
            name: storedContact.name,
            email: storedContact.email,
            phone: storedContact.phone,
            identifier: storedContact.identifier,
            custom_attributes: storedContact.customAttributes,
            created_at: new Date(storedContact.createdAt).toISOString(),
          }
        : null;
  const sourceId = data.contact?.source_id ?? linkRows[0]?.sourceId ?? null;
  const people = new Map(userRows.map((row) => [row.id, row as OurUser]));

  const wants: [NumericKind, string][] = [["account", event.accountId], ["inbox", inbox.id]];
  if (conversation) wants.push(["conversation", conversation.id], ["inbox", conversation.inbox_id]);
  if (contact) wants.push(["contact", contact.id]);
  for (const id of userIds) wants.push(["user", id]);
  if (message) {
    wants.push(["message", message.id], ["conversation", message.conversation_id], ["inbox", message.inbox_id]);
    for (const a of message.attachments) if ("id" in a && typeof a.id === "string") wants.push(["attachment", a.id]);
  }
  const n = await numberAll(env, event.accountId, wants);
  const account = { id: n("account", event.accountId), name: accountRows[0]?.name ?? "" };
  const senders = { contacts: new Map(contact ? [[contact.id, contact]] : []), users: people };
  const conversationData = (lastMessage: OurMessage | undefined) =>
    conversation && contact
      ? appConversation(
          conversation,
          {
            contact,
            sourceId,
            assignee: conversation.assignee_id ? (people.get(conversation.assignee_id) ?? null) : null,
            lastMessage: lastMessage ? appMessage(lastMessage, senders, account.id, n) : null,
          },
          account.id,
          n,
        )
      : null;
  const inboxData = { id: n("inbox", inbox.id), name: inbox.name };

  switch (event.type) {
    case "message_created":
    case "message_updated": {
      if (!message) return null;
      const author =
        message.sender.type === "contact" && contact
          ? contactWebhookData(contact, account, n)
          : message.sender.type === "user" && message.sender.id && people.has(message.sender.id)
            ? { id: n("user", message.sender.id), name: people.get(message.sender.id)!.name, email: people.get(message.sender.id)!.email, type: "user" }
            : null;
      return {
        event: event.type,
        id: n("message", message.id),
        content: message.content,
        content_type: "text",
        content_attributes: {
          ...message.content_attributes,
          ...(message.status === "failed" && message.status_reason ? { external_error: message.status_reason } : {}),
        },
        additional_attributes: {},
        message_type: message.message_type,
        created_at: message.created_at,
        private: message.private,
        source_id: message.source_id,
        status: message.status,
        sender: author,
        inbox: inboxData,
        conversation: conversationData(message),
        account,
        ...(message.attachments.length ? { attachments: message.attachments.map((a) => attachmentData(a, message, account.id, n)) } : {}),
        ...(data.changed_attributes ? { changed_attributes: data.changed_attributes } : {}),
      };
    }
    case "conversation_created":
    case "conversation_updated":
    case "conversation_status_changed": {
      const body = conversationData(undefined);
      if (!body) return null;
      return { event: event.type, ...body, ...(data.changed_attributes ? { changed_attributes: data.changed_attributes } : {}) };
    }
    case "conversation_typing_on":
    case "conversation_typing_off": {
      const user = data.user ? people.get(data.user.id) : undefined;
      return {
        event: event.type,
        conversation: conversationData(undefined),
        user: user ? { id: n("user", user.id), name: user.name, email: user.email, type: "user" } : null,
        is_private: false,
      };
    }
    case "contact_created":
    case "contact_updated": {
      if (!contact) return null;
      return { event: event.type, ...contactWebhookData(contact, account, n), ...(data.changed_attributes ? { changed_attributes: data.changed_attributes } : {}) };
    }
    default:
      return null;
  }
}
