// Erasing a contact (GDPR / LGPD): the request, its status, and the audit list. The request itself
// frees the source ids, wipes what identifies the person and emits contact_deleted, all in one
// transaction, then runs one bounded step; whatever is left finishes in the background
// (src/erasure/object.ts). docs/contacts.md.
import { and, desc, eq, sql } from "drizzle-orm";
import { database, prepare } from "../db/client";
import { commitWithEvents, publish } from "../delivery/outbox";
import { contactErasures, contactInboxes, contacts, type Origin } from "../db/schema";
import { disconnectRealtime } from "../realtime/forward";
import { erasureObject, erasureStepRows } from "../erasure/object";
import { ACCOUNT_ERASURE, eraseStep, tombstonePrefix } from "../erasure/steps";

export { ACCOUNT_ERASURE };
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { sha256Hex } from "../core/crypto";
import { newId } from "../core/ids";
import { beyondKey, decodeCursor, page } from "../core/pagination";
import { iso } from "../core/time";
import { insertEventWhere, newEvent } from "../delivery/events";

type ErasureRow = typeof contactErasures.$inferSelect;

export type ContactErasure = {
  id: string;
  contact_id: string;
  /** account: the whole contact; inbox: what one inbox reached (the contact stays if other inboxes reach it). */
  scope: "account" | "inbox";
  inbox_id: string | null;
  status: "in_progress" | "completed";
  requested_by: Origin;
  deleted: Record<string, number>;
  steps: number;
  requested_at: string;
  completed_at: string | null;
};

export function toErasure(row: ErasureRow): ContactErasure {
  return {
    id: row.id,
    contact_id: row.contactId,
    scope: row.scope === ACCOUNT_ERASURE ? "account" : "inbox",
    inbox_id: row.scope === ACCOUNT_ERASURE ? null : row.scope,
    status: row.status,
    requested_by: row.requestedBy,
    deleted: row.deleted,
    steps: row.steps,
    requested_at: iso(row.createdAt),
    completed_at: iso(row.completedAt),
  };
}

/** What a repeated request by source id is recognised by, without keeping the source id. */
export function sourceHash(inboxId: string, sourceId: string): Promise<string> {
  return sha256Hex(`${inboxId}:${sourceId}`);
}

/**
 * Erases a contact (scope ACCOUNT_ERASURE) or what one inbox reaches of it (scope = the inbox id).
 * Idempotent: a running erasure of the same contact and scope is shared, not repeated.
 */
export async function requestErasure(
  env: Bindings,
  input: { accountId: string; contactId: string; scope: string; sourceHash: string | null; origin: Origin },
): Promise<ContactErasure> {
  const db = database(env);
  const now = Date.now();
  const erasureId = newId("era", now);
  const inScope = input.scope === ACCOUNT_ERASURE ? sql`1` : sql`inbox_id = ${input.scope}`;
  const links = await db
    .select({ id: contactInboxes.id, inboxId: contactInboxes.inboxId, sourceId: contactInboxes.sourceId })
    .from(contactInboxes)
    .where(and(eq(contactInboxes.contactId, input.contactId), eq(contactInboxes.accountId, input.accountId), sql`source_id NOT LIKE 'erased %'`, inScope));
  // Ids only: the integrator learns which of its people is gone, and nothing about them.
  const events = links.map((link) =>
    newEvent({
      type: "contact_deleted",
      accountId: input.accountId,
      inboxId: link.inboxId,
      conversationId: null,
      sequence: null,
      origin: input.origin,
      data: { contact: { id: input.contactId, source_id: link.sourceId }, erasure_id: erasureId },
      now,
    }),
  );
  const ours = sql`EXISTS (SELECT 1 FROM contact_erasures WHERE id = ${erasureId})`;
  const prefix = tombstonePrefix(erasureId);
  const { committed } = await commitWithEvents(env, [
    prepare(env, sql`INSERT INTO contact_erasures (id, account_id, contact_id, scope, source_hash, status, requested_by, created_at, updated_at)
      SELECT ${erasureId}, ${input.accountId}, ${input.contactId}, ${input.scope}, ${input.sourceHash}, 'in_progress', ${JSON.stringify(input.origin)}, ${now}, ${now}
      WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ${input.contactId} AND account_id = ${input.accountId})
      ON CONFLICT DO NOTHING`),
    // The source ids are free at once: the next request with one of them is a new person.
    prepare(env, sql`UPDATE contact_inboxes SET source_id = ${prefix} || id
      WHERE contact_id = ${input.contactId} AND account_id = ${input.accountId} AND source_id NOT LIKE 'erased %' AND ${inScope} AND ${ours}`),
    // Erasing the whole person: nothing that identifies them survives the request, and no one can link to them again.
    ...(input.scope === ACCOUNT_ERASURE
      ? [
          prepare(env, sql`UPDATE contacts SET name = NULL, email = NULL, phone = NULL, identifier = NULL, identifier_scope = NULL,
              custom_attributes = '{}', updated_at = ${now}
            WHERE id = ${input.contactId} AND ${ours}`),
        ]
      : []),
    ...events.map((event) => insertEventWhere(env, event, ours)),
  ], events);

  let row = await db.select().from(contactErasures).where(eq(contactErasures.id, erasureId)).get();
  if (row) {
    await publish(env, committed);
    // The person's own live streams end with their source ids (a pubsub token of an erased link opens nothing).
    if (links.length > 0) await disconnectRealtime(env, input.accountId, { contactInboxIds: links.map((link) => link.id) }, "revoked");
    console.log(
      JSON.stringify({
        level: "info",
        kind: "audit",
        action: "contact_erasure_requested",
        erasure_id: row.id,
        account_id: row.accountId,
        contact_id: row.contactId,
        scope: row.scope,
        requested_by: { type: input.origin.type, id: input.origin.id },
      }),
    );
  } else {
    // A concurrent request started it (or the contact is gone): share its erasure.
    row = await db
      .select()
      .from(contactErasures)
      .where(and(eq(contactErasures.accountId, input.accountId), eq(contactErasures.contactId, input.contactId), eq(contactErasures.scope, input.scope)))
      .orderBy(desc(contactErasures.createdAt))
      .get();
    if (!row) throw notFound("contact_not_found", "contact", input.contactId);
  }
  return advance(env, row);
}

/** Steps a request runs itself: a short history (a conversation, then the contact) finishes in the answer. */
const INLINE_STEPS = 3;

/** A few bounded steps now; if that was not all, the rest in the background. */
async function advance(env: Bindings, row: ErasureRow): Promise<ContactErasure> {
  if (row.status === "in_progress") {
    let done = false;
    for (let step = 0; step < INLINE_STEPS && !done; step++) done = await eraseStep(env, row.id, erasureStepRows(env));
    if (!done) await erasureObject(env, row.id).start(row.id, env.SHARD);
    row = (await database(env).select().from(contactErasures).where(eq(contactErasures.id, row.id)).get()) ?? row;
  }
  return toErasure(row);
}

/** The latest erasure of a contact id in the account (a repeated administrator's DELETE). */
export async function latestErasureOfContact(env: Bindings, accountId: string, contactId: string) {
  const row = await database(env)
    .select()
    .from(contactErasures)
    .where(and(eq(contactErasures.accountId, accountId), eq(contactErasures.contactId, contactId)))
    .orderBy(desc(contactErasures.createdAt))
    .get();
  return row ? advance(env, row) : undefined;
}

/** The latest erasure requested for a source id of this inbox (a repeated integrator's DELETE). */
export async function latestErasureOfSource(env: Bindings, accountId: string, inboxId: string, sourceId: string) {
  const row = await database(env)
    .select()
    .from(contactErasures)
    .where(and(eq(contactErasures.accountId, accountId), eq(contactErasures.sourceHash, await sourceHash(inboxId, sourceId))))
    .orderBy(desc(contactErasures.createdAt))
    .get();
  return row ? advance(env, row) : undefined;
}

/** Whether the contact exists in the account (and is not already being erased as a whole). */
export async function contactExists(env: Bindings, accountId: string, contactId: string): Promise<boolean> {
  const row = await database(env)
    .select({ id: contacts.id })
    .from(contacts)
    .where(
      and(
        eq(contacts.accountId, accountId),
        eq(contacts.id, contactId),
        sql`NOT EXISTS (SELECT 1 FROM contact_erasures e WHERE e.contact_id = ${contactId} AND e.scope = ${ACCOUNT_ERASURE})`,
      ),
    )
    .get();
  return row !== undefined;
}

/** The audit list: every erasure of the account, newest first (ids and counts only). */
export async function listErasures(env: Bindings, accountId: string, options: { limit: number; cursor?: string }) {
  const after = decodeCursor(options.cursor, { created_at: "number", id: "string" });
  const rows = await database(env)
    .select()
    .from(contactErasures)
    .where(
      and(
        eq(contactErasures.accountId, accountId),
        beyondKey(contactErasures.createdAt, contactErasures.id, after && { time: after.created_at, id: after.id }, "desc"),
      ),
    )
    .orderBy(desc(contactErasures.createdAt), desc(contactErasures.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ created_at: row.createdAt, id: row.id }));
  return { data: result.data.map(toErasure), next_cursor: result.next_cursor };
}
