// The account's contacts as agents and administrators see them: find, read, correct. Administrators see
// every contact of the account; agents only those reached through an inbox they are members of. A
// contact being erased as a whole is gone for everyone. docs/contacts.md.
import { and, asc, eq, sql, type SQL } from "drizzle-orm";
import { database } from "../db/client";
import { contactInboxes, contacts, type CustomAttributes, type Origin } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { ACCOUNT_ERASURE } from "../erasure/steps";
import type { UserViewer } from "./agent";
import type { Contact } from "../conversation/resources";
import { toContact, updateContact } from "./contacts";
import { ACCOUNT_SCOPE } from "./identity";
import { decodeCursor, page } from "../core/pagination";

/** A link that is not being erased (erasure renames it to a tombstone no request can name). */
const liveLink = sql`substr(${contactInboxes.sourceId}, 1, 7) <> 'erased '`;

/** Links whose inbox the viewer works: all for administrators, member inboxes for agents. */
function visibleLinks(viewer: UserViewer): SQL | undefined {
  if (viewer.role === "administrator") return undefined;
  return sql`${contactInboxes.inboxId} IN (SELECT inbox_id FROM inbox_members WHERE user_id = ${viewer.userId} AND account_id = ${viewer.accountId})`;
}

/** Contacts the viewer may see. */
function visibleContacts(viewer: UserViewer): SQL {
  const notErased = sql`NOT EXISTS (SELECT 1 FROM contact_erasures e WHERE e.contact_id = ${contacts.id} AND e.scope = ${ACCOUNT_ERASURE})`;
  const reached =
    viewer.role === "administrator"
      ? undefined
      : sql`EXISTS (SELECT 1 FROM contact_inboxes ci JOIN inbox_members im ON im.inbox_id = ci.inbox_id AND im.user_id = ${viewer.userId}
          WHERE ci.contact_id = ${contacts.id} AND substr(ci.source_id, 1, 7) <> 'erased ')`;
  return and(eq(contacts.accountId, viewer.accountId), notErased, reached)!;
}

/** `%q%` for LIKE, with LIKE's own wildcards taken literally. */
function likePattern(q: string): string {
  return `%${q.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

export type AccountContact = Contact & { inboxes: { inbox_id: string; source_id: string }[] };

/**
 * A page of contacts, oldest first. `q` matches name, email, phone or one of the contact's source ids
 * (case-insensitive substring).
 */
export async function listAccountContacts(env: Bindings, viewer: UserViewer, options: { q?: string; limit: number; cursor?: string }) {
  const after = decodeCursor(options.cursor, { id: "string" });
  const pattern = options.q ? likePattern(options.q) : undefined;
  const search = pattern
    ? sql`(lower(${contacts.name}) LIKE ${pattern} ESCAPE '\\' OR lower(${contacts.email}) LIKE ${pattern} ESCAPE '\\'
        OR lower(${contacts.phone}) LIKE ${pattern} ESCAPE '\\'
        OR EXISTS (SELECT 1 FROM contact_inboxes ci WHERE ci.contact_id = ${contacts.id} AND lower(ci.source_id) LIKE ${pattern} ESCAPE '\\'
          AND substr(ci.source_id, 1, 7) <> 'erased '
          ${viewer.role === "administrator" ? sql`` : sql`AND ci.inbox_id IN (SELECT inbox_id FROM inbox_members WHERE user_id = ${viewer.userId})`}))`
    : undefined;
  const rows = await database(env)
    .select()
    .from(contacts)
    .where(and(visibleContacts(viewer), search, after ? sql`${contacts.id} > ${after.id}` : undefined))
    .orderBy(asc(contacts.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ id: row.id }));
  return { data: result.data.map((row) => toContact(row)), next_cursor: result.next_cursor };
}

async function visibleContact(env: Bindings, viewer: UserViewer, contactId: string) {
  const db = database(env);
  const [rows, links] = await db.batch([
    db.select().from(contacts).where(and(visibleContacts(viewer), eq(contacts.id, contactId))).limit(1),
    db
      .select({ inboxId: contactInboxes.inboxId, sourceId: contactInboxes.sourceId })
      .from(contactInboxes)
      .where(and(eq(contactInboxes.accountId, viewer.accountId), eq(contactInboxes.contactId, contactId), liveLink, visibleLinks(viewer)))
      .orderBy(asc(contactInboxes.createdAt)),
  ]);
  const row = rows[0];
  if (!row) throw notFound("contact_not_found", "contact", contactId);
  return { row, links };
}

function withInboxes(row: typeof contacts.$inferSelect, links: { inboxId: string; sourceId: string }[]): AccountContact {
  return { ...toContact(row), inboxes: links.map((link) => ({ inbox_id: link.inboxId, source_id: link.sourceId })) };
}

export async function getAccountContact(env: Bindings, viewer: UserViewer, contactId: string): Promise<AccountContact> {
  const { row, links } = await visibleContact(env, viewer, contactId);
  return withInboxes(row, links);
}

/**
 * An agent's or administrator's correction. A user of the account is trusted with its contacts, so an
 * identifier set here is verified. Every inbox that reaches the contact gets contact_updated.
 */
export async function updateAccountContact(
  env: Bindings,
  viewer: UserViewer,
  contactId: string,
  attributes: { name?: string | null; email?: string | null; phone?: string | null; identifier?: string | null; custom_attributes?: CustomAttributes },
  origin: Origin,
): Promise<AccountContact> {
  const { row, links } = await visibleContact(env, viewer, contactId);
  const everyLink = await database(env)
    .select({ inboxId: contactInboxes.inboxId, sourceId: contactInboxes.sourceId })
    .from(contactInboxes)
    .where(and(eq(contactInboxes.contactId, contactId), liveLink));
  const scope = attributes.identifier ? ACCOUNT_SCOPE : undefined;
  const updated = await updateContact(env, viewer.accountId, row, everyLink, attributes, scope, origin);
  return withInboxes(updated, links);
}
