// Chatwoot's Client API (/public/api/v1/inboxes/{inbox_identifier}/…) over the same domain functions as our
// integrator API. It carries no credentials — the inbox identifier and the contact's source id are the keys —
// so it is served only for inboxes whose administrator turned `public_client_api` on (docs/chatwoot.md).
import { and, desc, eq, inArray, lt } from "drizzle-orm";
import { numberAll, parseNumber, refOf } from "../chatwoot/ids";
import { publicContact, publicConversation, publicInbox, publicMessage, type OurUser, type Senders } from "../chatwoot/shapes";
import { conversationObject } from "../conversation/stub";
import { toMessage, type Conversation, type Message } from "../conversation/resources";
import { sha256Hex } from "../core/crypto";
import { database } from "../db/client";
import { contactInboxes, contacts, conversations, messages, numericIds, users, type CustomAttributes, type Json, type NumericKind, type Origin } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { withDataUrls } from "./attachments";
import { findContactBySource, toContact, upsertContact, type ContactCaller } from "./contacts";
import { listContactConversations, openConversation, toConversation } from "./conversations";
import { appendIncoming } from "./incoming";
import { findInboxByIdentifier, type InboxRow } from "./inboxes";
import { contactLastSeen, contactTyping, ensurePubsubToken } from "./realtime";

/** How many messages a conversation shows (newest, in order); `before` pages further back. */
const MESSAGES_PAGE = 100;
const CONVERSATIONS_PAGE = 25;

/** The inbox behind a public identifier, if it serves the Client API; else the 404 any unknown identifier gets. */
export async function publicClientInbox(env: Bindings, identifier: string): Promise<InboxRow> {
  const inbox = await findInboxByIdentifier(env, identifier);
  if (!inbox || !inbox.publicClientApi) throw new ApiError("inbox_not_found", `No inbox with identifier '${identifier}' serves the Client API.`);
  return inbox;
}

/**
 * Anyone may call the Client API: an identifier it sends without a valid identifier_hash never links to an
 * existing contact (knowing someone's identifier must not reveal their contact); with one it does, as in Chatwoot.
 */
const ISOLATED = { isolateUnproven: true };

/** The Client API acts as the inbox's integrator: unproven identifiers stay within the inbox (domain/identity.ts). */
function clientCaller(inbox: InboxRow): ContactCaller {
  return { kind: "inbox", accountId: inbox.accountId, inboxId: inbox.id, tokenId: "chatwoot_client_api" };
}

const contactOrigin = (contactId: string | null): Origin => ({ type: "contact", id: contactId, token_id: null });

export function showPublicInbox(inbox: InboxRow) {
  return publicInbox({ id: inbox.id, identifier: inbox.identifier, name: inbox.name, webhook_url: inbox.webhookUrl, hmac_mandatory: inbox.hmacMandatory });
}

export type PublicContactInput = {
  source_id?: string;
  identifier?: string | null;
  identifier_hash?: string;
  name?: string | null;
  email?: string | null;
  phone_number?: string | null;
  custom_attributes?: CustomAttributes;
};

function attributesOf(input: PublicContactInput) {
  return {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.email !== undefined ? { email: input.email } : {}),
    ...(input.phone_number !== undefined ? { phone: input.phone_number } : {}),
    ...(input.identifier !== undefined ? { identifier: input.identifier } : {}),
    ...(input.identifier_hash !== undefined ? { identifier_hash: input.identifier_hash } : {}),
    ...(input.custom_attributes !== undefined ? { custom_attributes: input.custom_attributes } : {}),
  };
}

async function contactAnswer(env: Bindings, inbox: InboxRow, found: Awaited<ReturnType<typeof upsertContact>> | NonNullable<Awaited<ReturnType<typeof findContactBySource>>>) {
  const pubsub = await ensurePubsubToken(env, found.contactInbox);
  const n = await numberAll(env, inbox.accountId, [["contact", found.contact.id]]);
  return publicContact(toContact(found.contact), found.contactInbox.sourceId, pubsub, n);
}

/** POST …/contacts: a source_id is generated when none is sent (Chatwoot's is a UUID too). Idempotent by source_id. */
export async function createPublicContact(env: Bindings, inbox: InboxRow, input: PublicContactInput) {
  const sourceId = input.source_id ?? crypto.randomUUID();
  const upserted = await upsertContact(env, inbox, sourceId, attributesOf(input), clientCaller(inbox), contactOrigin(null), undefined, ISOLATED);
  return { created: upserted.created, body: await contactAnswer(env, inbox, upserted) };
}

async function contactOr404(env: Bindings, inbox: InboxRow, sourceId: string) {
  const found = await findContactBySource(env, inbox, sourceId);
  if (!found) throw new ApiError("contact_not_found", `No contact with source_id '${sourceId}' exists in this inbox.`);
  return found;
}

export async function getPublicContact(env: Bindings, inbox: InboxRow, sourceId: string) {
  return contactAnswer(env, inbox, await contactOr404(env, inbox, sourceId));
}

export async function updatePublicContact(env: Bindings, inbox: InboxRow, sourceId: string, input: PublicContactInput) {
  const found = await contactOr404(env, inbox, sourceId);
  const { source_id: _ignored, ...rest } = input;
  const updated = await upsertContact(env, inbox, sourceId, attributesOf(rest), clientCaller(inbox), contactOrigin(found.contact.id), found, ISOLATED);
  return contactAnswer(env, inbox, updated);
}

/** Senders of these messages: the conversation's contact, and the users who wrote replies. */
async function sendersOf(env: Bindings, contact: ReturnType<typeof toContact>, list: Message[]): Promise<Senders> {
  const userIds = [...new Set(list.filter((m) => m.sender.type === "user" && m.sender.id).map((m) => m.sender.id!))];
  const rows =
    userIds.length === 0
      ? []
      : await database(env)
          .select({ id: users.id, name: users.name, email: users.email, role: users.role, available: users.available })
          .from(users)
          .where(inArray(users.id, userIds));
  return { contacts: new Map([[contact.id, contact]]), users: new Map(rows.map((row) => [row.id, row as OurUser])) };
}

/** Every number a set of conversations and messages needs, in one read (plus one batch for new ones). */
export function wantsOf(list: { conversations?: Conversation[]; messages?: Message[]; contacts?: string[]; users?: string[]; inboxes?: string[] }) {
  const wants: [NumericKind, string][] = [];
  for (const c of list.conversations ?? []) wants.push(["conversation", c.id], ["inbox", c.inbox_id], ["contact", c.contact_id]);
  for (const m of list.messages ?? []) {
    wants.push(["message", m.id], ["conversation", m.conversation_id], ["inbox", m.inbox_id]);
    if (m.sender.id && (m.sender.type === "user" || m.sender.type === "contact")) wants.push([m.sender.type, m.sender.id]);
    for (const a of m.attachments) if ("id" in a && typeof a.id === "string") wants.push(["attachment", a.id]);
  }
  for (const id of list.contacts ?? []) wants.push(["contact", id]);
  for (const id of list.users ?? []) wants.push(["user", id]);
  for (const id of list.inboxes ?? []) wants.push(["inbox", id]);
  return wants;
}

/** The newest messages a contact sees (never private notes), oldest first; `beforeSeq` pages back. */
async function visibleMessages(env: Bindings, conversationId: string, beforeSeq: number | null, limit = MESSAGES_PAGE): Promise<Message[]> {
  const rows = await database(env)
    .select()
    .from(messages)
    .where(and(eq(messages.conversationId, conversationId), eq(messages.private, false), beforeSeq === null ? undefined : lt(messages.seq, beforeSeq)))
    .orderBy(desc(messages.seq))
    .limit(limit);
  return withDataUrls(env, rows.reverse().map(toMessage));
}

async function renderConversations(env: Bindings, inbox: InboxRow, contact: ReturnType<typeof toContact>, list: Conversation[], messageLimit: number) {
  const histories = await Promise.all(list.map((c) => visibleMessages(env, c.id, null, messageLimit)));
  const all = histories.flat();
  const senders = await sendersOf(env, contact, all);
  const n = await numberAll(env, inbox.accountId, [...wantsOf({ conversations: list, messages: all, contacts: [contact.id] }), ["account", inbox.accountId]]);
  const account = n("account", inbox.accountId);
  return list.map((c, i) => publicConversation(c, contact, histories[i]!.map((m) => publicMessage(m, senders, account, n)), n));
}

export async function createPublicConversation(env: Bindings, inbox: InboxRow, sourceId: string, input: { custom_attributes?: CustomAttributes }) {
  const found = await contactOr404(env, inbox, sourceId);
  const opened = await openConversation(env, inbox, found, { customAttributes: input.custom_attributes }, contactOrigin(found.contact.id));
  const [body] = await renderConversations(env, inbox, toContact(found.contact, sourceId), [toConversation(opened.conversation)], MESSAGES_PAGE);
  return { created: opened.created, body: body! };
}

export async function listPublicConversations(env: Bindings, inbox: InboxRow, sourceId: string) {
  const found = await contactOr404(env, inbox, sourceId);
  const page = await listContactConversations(env, found.contactInbox.id, { limit: CONVERSATIONS_PAGE });
  return renderConversations(env, inbox, toContact(found.contact, sourceId), page.data, 20);
}

/**
 * A conversation of this contact in this inbox, by its display id; anything else is a 404. One query: the
 * number, the conversation, its contact and the contact's link to this inbox under this source id.
 */
async function contactConversation(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string) {
  const missing = new ApiError("conversation_not_found", `No conversation ${displayId} of this contact exists in this inbox.`);
  const number = parseNumber(displayId);
  if (number === null) throw missing;
  const row = await database(env)
    .select({ conversation: conversations, contact: contacts, contactInbox: contactInboxes })
    .from(numericIds)
    .innerJoin(conversations, eq(conversations.id, numericIds.refId))
    .innerJoin(contactInboxes, eq(contactInboxes.id, conversations.contactInboxId))
    .innerJoin(contacts, eq(contacts.id, conversations.contactId))
    .where(
      and(
        eq(numericIds.accountId, inbox.accountId),
        eq(numericIds.kind, "conversation"),
        eq(numericIds.number, number),
        eq(conversations.inboxId, inbox.id),
        eq(contactInboxes.sourceId, sourceId),
      ),
    )
    .get();
  if (!row) throw missing;
  return row;
}

export async function getPublicConversation(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string) {
  const row = await contactConversation(env, inbox, sourceId, displayId);
  const [body] = await renderConversations(env, inbox, toContact(row.contact, sourceId), [toConversation(row.conversation)], MESSAGES_PAGE);
  return body!;
}

/** toggle_status: the contact resolves the conversation (Chatwoot's Client API only resolves). */
export async function resolvePublicConversation(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string) {
  const row = await contactConversation(env, inbox, sourceId, displayId);
  const outcome = await conversationObject(env, row.conversation.id).setStatus({
    conversationId: row.conversation.id,
    status: "resolved",
    snoozedUntil: null,
    actor: { origin: contactOrigin(row.contact.id), name: row.contact.name ?? "The contact", sender: { type: "system", id: null } },
  });
  if (outcome.kind === "not_found") throw new ApiError("conversation_not_found", `No conversation ${displayId} of this contact exists in this inbox.`);
  if (outcome.kind === "conflict") throw new ApiError("invalid_state", outcome.detail);
  const [body] = await renderConversations(env, inbox, toContact(row.contact, sourceId), [outcome.conversation], MESSAGES_PAGE);
  return body!;
}

export async function publicTyping(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string, status: "on" | "off") {
  const row = await contactConversation(env, inbox, sourceId, displayId);
  await contactTyping(env, inbox, row.conversation.id, contactOrigin(row.contact.id), status, {
    conversation: row.conversation,
    contact: row.contact,
    sourceId,
  });
}

export async function publicLastSeen(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string) {
  const row = await contactConversation(env, inbox, sourceId, displayId);
  await contactLastSeen(env, row.conversation.id, contactOrigin(row.contact.id));
}

export type PublicMessageInput = { content?: string; echo_id?: string; attachment_ids?: string[] };

/**
 * The message's source_id when the client sends an echo_id: the same echo_id from the same contact is the
 * same message, forever (a retry after a lost answer writes nothing twice). Hashed so any echo_id fits.
 */
export async function echoSourceId(contactInboxId: string, echoId: string): Promise<string> {
  return `cw-echo-${(await sha256Hex(`${contactInboxId}\n${echoId}`)).slice(0, 40)}`;
}

export async function createPublicMessage(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string, input: PublicMessageInput) {
  const row = await contactConversation(env, inbox, sourceId, displayId);
  const appended = await appendIncoming(
    env,
    { conversationId: row.conversation.id, contact: row.contact, contactInbox: row.contactInbox, conversation: row.conversation },
    {
      content: input.content,
      attachment_ids: input.attachment_ids,
      ...(input.echo_id !== undefined ? { source_id: await echoSourceId(row.contactInbox.id, input.echo_id) } : {}),
    },
    contactOrigin(row.contact.id),
    undefined,
  );
  const contact = toContact(row.contact, sourceId);
  const senders = await sendersOf(env, contact, [appended.message]);
  const n = await numberAll(env, inbox.accountId, [...wantsOf({ messages: [appended.message] }), ["account", inbox.accountId]]);
  return { created: appended.created, body: publicMessage(appended.message, senders, n("account", inbox.accountId), n, input.echo_id) };
}

export async function listPublicMessages(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string, before?: string) {
  const row = await contactConversation(env, inbox, sourceId, displayId);
  let beforeSeq: number | null = null;
  if (before !== undefined && parseNumber(before) !== null) {
    const messageId = await refOf(env, inbox.accountId, "message", before);
    const target = messageId
      ? await database(env).select({ seq: messages.seq }).from(messages).where(and(eq(messages.conversationId, row.conversation.id), eq(messages.id, messageId))).get()
      : undefined;
    beforeSeq = target?.seq ?? null;
  }
  const list = await visibleMessages(env, row.conversation.id, beforeSeq);
  const contact = toContact(row.contact, sourceId);
  const senders = await sendersOf(env, contact, list);
  const n = await numberAll(env, inbox.accountId, [...wantsOf({ messages: list, conversations: [toConversation(row.conversation)] }), ["account", inbox.accountId]]);
  const account = n("account", inbox.accountId);
  return list.map((m) => publicMessage(m, senders, account, n));
}

/** The Client API's rate-limit keys: the inbox identifier (its own bucket, and the inbox's). */
export function publicRateKeys(inbox: InboxRow) {
  return { accountId: inbox.accountId, token: `public:${inbox.identifier}`, inbox: inbox.identifier };
}

/**
 * PATCH …/messages/{id}: the contact's answers to an interactive message or a CSAT survey, stored as Chatwoot
 * does in the message's content_attributes.submitted_values (through the conversation's object: a message_updated).
 */
export async function submitPublicMessage(env: Bindings, inbox: InboxRow, sourceId: string, displayId: string, messageNumber: string, submittedValues: Json) {
  const row = await contactConversation(env, inbox, sourceId, displayId);
  const missing = new ApiError("message_not_found", `No message ${messageNumber} exists in conversation ${displayId}.`);
  const messageId = await refOf(env, inbox.accountId, "message", messageNumber);
  if (!messageId) throw missing;
  const outcome = await conversationObject(env, row.conversation.id).submitValues({
    conversationId: row.conversation.id,
    messageId,
    submittedValues,
    origin: contactOrigin(row.contact.id),
  });
  if (outcome.kind === "not_found") throw missing;
  const [message] = await withDataUrls(env, [outcome.message]);
  const senders = await sendersOf(env, toContact(row.contact, sourceId), [message!]);
  const n = await numberAll(env, inbox.accountId, [...wantsOf({ messages: [message!] }), ["account", inbox.accountId]]);
  return publicMessage(message!, senders, n("account", inbox.accountId), n);
}
