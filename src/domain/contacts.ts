import { waitUntil } from "cloudflare:workers";
import { and, eq, sql, type SQL } from "drizzle-orm";
import { database, isUniqueViolation, prepare, prepareCompiled, prepareInsert, prepareInsertWhere, type CompiledCondition } from "../db/client";
import { contactInboxes, contacts, messages, type CustomAttributes, type Origin } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { commitWithEvents, publish } from "../delivery/outbox";
import { publishAndAttempt } from "../delivery/direct";
import { insertEventWhere, newEvent } from "../delivery/events";
import { newId } from "../core/ids";
import { iso } from "../core/time";
import { toContact, type ContactInboxRow, type ContactRow, type ConversationRow, type MessageRow } from "../conversation/resources";
import { forwardToRealtime } from "../realtime/forward";
import { ACCOUNT_SCOPE, identifierScope, type IdentityInbox } from "./identity";
import { contactLookupStatements, decodeContactLookup, insertConversationWhere } from "./conversations";
import type { EventRow } from "../delivery/events";
import type { Caller } from "./tokens";

// Routes answer with this shape; it is defined with the conversation, whose events carry it.
export { toContact };
export type { ContactInboxRow, ContactRow };
/** A custom attribute's value, as request bodies carry it. */
export type { Json } from "../db/schema";

export type ContactAttributes = {
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  identifier?: string | null;
  /** HMAC-SHA256 (hex) of identifier with the inbox's identity secret: the proof that links across inboxes. */
  identifier_hash?: string;
  custom_attributes?: CustomAttributes;
};

type InboxRef = { id: string; accountId: string } & IdentityInbox;
export type ContactCaller = Exclude<Caller, { kind: "platform" }>;

/** The contact behind a source id in an inbox, or undefined. */
export async function findContactBySource(env: Bindings, inbox: { id: string }, sourceId: string) {
  return database(env)
    .select({ contact: contacts, contactInbox: contactInboxes })
    .from(contactInboxes)
    .innerJoin(contacts, eq(contacts.id, contactInboxes.contactId))
    .where(and(eq(contactInboxes.inboxId, inbox.id), eq(contactInboxes.sourceId, sourceId)))
    .get();
}

export type UpsertedContact = {
  contact: ContactRow;
  contactInbox: ContactInboxRow;
  created: boolean;
  /**
   * The conversation `options.open` asked for, as committed with the new contact — with its first message,
   * if `open` gave one (absent when the contact existed or was linked, or when the first message's
   * source_id was taken in the inbox: then neither was written).
   */
  opened?: ConversationRow;
  /**
   * When a concurrent request created this contact first (with its conversation): that conversation, the one
   * a look-up would continue, read in the same batch.
   */
  continued?: ConversationRow;
};

/**
 * A conversation to open together with a new contact (the one-call message: domain/incoming.ts): its row as
 * committed, conversation_created and — when the batch can decide everything about it — its first message's
 * rows and events (built by the conversation's own change, ../conversation/changes/message.ts), so the
 * message commits with the contact and its conversation in one transaction.
 */
export type OpenWithContact = (
  contact: { contact: ContactRow; contactInbox: ContactInboxRow },
  now: number,
) => {
  row: ConversationRow;
  /** conversation_created. */
  event: EventRow;
  /** The first message's rows and events (none: the caller appends it later, through the object). */
  messages: MessageRow[];
  messageEvents: EventRow[];
};

/**
 * Creates or updates the contact behind `sourceId` in this inbox. Race-free: concurrent calls for a new
 * source id insert with ON CONFLICT DO NOTHING against the unique indexes and then read back the one row
 * that won; the loser's would-be contact is removed in the same transaction. An `identifier` already
 * known in the same scope links this source id to that person instead of creating a second contact: a
 * proven identifier (identity.ts) finds the person anywhere in the account, an unproven one only among
 * this inbox's own contacts — or, with `isolateUnproven` (Chatwoot's credential-less Client API, whose
 * callers are anyone), nowhere: it is kept on this source id's contact and links to no one.
 */
export async function upsertContact(
  env: Bindings,
  inbox: InboxRef,
  sourceId: string,
  claimed: ContactAttributes,
  caller: ContactCaller,
  origin: Origin,
  /** The caller already read it (undefined: not looked up yet; null: looked up, absent). */
  known?: { contact: ContactRow; contactInbox: ContactInboxRow } | null,
  options: {
    isolateUnproven?: boolean;
    open?: OpenWithContact;
    /** Leads a new contact's batch (a remembered caller's guard: ../conversation/guard.ts); when it fails, nothing is written. */
    guard?: D1PreparedStatement;
  } = {},
): Promise<UpsertedContact> {
  const claimedScope = await identifierScope(inbox, caller, claimed);
  const scope = options.isolateUnproven && claimedScope === inbox.id ? `${inbox.id}/${sourceId}` : claimedScope;
  const { identifier_hash: _proof, ...attributes } = claimed;
  const existing = known === undefined ? await findContactBySource(env, inbox, sourceId) : (known ?? undefined);
  if (!existing) checkNewAttributes(attributes.custom_attributes);
  if (existing) return { ...(await updateThroughInbox(env, inbox, existing, attributes, scope, origin)), created: false };

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
    identifierScope: attributes.identifier ? (scope ?? null) : null,
    // Stored as a merge would leave them: a key sent as null is absent.
    customAttributes: Object.fromEntries(Object.entries(attributes.custom_attributes ?? {}).filter(([, value]) => value !== null)),
    // Contact events are ordered per contact: contact_created is 1, each update the next.
    lastEventSequence: 1,
    createdAt: now,
    updatedAt: now,
  };
  const identifier = row.identifier;
  const identifierScopeValue = row.identifierScope;
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
  // With options.open, the contact's first conversation is committed in the same batch, written only if
  // this contact is the one created (not linked to an existing person, not beaten by a concurrent request).
  const opening = options.open?.(
    { contact: row, contactInbox: { id: contactInboxId, accountId: inbox.accountId, inboxId: inbox.id, contactId, sourceId, createdAt: now, pubsubToken: null } },
    now,
  );
  const P = sql.placeholder;
  const ours: CompiledCondition = {
    key: "contact.ours",
    build: () => sql`EXISTS (SELECT 1 FROM contacts WHERE id = ${P("ours")})`,
    values: { ours: contactId },
  };
  // Compiled once per isolate (prepareCompiled): every new contact's batch runs these.
  const statements = [
    ...(options.guard ? [options.guard] : []),
    // Conflicts only on (account_id, identifier_scope, identifier): the person exists already and is linked below.
    prepareInsert(env, contacts, [row], { onConflictDoNothing: true }),
    prepareCompiled(
      env,
      "contact.insert-link",
      () => sql`INSERT INTO contact_inboxes (id, account_id, inbox_id, contact_id, source_id, created_at)
      SELECT ${P("id")}, ${P("account")}, ${P("inbox")}, c.id, ${P("source")}, ${P("now")} FROM contacts c
      WHERE c.id = ${P("contact")} OR (${P("identifier")} IS NOT NULL AND c.account_id = ${P("account")}
        AND c.identifier_scope = ${P("scope")} AND c.identifier = ${P("identifier")})
      ORDER BY c.id = ${P("contact")} DESC LIMIT 1
      ON CONFLICT DO NOTHING`,
      { id: contactInboxId, account: inbox.accountId, inbox: inbox.id, source: sourceId, now, contact: contactId, identifier, scope: identifierScopeValue },
    ),
    prepareCompiled(
      env,
      "contact.delete-unlinked",
      () => sql`DELETE FROM contacts WHERE id = ${P("contact")} AND NOT EXISTS (SELECT 1 FROM contact_inboxes WHERE contact_id = ${P("contact")})`,
      { contact: contactId },
    ),
    insertEventWhere(env, event, ours),
  ];
  if (opening) {
    // The conversation only with this contact, and — with a first message — only if the message's source_id
    // is free in the inbox (else neither is written, and the caller continues as for a contact without one).
    const sourceIds = opening.messages.flatMap((message) => (message.sourceId === null ? [] : [message.sourceId]));
    const free: CompiledCondition = {
      key: `contact.ours+free:${sourceIds.length}`,
      build: () =>
        sql.join([
          ours.build(),
          ...sourceIds.map((_, i) => sql` AND NOT EXISTS (SELECT 1 FROM messages WHERE inbox_id = ${P("freeIn")} AND source_id = ${P(`free${i}`)})`),
        ]),
      values: { ...ours.values, freeIn: inbox.id, ...Object.fromEntries(sourceIds.map((id, i) => [`free${i}`, id])) },
    };
    const opened: CompiledCondition = {
      key: "conversation.opened",
      build: () => sql`EXISTS (SELECT 1 FROM conversations WHERE id = ${P("opened")})`,
      values: { opened: opening.row.id },
    };
    statements.push(
      insertConversationWhere(env, opening.row, free),
      ...opening.messages.map((message) => prepareInsertWhere(env, messages, message, opened)),
      ...[opening.event, ...opening.messageEvents].map((conversationEvent) => insertEventWhere(env, conversationEvent, opened)),
    );
  }
  // What won, read in the same transaction (no second round trip): its contact_inboxes and contacts rows, and
  // the conversation a look-up would continue (ours, or the one a concurrent first message opened with it).
  const read = statements.length;
  statements.push(...contactLookupStatements(env, inbox, sourceId));
  const changes = opening ? [event, opening.event, ...opening.messageEvents] : [event];
  const { results, committed } = await commitWithEvents(env, statements, changes);

  const found = decodeContactLookup([0, 1, 2].map((i) => results[read + i]!.results as Record<string, unknown>[]));
  const winner = found.contact;
  if (!winner) throw new Error(`contact_inboxes row for source id ${sourceId} vanished after insert`);
  const created = winner.contactInbox.id === contactInboxId;
  if (winner.contact.id === contactId) {
    const opened = opening && found.conversation?.id === opening.row.id ? opening.row : undefined;
    // The contact's and the conversation's events to the queue, as always; the first message's as its object
    // would after its commit: each new delivery's first attempt, off the answer's path (delivery/direct.ts).
    const ofMessage = new Set(opened ? opening!.messageEvents.map((messageEvent) => messageEvent.id) : []);
    await publish(env, committed.filter((item) => !ofMessage.has(item.eventId)));
    if (ofMessage.size > 0) waitUntil(publishAndAttempt(env, committed.filter((item) => ofMessage.has(item.eventId))));
    waitUntil(forwardToRealtime(env, opened ? changes : [event]));
    return { ...winner, created, ...(opened ? { opened } : {}) };
  }
  // Linked to a contact that already existed (same identifier), or a concurrent request won: apply our attributes.
  const continued = found.conversation ? { continued: found.conversation } : {};
  return { ...(await updateThroughInbox(env, inbox, winner, attributes, scope, origin)), created, ...continued };
}

const scalarFields = ["name", "email", "phone"] as const;

/** A contact's custom_attributes, after merging, stay within these: every event snapshot carries them. */
export const MAX_CONTACT_ATTRIBUTE_KEYS = 100;
export const MAX_CONTACT_ATTRIBUTES_BYTES = 16 * 1024;

export function attributesLimitExceeded(kind: "keys" | "bytes", value: number): ApiError {
  const limit = kind === "keys" ? `at most ${MAX_CONTACT_ATTRIBUTE_KEYS} keys` : `at most ${MAX_CONTACT_ATTRIBUTES_BYTES} bytes as JSON`;
  return new ApiError(
    "attributes_limit_exceeded",
    `A contact's custom_attributes may hold ${limit}; merged with this request they would have ${value}. Remove keys by sending them as null.`,
    { errors: [{ location: "body", pointer: "/custom_attributes", detail: limit }], extensions: { limit: kind === "keys" ? MAX_CONTACT_ATTRIBUTE_KEYS : MAX_CONTACT_ATTRIBUTES_BYTES } },
  );
}

/** The limits on a new contact's attributes (an update checks the merged result in SQL). */
export function checkNewAttributes(attributes: CustomAttributes | undefined) {
  if (!attributes) return;
  const keys = Object.keys(attributes).length;
  if (keys > MAX_CONTACT_ATTRIBUTE_KEYS) throw attributesLimitExceeded("keys", keys);
  const bytes = new TextEncoder().encode(JSON.stringify(attributes)).byteLength;
  if (bytes > MAX_CONTACT_ATTRIBUTES_BYTES) throw attributesLimitExceeded("bytes", bytes);
}

/** A contacts row as raw SQL returns it (RETURNING *). */
function contactFromSql(raw: Record<string, unknown>): ContactRow {
  return {
    id: raw.id as string,
    accountId: raw.account_id as string,
    name: raw.name as string | null,
    email: raw.email as string | null,
    phone: raw.phone as string | null,
    identifier: raw.identifier as string | null,
    identifierScope: raw.identifier_scope as string | null,
    customAttributes: JSON.parse(raw.custom_attributes as string) as CustomAttributes,
    lastEventSequence: raw.last_event_sequence as number,
    createdAt: raw.created_at as number,
    updatedAt: raw.updated_at as number,
  };
}

/**
 * The contact as events carry it, built by SQL from the row as committed (`c`), so a snapshot never shows
 * attributes another concurrent write has already replaced. Mirrors toContact.
 */
function contactSnapshotSql(sourceId: string, createdAt: number, updatedAt: number) {
  return sql`json_object('id', c.id, 'source_id', ${sourceId}, 'name', c.name, 'email', c.email, 'phone', c.phone,
    'identifier', c.identifier,
    'identifier_verified', json(CASE WHEN c.identifier IS NOT NULL AND c.identifier_scope = ${ACCOUNT_SCOPE} THEN 'true' ELSE 'false' END),
    'custom_attributes', json(c.custom_attributes), 'created_at', ${iso(createdAt)}, 'updated_at', ${iso(updatedAt)})`;
}

/**
 * Applies the given attributes; writes nothing if nothing changes. custom_attributes are merged in SQL
 * (json_patch, RFC 7396: a key sent as null is removed) inside the UPDATE itself, so concurrent writes of
 * different keys all survive; the merged result must stay within the limits above, checked in the same
 * statement. `scope` is where the claimed identifier holds (identity.ts): a proven claim of the same
 * identifier verifies it; a verified identifier is only changed with proof of the new one.
 */
export async function updateContact(
  env: Bindings,
  accountId: string,
  before: ContactRow,
  /** The inboxes that reach the contact: each gets a contact_updated with its own source id. */
  links: { inboxId: string; sourceId: string }[],
  attributes: Omit<ContactAttributes, "identifier_hash">,
  scope: string | undefined,
  origin: Origin,
): Promise<ContactRow> {
  const set: SQL[] = [];
  const differs: SQL[] = [];
  const changed: string[] = [];
  if (attributes.identifier !== undefined) {
    const wantedScope = attributes.identifier === null ? null : (scope ?? null);
    const verifiedBefore = before.identifier !== null && before.identifierScope === ACCOUNT_SCOPE;
    if (attributes.identifier !== before.identifier) {
      if (verifiedBefore && wantedScope !== ACCOUNT_SCOPE) {
        throw new ApiError(
          "identifier_hash_required",
          "This contact's identifier is verified: changing it needs an identifier_hash of the new identifier (clearing it needs a user token).",
        );
      }
      set.push(sql`identifier = ${attributes.identifier}`, sql`identifier_scope = ${wantedScope}`);
      differs.push(sql`identifier IS NOT ${attributes.identifier}`, sql`identifier_scope IS NOT ${wantedScope}`);
      changed.push("identifier");
    } else if (wantedScope === ACCOUNT_SCOPE && !verifiedBefore) {
      set.push(sql`identifier_scope = ${ACCOUNT_SCOPE}`);
      differs.push(sql`identifier_scope IS NOT ${ACCOUNT_SCOPE}`);
      changed.push("identifier_verified");
    }
  }
  for (const field of scalarFields) {
    const value = attributes[field];
    if (value === undefined) continue;
    set.push(sql`${sql.identifier(field)} = ${value}`);
    differs.push(sql`${sql.identifier(field)} IS NOT ${value}`);
    if (value !== before[field]) changed.push(field);
  }
  const patch = attributes.custom_attributes ? JSON.stringify(attributes.custom_attributes) : null;
  const merged = sql`json_patch(custom_attributes, json(${patch}))`;
  if (patch !== null) {
    set.push(sql`custom_attributes = ${merged}`);
    differs.push(sql`${merged} IS NOT custom_attributes`);
    const mergedJs = { ...before.customAttributes, ...attributes.custom_attributes };
    for (const [key, value] of Object.entries(mergedJs)) if (value === null) delete mergedJs[key];
    if (JSON.stringify(mergedJs) !== JSON.stringify(before.customAttributes)) changed.push("custom_attributes");
  }
  if (differs.length === 0) return before;

  const now = Date.now();
  const events = links.map((link) => ({
    link,
    event: newEvent({
      type: "contact_updated",
      accountId,
      inboxId: link.inboxId,
      conversationId: null,
      sequence: null,
      origin,
      // The snapshot itself is written by SQL below, from the row as committed; the id is what routing
      // the event needs before that (a contact's events are one delivery line).
      data: { contact: { id: before.id } },
      now,
    }),
  }));
  const limits =
    patch === null
      ? sql`1`
      : sql`(SELECT count(*) FROM json_each(${merged})) <= ${MAX_CONTACT_ATTRIBUTE_KEYS} AND length(CAST(${merged} AS BLOB)) <= ${MAX_CONTACT_ATTRIBUTES_BYTES}`;
  const byId = sql`id = ${before.id} AND account_id = ${accountId}`;
  let results: D1Result[];
  let committed;
  try {
    ({ results, committed } = await commitWithEvents(env, [
      // What the merge would give, at the moment of the write: says why nothing was written, if so.
      prepare(env, sql`SELECT *, ${patch === null ? sql`NULL` : sql`(SELECT count(*) FROM json_each(${merged}))`} AS merged_keys,
          ${patch === null ? sql`NULL` : sql`length(CAST(${merged} AS BLOB))`} AS merged_bytes
        FROM contacts WHERE ${byId}`),
      // Each inbox's contact_updated takes the contact's next event sequence (its events are one ordered line).
      prepare(env, sql`UPDATE contacts SET ${sql.join([...set, sql`last_event_sequence = last_event_sequence + ${events.length}`, sql`updated_at = ${now}`], sql`, `)}
        WHERE ${byId} AND (${sql.join(differs, sql` OR `)}) AND ${limits}
        RETURNING *`),
      // changes(): the UPDATE above wrote (the first event follows it directly; the others follow an INSERT of one row).
      ...events.map(({ link, event }, i) =>
        prepare(env, sql`INSERT INTO events (id, account_id, inbox_id, conversation_id, sequence, type, private, origin, data, created_at)
          SELECT ${event.id}, ${event.accountId}, ${event.inboxId}, NULL, c.last_event_sequence - ${events.length - 1 - i}, ${event.type}, 0, ${JSON.stringify(origin)},
            json_object('contact', ${contactSnapshotSql(link.sourceId, before.createdAt, now)},
                        'changed_attributes', json(${JSON.stringify(changed.length > 0 ? changed : Object.keys(attributes))})),
            ${now}
          FROM contacts c WHERE c.id = ${before.id} AND c.updated_at = ${now} AND changes() > 0`),
      ),
    ], events.map(({ event }) => event)));
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ApiError(
        "identifier_taken",
        scope === ACCOUNT_SCOPE
          ? `Another contact in this account already has the verified identifier '${attributes.identifier}'.`
          : `Another contact of this inbox already has identifier '${attributes.identifier}'.`,
      );
    }
    throw error;
  }
  const [seen] = results[0]!.results as (Record<string, unknown> & { merged_keys: number | null; merged_bytes: number | null })[];
  const [written] = results[1]!.results as Record<string, unknown>[];
  if (!written) {
    if (!seen) throw new Error(`contact ${before.id} vanished during an update`);
    if (seen.merged_keys !== null && seen.merged_keys > MAX_CONTACT_ATTRIBUTE_KEYS) throw attributesLimitExceeded("keys", seen.merged_keys);
    if (seen.merged_bytes !== null && seen.merged_bytes > MAX_CONTACT_ATTRIBUTES_BYTES) throw attributesLimitExceeded("bytes", seen.merged_bytes);
    // Nothing differs from the row as it is now (a concurrent write did the same).
    return contactFromSql(seen);
  }
  await publish(env, committed);
  waitUntil(forwardToRealtime(env, events.map(({ event }) => event)));
  return contactFromSql(written);
}

/** An integrator's update: through its one inbox, which gets the contact_updated. */
async function updateThroughInbox(
  env: Bindings,
  inbox: InboxRef,
  current: { contact: ContactRow; contactInbox: ContactInboxRow },
  attributes: Omit<ContactAttributes, "identifier_hash">,
  scope: string | undefined,
  origin: Origin,
): Promise<{ contact: ContactRow; contactInbox: ContactInboxRow }> {
  const links = [{ inboxId: inbox.id, sourceId: current.contactInbox.sourceId }];
  const contact = await updateContact(env, inbox.accountId, current.contact, links, attributes, scope, origin);
  return { contact, contactInbox: current.contactInbox };
}
