// A subset of Chatwoot's Application API (/api/v1/accounts/{account_id}/…) over the same domain functions
// as our agent and administrator API: a user token (api_access_token), Chatwoot's numeric ids and
// per-account conversation display_ids, its payload/meta wrappers (docs/chatwoot.md).
import { and, desc, eq, inArray, isNull, lt, sql, type SQL } from "drizzle-orm";
import { GLOBAL_SCOPE, numberAll, parseNumber, refOf } from "../chatwoot/ids";
import { appContact, appConversation, appInbox, appMessage, contactInbox, userPushData, type Numbers, type OurInbox, type OurUser, type Senders } from "../chatwoot/shapes";
import { memberInboxCondition, requireVisibleConversation, type UserViewer } from "../conversation/access";
import type { Actor } from "../conversation/protocol";
import { toContact, toConversation, toMessage, type ConversationRow, type Message } from "../conversation/resources";
import { newId } from "../core/ids";
import { database } from "../db/client";
import { contactInboxes, contacts, conversations, inboxes, messages, users, type ConversationStatus, type CustomAttributes, type NumericKind, type Origin } from "../db/schema";
import { accountName } from "../db/shards";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { getAccountContact, listAccountContacts } from "./account-contacts";
import { actorFor, assignConversation, changeConversationStatus, deleteMessage, labelConversation, postAgentMessage } from "./agent";
import { withDataUrls } from "./attachments";
import { echoSourceId, wantsOf } from "./chatwoot-client";
import { findContactBySource, upsertContact, type ContactCaller } from "./contacts";
import { openConversation } from "./conversations";
import { appendIncoming, reportMessageStatus } from "./incoming";
import { listInboxes, requireVisibleInbox, type InboxRow } from "./inboxes";
import { unreadCounts } from "./realtime";

const PAGE_SIZE = 25;
const MESSAGES_PAGE = 20;

export type AppUser = UserViewer & { tokenId: string };

const originOf = (user: AppUser): Origin => ({ type: "user", id: user.userId, token_id: user.tokenId });

/** The account in the URL: its number (or our own id) must be the caller's account; anything else is a 404. */
export async function requireAppAccount(env: Bindings, user: AppUser, raw: string): Promise<void> {
  const id = raw.startsWith("acc_") ? raw : await refOf(env, GLOBAL_SCOPE, "account", raw);
  if (id !== user.accountId) throw new ApiError("account_not_found", `No account ${raw} exists for this token.`);
}

const toOurInbox = (row: InboxRow): OurInbox => ({ id: row.id, identifier: row.identifier, name: row.name, webhook_url: row.webhookUrl, hmac_mandatory: row.hmacMandatory });

async function numbers(env: Bindings, accountId: string, wants: [NumericKind, string][]): Promise<{ n: Numbers; account: number }> {
  const n = await numberAll(env, accountId, [...wants, ["account", accountId]]);
  return { n, account: n("account", accountId) };
}

async function resolveRef(env: Bindings, accountId: string, kind: NumericKind, raw: string | number | undefined | null, missing: ApiError): Promise<string> {
  const id = await refOf(env, accountId, kind, raw);
  if (id === null) throw missing;
  return id;
}

const conversationMissing = (raw: string) => new ApiError("conversation_not_found", `No conversation ${raw} exists in this account.`);

/** A conversation by its display id, if this user may see it. */
export async function appConversationRow(env: Bindings, user: AppUser, displayId: string) {
  const id = await resolveRef(env, user.accountId, "conversation", displayId, conversationMissing(displayId));
  return requireVisibleConversation(env, user, id).catch((error) => {
    throw error instanceof ApiError ? conversationMissing(displayId) : error;
  });
}

export async function profile(env: Bindings, user: AppUser) {
  const db = database(env);
  const [row, account] = await Promise.all([
    db.select().from(users).where(eq(users.id, user.userId)).get(),
    accountName(env, user.accountId).then((name: string) => ({ name })),
  ]);
  const { n, account: accountNumber } = await numbers(env, user.accountId, [["user", user.userId]]);
  return {
    ...userPushData({ id: user.userId, name: row!.name, available: row!.available }, n),
    email: row!.email,
    uid: row!.email,
    display_name: row!.name,
    role: user.role,
    confirmed: true,
    account_id: accountNumber,
    accounts: [{ id: accountNumber, name: account?.name ?? "", role: user.role, status: "active", active_at: null }],
  };
}

/** Senders of these messages: contacts and users, read in two queries. */
async function sendersOf(env: Bindings, list: Message[]): Promise<Senders> {
  const ids = (type: string) => [...new Set(list.filter((m) => m.sender.type === type && m.sender.id).map((m) => m.sender.id!))];
  const db = database(env);
  const [contactRows, userRows] = await Promise.all([
    ids("contact").length ? db.select().from(contacts).where(inArray(contacts.id, ids("contact"))) : [],
    ids("user").length ? db.select({ id: users.id, name: users.name, email: users.email, role: users.role, available: users.available }).from(users).where(inArray(users.id, ids("user"))) : [],
  ]);
  return { contacts: new Map(contactRows.map((row) => [row.id, toContact(row)])), users: new Map(userRows.map((row) => [row.id, row as OurUser])) };
}

async function renderMessages(env: Bindings, accountId: string, list: Message[], echoId?: string) {
  const signed = await withDataUrls(env, list);
  const senders = await sendersOf(env, signed);
  const { n, account } = await numbers(env, accountId, wantsOf({ messages: signed }));
  return signed.map((m) => appMessage(m, senders, account, n, echoId));
}

/** Conversations in Chatwoot's form: contact, assignee, last message and this user's unread count each. */
async function renderConversations(env: Bindings, user: AppUser, rows: ConversationRow[]) {
  if (rows.length === 0) return [];
  const db = database(env);
  const ids = rows.map((row) => row.id);
  const assigneeIds = [...new Set(rows.map((row) => row.assigneeId).filter((id): id is string => id !== null))];
  const [people, assignees, lasts, unread] = await Promise.all([
    db
      .select({ contact: contacts, sourceId: contactInboxes.sourceId, conversationId: conversations.id })
      .from(conversations)
      .innerJoin(contacts, eq(contacts.id, conversations.contactId))
      .innerJoin(contactInboxes, eq(contactInboxes.id, conversations.contactInboxId))
      .where(inArray(conversations.id, ids)),
    assigneeIds.length ? db.select({ id: users.id, name: users.name, email: users.email, role: users.role, available: users.available }).from(users).where(inArray(users.id, assigneeIds)) : [],
    db
      .select()
      .from(messages)
      .where(and(inArray(messages.conversationId, ids), sql`${messages.seq} = (SELECT max(m2.seq) FROM messages m2 WHERE m2.conversation_id = ${messages.conversationId} AND m2.message_type <> 'activity')`)),
    unreadCounts(env, user.userId, ids),
  ]);
  const lastMessages = await withDataUrls(env, lasts.map(toMessage));
  const senders = await sendersOf(env, lastMessages);
  const conversationList = rows.map(toConversation);
  const { n, account } = await numbers(env, user.accountId, [
    ...wantsOf({ conversations: conversationList, messages: lastMessages, users: assigneeIds }),
  ]);
  const personOf = new Map(people.map((p) => [p.conversationId, p]));
  const assigneeOf = new Map(assignees.map((a) => [a.id, a as OurUser]));
  const lastOf = new Map(lastMessages.map((m) => [m.conversation_id, appMessage(m, senders, account, n)]));
  return conversationList.map((conversation) => {
    const person = personOf.get(conversation.id)!;
    return appConversation(
      conversation,
      {
        contact: toContact(person.contact),
        sourceId: person.sourceId,
        assignee: conversation.assignee_id ? (assigneeOf.get(conversation.assignee_id) ?? null) : null,
        lastMessage: lastOf.get(conversation.id) ?? null,
        unread: unread.get(conversation.id) ?? 0,
      },
      account,
      n,
    );
  });
}

export type AppConversationFilters = {
  assignee_type?: "me" | "unassigned" | "assigned" | "all";
  status?: ConversationStatus | "all";
  inbox_id?: string;
  labels?: string[];
  page?: number;
};

/** GET conversations: Chatwoot's `{ data: { meta, payload } }`, 25 a page, counts per assignee type. */
export async function listAppConversations(env: Bindings, user: AppUser, filters: AppConversationFilters) {
  const inboxId = filters.inbox_id === undefined ? undefined : ((await refOf(env, user.accountId, "inbox", filters.inbox_id)) ?? "none");
  const status = filters.status ?? "open";
  const common: (SQL | undefined)[] = [
    eq(conversations.accountId, user.accountId),
    memberInboxCondition(user),
    inboxId ? eq(conversations.inboxId, inboxId) : undefined,
    status === "all" ? undefined : eq(conversations.status, status),
    ...(filters.labels ?? []).map((label) => sql`EXISTS (SELECT 1 FROM json_each(${conversations.labels}) WHERE value = ${label})`),
  ];
  const assignee =
    filters.assignee_type === "me"
      ? eq(conversations.assigneeId, user.userId)
      : filters.assignee_type === "unassigned"
        ? isNull(conversations.assigneeId)
        : filters.assignee_type === "assigned"
          ? sql`${conversations.assigneeId} IS NOT NULL`
          : undefined;
  const page = Math.max(1, filters.page ?? 1);
  const db = database(env);
  const [rows, counts] = await Promise.all([
    db
      .select()
      .from(conversations)
      .where(and(...common, assignee))
      .orderBy(desc(conversations.lastActivityAt), desc(conversations.id))
      .limit(PAGE_SIZE)
      .offset((page - 1) * PAGE_SIZE),
    db
      .select({
        mine: sql<number>`coalesce(sum(${conversations.assigneeId} = ${user.userId}), 0)`,
        unassigned: sql<number>`coalesce(sum(${conversations.assigneeId} IS NULL), 0)`,
        assigned: sql<number>`coalesce(sum(${conversations.assigneeId} IS NOT NULL), 0)`,
        all: sql<number>`count(*)`,
      })
      .from(conversations)
      .where(and(...common))
      .get(),
  ]);
  return {
    data: {
      meta: { mine_count: counts?.mine ?? 0, unassigned_count: counts?.unassigned ?? 0, assigned_count: counts?.assigned ?? 0, all_count: counts?.all ?? 0 },
      payload: await renderConversations(env, user, rows),
    },
  };
}

export async function getAppConversation(env: Bindings, user: AppUser, displayId: string) {
  const row = await appConversationRow(env, user, displayId);
  return (await renderConversations(env, user, [row.conversation]))[0]!;
}

export type AppConversationInput = {
  source_id?: string;
  inbox_id: string;
  contact_id?: string;
  status?: ConversationStatus;
  assignee_id?: string;
  custom_attributes?: CustomAttributes;
  message?: { content?: string };
};

/** The user acting: the origin its events carry and the name activity lines show. */
const actorOf = (env: Bindings, user: AppUser): Promise<Actor> => actorFor(env, user, originOf(user));

/**
 * POST conversations: the contact is the one behind `source_id` in the inbox, or `contact_id` (linked to the
 * inbox with a new source id if it is not yet). An inbox that locks contacts to one conversation answers the
 * contact's unresolved one, as our own API does (docs/chatwoot.md).
 */
export async function createAppConversation(env: Bindings, user: AppUser, input: AppConversationInput) {
  const inboxId = await resolveRef(env, user.accountId, "inbox", input.inbox_id, new ApiError("inbox_not_found", `No inbox ${input.inbox_id} exists in this account.`));
  const inbox = await requireVisibleInbox(env, user.accountId, inboxId, user);
  let contact = input.source_id === undefined ? undefined : await findContactBySource(env, inbox, input.source_id);
  if (!contact && input.contact_id !== undefined) {
    const contactId = await resolveRef(env, user.accountId, "contact", input.contact_id, new ApiError("contact_not_found", `No contact ${input.contact_id} exists in this account.`));
    contact = await linkContact(env, user, inbox, contactId, input.source_id);
  }
  if (!contact) {
    throw new ApiError("validation_failed", "Send contact_id, or the source_id of a contact of this inbox.", {
      errors: [{ location: "body", pointer: "/source_id", detail: "no contact of this inbox has this source_id; send contact_id" }],
    });
  }
  const opened = await openConversation(env, inbox, contact, { customAttributes: input.custom_attributes }, originOf(user));
  const id = opened.conversation.id;
  if (opened.created) {
    const actor = await actorOf(env, user);
    if (input.message?.content) await postAgentMessage(env, user, actor, id, { content: input.message.content }, undefined);
    if (input.status && input.status !== "open") await changeConversationStatus(env, user, actor, id, { status: input.status });
    if (input.assignee_id !== undefined) {
      const assignee = await resolveRef(env, user.accountId, "user", input.assignee_id, new ApiError("validation_failed", `No agent ${input.assignee_id} in this account.`));
      await assignConversation(env, user, actor, id, assignee);
    }
  }
  const row = await requireVisibleConversation(env, user, id);
  return { created: opened.created, body: (await renderConversations(env, user, [row.conversation]))[0]! };
}

/** toggle_status: the status sent, or open ↔ resolved without one; snoozed_until in Unix seconds. */
export async function toggleAppStatus(env: Bindings, user: AppUser, displayId: string, input: { status?: ConversationStatus; snoozed_until?: number }) {
  const row = await appConversationRow(env, user, displayId);
  const status = input.status ?? (row.conversation.status === "resolved" ? "open" : "resolved");
  const snoozedUntil = status === "snoozed" && input.snoozed_until !== undefined ? new Date(input.snoozed_until * 1000).toISOString() : undefined;
  const changed = await changeConversationStatus(env, user, await actorOf(env, user), row.conversation.id, { status, snoozed_until: snoozedUntil });
  return { meta: {}, payload: { success: true, current_status: changed.status, conversation_id: Number(displayId), snoozed_until: input.snoozed_until ?? null } };
}

export async function assignApp(env: Bindings, user: AppUser, displayId: string, assigneeRaw: string | null) {
  const row = await appConversationRow(env, user, displayId);
  const assigneeId =
    assigneeRaw === null ? null : await resolveRef(env, user.accountId, "user", assigneeRaw, new ApiError("validation_failed", `No agent ${assigneeRaw} in this account.`));
  await assignConversation(env, user, await actorOf(env, user), row.conversation.id, assigneeId);
  if (assigneeId === null) return null;
  const agent = await database(env).select().from(users).where(eq(users.id, assigneeId)).get();
  const { n, account } = await numbers(env, user.accountId, [["user", assigneeId]]);
  return { ...userPushData(agent!, n), email: agent!.email, role: agent!.role, confirmed: true, account_id: account };
}

export async function appLabels(env: Bindings, user: AppUser, displayId: string) {
  return { payload: (await appConversationRow(env, user, displayId)).conversation.labels };
}

export async function setAppLabels(env: Bindings, user: AppUser, displayId: string, labels: string[]) {
  const row = await appConversationRow(env, user, displayId);
  const changed = await labelConversation(env, user, await actorOf(env, user), row.conversation.id, labels);
  return { payload: changed.labels };
}

/** GET messages: `{ meta, payload }`, the 20 newest (or those before `before`), private notes included. */
export async function listAppMessages(env: Bindings, user: AppUser, displayId: string, before?: string) {
  const row = await appConversationRow(env, user, displayId);
  let beforeSeq: number | null = null;
  if (before !== undefined && parseNumber(before) !== null) {
    const messageId = await refOf(env, user.accountId, "message", before);
    const target = messageId
      ? await database(env).select({ seq: messages.seq }).from(messages).where(and(eq(messages.conversationId, row.conversation.id), eq(messages.id, messageId))).get()
      : undefined;
    beforeSeq = target?.seq ?? null;
  }
  const rows = await database(env)
    .select()
    .from(messages)
    .where(and(eq(messages.conversationId, row.conversation.id), beforeSeq === null ? undefined : lt(messages.seq, beforeSeq)))
    .orderBy(desc(messages.seq))
    .limit(MESSAGES_PAGE);
  const payload = await renderMessages(env, user.accountId, rows.reverse().map(toMessage));
  const [conversation] = await renderConversations(env, user, [row.conversation]);
  return {
    meta: {
      labels: row.conversation.labels,
      additional_attributes: {},
      contact: conversation!.meta.sender,
      assignee: conversation!.meta.assignee,
      agent_last_seen_at: 0,
      assignee_last_seen_at: 0,
    },
    payload,
  };
}

export type AppMessageInput = {
  content?: string;
  message_type?: "incoming" | "outgoing";
  private?: boolean;
  source_id?: string;
  echo_id?: string;
  content_attributes?: CustomAttributes;
  attachment_ids?: string[];
};

/**
 * POST messages: an agent's reply or private note (or, on our API inboxes as in Chatwoot's, an incoming
 * message). `source_id` dedupes forever within the inbox; `echo_id` does within the conversation.
 */
export async function createAppMessage(env: Bindings, user: AppUser, displayId: string, input: AppMessageInput) {
  const row = await appConversationRow(env, user, displayId);
  const sourceId = input.source_id ?? (input.echo_id === undefined ? undefined : await echoSourceId(`${row.conversation.id}:${user.userId}`, input.echo_id));
  let appended;
  if (input.message_type === "incoming") {
    if ((input.attachment_ids?.length ?? 0) > 0) {
      throw new ApiError("validation_failed", "Files of the contact's messages go through the Client API or our integrator API; here files go with replies and notes.", {
        errors: [{ location: "body", pointer: "/attachments", detail: "not with message_type incoming" }],
      });
    }
    appended = await appendIncoming(
      env,
      { conversationId: row.conversation.id, contact: row.contact, contactInbox: row.contactInbox, conversation: row.conversation },
      { content: input.content, source_id: sourceId, content_attributes: input.content_attributes, attachment_ids: input.attachment_ids },
      originOf(user),
      undefined,
    );
  } else {
    appended = await postAgentMessage(
      env,
      user,
      await actorOf(env, user),
      row.conversation.id,
      { content: input.content, private: input.private, source_id: sourceId, content_attributes: input.content_attributes, attachment_ids: input.attachment_ids },
      undefined,
    );
  }
  const [body] = await renderMessages(env, user.accountId, [appended.message], input.echo_id);
  return { created: appended.created, body: body! };
}

/** PATCH a message's status (API inboxes): the delivery receipt of an outgoing reply; failed takes external_error. */
export async function updateAppMessageStatus(env: Bindings, user: AppUser, displayId: string, messageRaw: string, input: { status: "delivered" | "read" | "failed"; external_error?: string }) {
  const row = await appConversationRow(env, user, displayId);
  const messageId = await resolveRef(env, user.accountId, "message", messageRaw, new ApiError("message_not_found", `No message ${messageRaw} exists in this conversation.`));
  const message = await reportMessageStatus(env, row.conversation.inboxId, messageId, { status: input.status, reason: input.external_error ?? null }, originOf(user));
  if (message.conversation_id !== row.conversation.id) throw new ApiError("message_not_found", `No message ${messageRaw} exists in this conversation.`);
  return (await renderMessages(env, user.accountId, [message]))[0]!;
}

/** DELETE a message: Chatwoot's soft delete (content replaced, content_attributes.deleted, files dropped); answers the message. */
export async function deleteAppMessage(env: Bindings, user: AppUser, displayId: string, messageRaw: string) {
  const row = await appConversationRow(env, user, displayId);
  const missing = new ApiError("message_not_found", `No message ${messageRaw} exists in this conversation.`);
  const messageId = await resolveRef(env, user.accountId, "message", messageRaw, missing);
  const message = await deleteMessage(env, user, await actorOf(env, user), row.conversation.id, messageId);
  return (await renderMessages(env, user.accountId, [message]))[0]!;
}

export type AppContactInput = {
  inbox_id?: string;
  source_id?: string;
  name?: string | null;
  email?: string | null;
  phone_number?: string | null;
  identifier?: string | null;
  custom_attributes?: CustomAttributes;
};

const asCaller = (user: AppUser): ContactCaller => ({ kind: "user", accountId: user.accountId, userId: user.userId, role: user.role, tokenId: user.tokenId });

/** POST contacts: `{ payload: { contact, contact_inbox } }`. Contacts live in an inbox here: inbox_id is required. */
export async function createAppContact(env: Bindings, user: AppUser, input: AppContactInput) {
  if (input.inbox_id === undefined) {
    throw new ApiError("validation_failed", "inbox_id is required: an edge-inbox contact is reached through an inbox (docs/chatwoot.md).", {
      errors: [{ location: "body", pointer: "/inbox_id", detail: "required" }],
    });
  }
  const inboxId = await resolveRef(env, user.accountId, "inbox", input.inbox_id, new ApiError("inbox_not_found", `No inbox ${input.inbox_id} exists in this account.`));
  const inbox = await requireVisibleInbox(env, user.accountId, inboxId, user);
  const attributes = {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.email !== undefined ? { email: input.email } : {}),
    ...(input.phone_number !== undefined ? { phone: input.phone_number } : {}),
    ...(input.identifier !== undefined ? { identifier: input.identifier } : {}),
    ...(input.custom_attributes !== undefined ? { custom_attributes: input.custom_attributes } : {}),
  };
  const upserted = await upsertContact(env, inbox, input.source_id ?? crypto.randomUUID(), attributes, asCaller(user), originOf(user));
  const { n, account } = await numbers(env, user.accountId, [["contact", upserted.contact.id], ["inbox", inbox.id]]);
  const link = { inbox: toOurInbox(inbox), sourceId: upserted.contactInbox.sourceId };
  return {
    created: upserted.created,
    body: { payload: { contact: appContact(toContact(upserted.contact), [link], account, n), contact_inbox: contactInbox(link.inbox, link.sourceId, n) } },
  };
}

async function contactWithInboxes(env: Bindings, user: AppUser, contactId: string) {
  const contact = await getAccountContact(env, user, contactId);
  const rows = contact.inboxes.length
    ? await database(env).select().from(inboxes).where(inArray(inboxes.id, contact.inboxes.map((link) => link.inbox_id)))
    : [];
  const byId = new Map(rows.map((row) => [row.id, toOurInbox(row)]));
  const links = contact.inboxes.flatMap((link) => (byId.has(link.inbox_id) ? [{ inbox: byId.get(link.inbox_id)!, sourceId: link.source_id }] : []));
  return { contact, links };
}

export async function getAppContact(env: Bindings, user: AppUser, raw: string) {
  const contactId = await resolveRef(env, user.accountId, "contact", raw, new ApiError("contact_not_found", `No contact ${raw} exists in this account.`));
  const { contact, links } = await contactWithInboxes(env, user, contactId);
  const { n, account } = await numbers(env, user.accountId, [["contact", contact.id], ...links.map((link) => ["inbox", link.inbox.id] as [NumericKind, string])]);
  return { payload: appContact(contact, links, account, n) };
}

/** contacts/search: name, email, phone or source id (substring), 15 a page: `{ meta: { count, current_page }, payload }`. */
export async function searchAppContacts(env: Bindings, user: AppUser, q: string, page: number) {
  const limit = 15 * Math.max(1, page);
  const found = await listAccountContacts(env, user, { q, limit });
  const slice = found.data.slice(limit - 15);
  const { n, account } = await numbers(env, user.accountId, slice.map((c) => ["contact", c.id] as [NumericKind, string]));
  return { meta: { count: slice.length, current_page: Math.max(1, page) }, payload: slice.map((c) => appContact(c, undefined, account, n)) };
}

/** Links a contact of the account to an inbox under a source id (generated when absent); an existing link is returned. */
async function linkContact(env: Bindings, user: AppUser, inbox: InboxRow, contactId: string, sourceId: string | undefined) {
  await getAccountContact(env, user, contactId);
  const db = database(env);
  const existing = await db
    .select()
    .from(contactInboxes)
    .where(and(eq(contactInboxes.inboxId, inbox.id), eq(contactInboxes.contactId, contactId), sourceId === undefined ? undefined : eq(contactInboxes.sourceId, sourceId)))
    .limit(1)
    .get();
  const source = existing?.sourceId ?? sourceId ?? crypto.randomUUID();
  if (!existing) {
    const now = Date.now();
    await db
      .insert(contactInboxes)
      .values({ id: newId("ci", now), accountId: user.accountId, inboxId: inbox.id, contactId, sourceId: source, createdAt: now })
      .onConflictDoNothing();
  }
  const found = await findContactBySource(env, inbox, source);
  if (!found || found.contact.id !== contactId) {
    throw new ApiError("validation_failed", `source_id '${source}' already belongs to another contact of this inbox.`, {
      errors: [{ location: "body", pointer: "/source_id", detail: "taken in this inbox" }],
    });
  }
  return found;
}

/** POST contacts/{id}/contact_inboxes: `{ source_id, inbox }`. */
export async function createAppContactInbox(env: Bindings, user: AppUser, raw: string, input: { inbox_id: string; source_id?: string }) {
  const contactId = await resolveRef(env, user.accountId, "contact", raw, new ApiError("contact_not_found", `No contact ${raw} exists in this account.`));
  const inboxId = await resolveRef(env, user.accountId, "inbox", input.inbox_id, new ApiError("inbox_not_found", `No inbox ${input.inbox_id} exists in this account.`));
  const inbox = await requireVisibleInbox(env, user.accountId, inboxId, user);
  const linked = await linkContact(env, user, inbox, contactId, input.source_id);
  const { n } = await numbers(env, user.accountId, [["inbox", inbox.id]]);
  return contactInbox(toOurInbox(inbox), linked.contactInbox.sourceId, n);
}

export async function listAppInboxes(env: Bindings, user: AppUser) {
  const page = await listInboxes(env, user.accountId, user, { limit: 100 });
  const rows = page.data.length ? await database(env).select().from(inboxes).where(inArray(inboxes.id, page.data.map((inbox) => inbox.id))) : [];
  const { n } = await numbers(env, user.accountId, rows.map((row) => ["inbox", row.id] as [NumericKind, string]));
  return { payload: rows.sort((a, b) => n("inbox", a.id) - n("inbox", b.id)).map((row) => appInbox(toOurInbox(row), n)) };
}

export async function getAppInbox(env: Bindings, user: AppUser, raw: string) {
  const inboxId = await resolveRef(env, user.accountId, "inbox", raw, new ApiError("inbox_not_found", `No inbox ${raw} exists in this account.`));
  const inbox = await requireVisibleInbox(env, user.accountId, inboxId, user);
  const { n } = await numbers(env, user.accountId, [["inbox", inbox.id]]);
  return appInbox(toOurInbox(inbox), n);
}
