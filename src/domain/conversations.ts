import { waitUntil } from "cloudflare:workers";
import { and, desc, eq, getTableColumns, inArray, ne, sql } from "drizzle-orm";
import { database, mapRow, prepare, prepareCompiled, prepareInsertWhere, runBatch, type CompiledCondition } from "../db/client";
import { contactInboxes, contacts, conversations, type CustomAttributes, type Origin } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { commitWithEvents, publish } from "../delivery/outbox";
import { insertEventWhere, newEvent, type EventRow } from "../delivery/events";
import { newId } from "../core/ids";
import { beyondKey, decodeCursor, page } from "../core/pagination";
import { singleOpenKey, toContact, toConversation, type ContactInboxRow, type ContactRow, type ConversationRow } from "../conversation/resources";
import { forwardToRealtime } from "../realtime/forward";

// Routes answer with this shape; it is defined with the conversation, whose events carry it.
export { toConversation };

type InboxSettings = { id: string; accountId: string; lockToSingleConversation: boolean };

/**
 * In one D1 round trip: the contact behind a source id and the conversation to continue with it — its
 * locked open conversation if the inbox locks contacts to one, else its most recent unresolved one.
 */
export async function findContactAndConversation(env: Bindings, inbox: { id: string }, sourceId: string) {
  return decodeContactLookup(await runBatch(env, contactLookupStatements(env, inbox, sourceId)));
}

/**
 * The look-up's statements, by the inbox's id or — to run in the same round trip as the token
 * (resolveCaller), before the inbox is known — by its identifier (the live inbox with it, as the caller
 * resolution reads it). Compiled once per isolate (prepareCompiled).
 */
export function contactLookupStatements(env: Bindings, inbox: { id: string } | { identifier: string }, sourceId: string): D1PreparedStatement[] {
  const db = database(env);
  const P = sql.placeholder;
  const byIdentifier = "identifier" in inbox;
  const inboxId = byIdentifier ? sql`(SELECT id FROM inboxes WHERE identifier = ${P("identifier")} AND deleted_at IS NULL)` : P("inboxId");
  const bySource = () => and(eq(contactInboxes.inboxId, inboxId as unknown as string), eq(contactInboxes.sourceId, P("sourceId")));
  const values = byIdentifier ? { identifier: inbox.identifier, sourceId } : { inboxId: inbox.id, sourceId };
  const key = byIdentifier ? "by-identifier" : "by-id";
  // Raw rows are mapped to drizzle's shapes (decodeContactLookup). The third selects the conversation's
  // columns only, so the join's duplicate names never reach the row.
  return [
    prepareCompiled(env, `lookup.contact-inbox.${key}`, () => db.select().from(contactInboxes).where(bySource()).limit(1), values),
    prepareCompiled(
      env,
      `lookup.contact.${key}`,
      () =>
        db
          .select()
          .from(contacts)
          .where(inArray(contacts.id, db.select({ id: contactInboxes.contactId }).from(contactInboxes).where(bySource())))
          .limit(1),
      values,
    ),
    prepareCompiled(
      env,
      `lookup.open-conversation.${key}`,
      () =>
        db
          .select(getTableColumns(conversations))
          .from(conversations)
          .innerJoin(contactInboxes, eq(contactInboxes.id, conversations.contactInboxId))
          .where(and(bySource(), ne(conversations.status, "resolved")))
          .orderBy(desc(sql`${conversations.singleOpenKey} IS NOT NULL`), desc(conversations.createdAt))
          .limit(1),
      values,
    ),
  ];
}

export type ContactLookup = {
  contact: { contact: ContactRow; contactInbox: ContactInboxRow } | undefined;
  conversation: ConversationRow | undefined;
};

/** The rows of contactLookupStatements as the contact (with its inbox link) and the conversation to continue. */
export function decodeContactLookup([contactInboxRows, contactRows, conversationRows]: Record<string, unknown>[][]): ContactLookup {
  const contactInbox = contactInboxRows?.[0] && mapRow<ContactInboxRow>(contactInboxes, contactInboxRows[0]);
  const contact = contactRows?.[0] && mapRow<ContactRow>(contacts, contactRows[0]);
  const conversation = conversationRows?.[0] && mapRow<ConversationRow>(conversations, conversationRows[0]);
  return {
    contact: contactInbox && contact ? { contact, contactInbox } : undefined,
    conversation: conversation || undefined,
  };
}

export type OpenedConversation = { conversation: ConversationRow; created: boolean };

/**
 * Find-or-create, race-free: by the integrator's thread id when given; else, when the inbox locks contacts
 * to one conversation, the contact's unresolved one; else a new conversation. The insert relies on the
 * unique indexes (inbox_id, source_id) and single_open_key, never on check-then-insert.
 */
export async function openConversation(
  env: Bindings,
  inbox: InboxSettings,
  contact: { contact: ContactRow; contactInbox: ContactInboxRow },
  input: { sourceId?: string; customAttributes?: CustomAttributes },
  origin: Origin,
  /** The caller read the contact's conversations a moment ago and found none to continue: skip the first look (the insert still cannot duplicate one). */
  knownNone = false,
): Promise<OpenedConversation> {
  const db = database(env);
  const sourceId = input.sourceId ?? null;
  const findWinner = async () => {
    if (sourceId !== null) {
      return db
        .select()
        .from(conversations)
        .where(and(eq(conversations.inboxId, inbox.id), eq(conversations.sourceId, sourceId)))
        .get();
    }
    if (inbox.lockToSingleConversation) {
      return db.select().from(conversations).where(eq(conversations.singleOpenKey, contact.contactInbox.id)).get();
    }
    return undefined;
  };
  const checkOwner = (row: ConversationRow) => {
    if (row.contactInboxId !== contact.contactInbox.id) {
      throw new ApiError(
        "invalid_state",
        `Conversation source_id '${sourceId}' already belongs to another contact's conversation (${row.id}) in this inbox.`,
      );
    }
    return row;
  };

  const existing = knownNone && sourceId === null ? undefined : await findWinner();
  if (existing) return { conversation: checkOwner(existing), created: false };

  const { row, event } = conversationToOpen(inbox, contact, input, origin);
  const { results, committed } = await commitWithEvents(env, [
    // RETURNING says in the same round trip whether this row won (a unique index may have refused it).
    prepare(env, db.insert(conversations).values(row).onConflictDoNothing().returning({ id: conversations.id })),
    insertEventWhere(env, event, sql`EXISTS (SELECT 1 FROM conversations WHERE id = ${row.id})`),
  ], [event]);
  if ((results[0]?.results?.length ?? 0) > 0) {
    await publish(env, committed);
    waitUntil(forwardToRealtime(env, [event]));
    return { conversation: row, created: true };
  }
  const winner = await findWinner();
  if (!winner) throw new Error(`conversation insert for ${contact.contactInbox.id} lost a race but no winner was found`);
  return { conversation: checkOwner(winner), created: false };
}

/** INSERT of a conversation row when `condition` holds (and no unique index refuses it): written in a batch with other changes. */
export function insertConversationWhere(env: Bindings, row: ConversationRow, condition: CompiledCondition): D1PreparedStatement {
  return prepareInsertWhere(env, conversations, row, condition, { onConflictDoNothing: true });
}

/** A new conversation of the contact and its conversation_created (event 1 of the conversation), not yet written. */
export function conversationToOpen(
  inbox: InboxSettings,
  contact: { contact: ContactRow; contactInbox: ContactInboxRow },
  input: { sourceId?: string; customAttributes?: CustomAttributes },
  origin: Origin,
  now = Date.now(),
): { row: ConversationRow; event: EventRow } {
  const sourceId = input.sourceId ?? null;
  const row: ConversationRow = {
    id: newId("cnv", now),
    accountId: inbox.accountId,
    inboxId: inbox.id,
    contactId: contact.contact.id,
    contactInboxId: contact.contactInbox.id,
    sourceId,
    status: "open",
    assigneeId: null,
    labels: [],
    customAttributes: input.customAttributes ?? {},
    snoozedUntil: null,
    singleOpenKey: null,
    lastSeq: 0,
    // conversation_created is event 1 of the conversation.
    lastEventSequence: 1,
    lastActivityAt: now,
    createdAt: now,
    updatedAt: now,
  };
  row.singleOpenKey = singleOpenKey(inbox, row);
  const event = newEvent({
    type: "conversation_created",
    accountId: inbox.accountId,
    inboxId: inbox.id,
    conversationId: row.id,
    sequence: 1,
    origin,
    data: { conversation: toConversation(row), contact: toContact(contact.contact, contact.contactInbox.sourceId) },
    now,
  });
  return { row, event };
}

export async function listContactConversations(
  env: Bindings,
  contactInboxId: string,
  options: { limit: number; cursor?: string },
) {
  const after = decodeCursor(options.cursor, { created_at: "number", id: "string" });
  const rows = await database(env)
    .select()
    .from(conversations)
    .where(
      and(
        eq(conversations.contactInboxId, contactInboxId),
        beyondKey(conversations.createdAt, conversations.id, after && { time: after.created_at, id: after.id }, "desc"),
      ),
    )
    .orderBy(desc(conversations.createdAt), desc(conversations.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ created_at: row.createdAt, id: row.id }));
  return { data: result.data.map(toConversation), next_cursor: result.next_cursor };
}

/** A conversation of this inbox with its contact, or a 404 naming the id. */
export async function getInboxConversation(env: Bindings, inboxId: string, conversationId: string) {
  const row = await database(env)
    .select({ conversation: conversations, contact: contacts, contactInbox: contactInboxes })
    .from(conversations)
    .innerJoin(contacts, eq(contacts.id, conversations.contactId))
    .innerJoin(contactInboxes, eq(contactInboxes.id, conversations.contactInboxId))
    .where(and(eq(conversations.inboxId, inboxId), eq(conversations.id, conversationId)))
    .get();
  if (!row) throw notFound("conversation_not_found", "conversation", conversationId);
  return row;
}
