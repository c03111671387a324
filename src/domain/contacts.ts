import { and, eq, sql } from "drizzle-orm";
import { database, isUniqueViolation, prepare } from "../db/client";
import { contactInboxes, contacts, type CustomAttributes, type Origin } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { commitWithEvents, publish } from "../delivery/outbox";
import { insertEventWhere, newEvent } from "../delivery/events";
import { newId } from "../core/ids";
import { toContact, type ContactInboxRow, type ContactRow } from "../conversation/resources";

// Routes answer with this shape; it is defined with the conversation, whose events carry it.
export { toContact };
/** A custom attribute's value, as request bodies carry it. */
export type { Json } from "../db/schema";

export type ContactAttributes = {
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  identifier?: string | null;
  custom_attributes?: CustomAttributes;
};

type InboxRef = { id: string; accountId: string };

/** The contact behind a source id in an inbox, or undefined. */
export async function findContactBySource(env: Bindings, inbox: { id: string }, sourceId: string) {
  return database(env)
    .select({ contact: contacts, contactInbox: contactInboxes })
    .from(contactInboxes)
    .innerJoin(contacts, eq(contacts.id, contactInboxes.contactId))
    .where(and(eq(contactInboxes.inboxId, inbox.id), eq(contactInboxes.sourceId, sourceId)))
    .get();
}

export type UpsertedContact = { contact: ContactRow; contactInbox: ContactInboxRow; created: boolean };

/**
 * Creates or updates the contact behind `sourceId` in this inbox. Race-free: concurrent calls for a new
 * source id insert with ON CONFLICT DO NOTHING against the unique indexes and then read back the one row
 * that won; the loser's would-be contact is removed in the same transaction. An `identifier` already
 * known in the account links this source id to that person instead of creating a second contact.
 */
export async function upsertContact(
  env: Bindings,
  inbox: InboxRef,
  sourceId: string,
  attributes: ContactAttributes,
  origin: Origin,
  /** The caller already read it (undefined: not looked up yet; null: looked up, absent). */
  known?: { contact: ContactRow; contactInbox: ContactInboxRow } | null,
): Promise<UpsertedContact> {
  const existing = known === undefined ? await findContactBySource(env, inbox, sourceId) : (known ?? undefined);
  if (existing) return { ...(await updateContact(env, inbox, existing, attributes, origin)), created: false };

  const db = database(env);
  const now = Date.now();
  const contactId = newId("ct", now);
  const contactInboxId = newId("ci", now);
  const row: ContactRow = {
    id: contactId,
    accountId: inbox.accountId,
    name: attributes.name ?? null,
    email: attributes.email ?? null,
    phone: attributes.phone ?? null,
    identifier: attributes.identifier ?? null,
    customAttributes: attributes.custom_attributes ?? {},
    // Contact events are ordered per contact: contact_created is 1, each update the next.
    lastEventSequence: 1,
    createdAt: now,
    updatedAt: now,
  };
  const identifier = row.identifier;
  const event = newEvent({
    type: "contact_created",
    accountId: inbox.accountId,
    inboxId: inbox.id,
    conversationId: null,
    sequence: 1,
    origin,
    data: { contact: toContact(row, sourceId) },
    now,
  });
  const { committed } = await commitWithEvents(env, [
    // Conflicts only on (account_id, identifier): the person exists already and is linked below.
    prepare(env, db.insert(contacts).values(row).onConflictDoNothing()),
    prepare(env, sql`INSERT INTO contact_inboxes (id, account_id, inbox_id, contact_id, source_id, created_at)
      SELECT ${contactInboxId}, ${inbox.accountId}, ${inbox.id}, c.id, ${sourceId}, ${now} FROM contacts c
      WHERE c.id = ${contactId} OR (${identifier} IS NOT NULL AND c.account_id = ${inbox.accountId} AND c.identifier = ${identifier})
      ORDER BY c.id = ${contactId} DESC LIMIT 1
      ON CONFLICT DO NOTHING`),
    prepare(env, sql`DELETE FROM contacts WHERE id = ${contactId}
      AND NOT EXISTS (SELECT 1 FROM contact_inboxes WHERE contact_id = ${contactId})`),
    insertEventWhere(env, event, sql`EXISTS (SELECT 1 FROM contacts WHERE id = ${contactId})`),
  ], [event]);

  const winner = await findContactBySource(env, inbox, sourceId);
  if (!winner) throw new Error(`contact_inboxes row for source id ${sourceId} vanished after insert`);
  const created = winner.contactInbox.id === contactInboxId;
  if (winner.contact.id === contactId) {
    await publish(env, committed);
    return { ...winner, created };
  }
  // Linked to a contact that already existed (same identifier), or a concurrent request won: apply our attributes.
  return { ...(await updateContact(env, inbox, winner, attributes, origin)), created };
}

const scalarFields = ["name", "email", "phone", "identifier"] as const;

/** Applies the given attributes (custom_attributes are merged key by key); writes nothing if nothing changes. */
async function updateContact(
  env: Bindings,
  inbox: InboxRef,
  current: { contact: ContactRow; contactInbox: ContactInboxRow },
  attributes: ContactAttributes,
  origin: Origin,
): Promise<{ contact: ContactRow; contactInbox: ContactInboxRow }> {
  const before = current.contact;
  const after: ContactRow = { ...before };
  const changed: string[] = [];
  for (const field of scalarFields) {
    const value = attributes[field];
    if (value !== undefined && value !== before[field]) {
      after[field] = value;
      changed.push(field);
    }
  }
  if (attributes.custom_attributes) {
    const merged = { ...before.customAttributes, ...attributes.custom_attributes };
    if (JSON.stringify(merged) !== JSON.stringify(before.customAttributes)) {
      after.customAttributes = merged;
      changed.push("custom_attributes");
    }
  }
  if (changed.length === 0) return current;

  const db = database(env);
  const now = Date.now();
  after.updatedAt = now;
  const event = newEvent({
    type: "contact_updated",
    accountId: inbox.accountId,
    inboxId: inbox.id,
    conversationId: null,
    // Computed in the transaction below: the contact's next event sequence.
    sequence: null,
    origin,
    data: { contact: toContact(after, current.contactInbox.sourceId), changed_attributes: changed },
    now,
  });
  let committed;
  try {
    ({ committed } = await commitWithEvents(env, [
      prepare(env, db
        .update(contacts)
        .set({
          name: after.name,
          email: after.email,
          phone: after.phone,
          identifier: after.identifier,
          customAttributes: after.customAttributes,
          lastEventSequence: sql`${contacts.lastEventSequence} + 1`,
          updatedAt: now,
        })
        .where(and(eq(contacts.accountId, inbox.accountId), eq(contacts.id, before.id)))),
      insertEventWhere(env, event, sql`1`, sql`(SELECT last_event_sequence FROM contacts WHERE id = ${before.id})`),
    ], [event]));
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ApiError("identifier_taken", `Another contact in this account already has identifier '${after.identifier}'.`);
    }
    throw error;
  }
  await publish(env, committed);
  return { contact: after, contactInbox: current.contactInbox };
}
