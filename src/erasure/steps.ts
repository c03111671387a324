// The work of erasing a contact (GDPR / LGPD), in steps of bounded size: each step deletes at most
// `rows` rows per table for one conversation (or, when no conversation is left, for the contact's own
// events and rows), in one D1 transaction, and records its progress on the erasure row. A contact with
// a long history takes many steps; the ErasureObject's alarm runs them one after another.
import { sql } from "drizzle-orm";
import { prepare } from "../db/client";
import { deleteAttachmentsOfConversations } from "../attachments/store";
import { conversationObject } from "../conversation/stub";
import type { Bindings } from "../env";

export const ACCOUNT_ERASURE = "account";

/** The prefix that marks a contact_inboxes row as being erased; a space never occurs in a source id. */
export function tombstonePrefix(erasureId: string): string {
  return `erased ${erasureId} `;
}

type ErasureJob = { id: string; contact_id: string; scope: string; created_at: number; status: string };

/** Events outside conversations that carry the contact (contact_created / contact_updated), within the erasure's reach. */
function contactEvents(job: ErasureJob, rows: number) {
  return sql`SELECT id FROM events WHERE (data ->> '$.contact.id') = ${job.contact_id} AND conversation_id IS NULL
    AND type <> 'contact_deleted' AND (${job.scope} = ${ACCOUNT_ERASURE} OR inbox_id = ${job.scope}) AND created_at <= ${job.created_at}
    LIMIT ${rows}`;
}

function conversationEvents(conversationId: string, rows: number) {
  return sql`SELECT id FROM events WHERE conversation_id = ${conversationId} ORDER BY sequence LIMIT ${rows}`;
}

/** The statements that delete a bounded set of events with everything hanging off them. */
function deleteEvents(env: Bindings, eventIds: ReturnType<typeof sql>) {
  return [
    prepare(env, sql`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE event_id IN (${eventIds})) RETURNING 1`),
    prepare(env, sql`DELETE FROM webhook_deliveries WHERE event_id IN (${eventIds}) RETURNING 1`),
    prepare(env, sql`DELETE FROM automation_runs WHERE event_id IN (${eventIds}) RETURNING 1`),
    prepare(env, sql`DELETE FROM events WHERE id IN (${eventIds}) RETURNING 1`),
  ];
}

const TABLES = ["delivery_attempts", "webhook_deliveries", "automation_runs", "events"] as const;

/**
 * Runs one bounded step of an erasure. Returns true when the erasure is complete (also when it was
 * already), false when more steps are needed.
 */
export async function eraseStep(env: Bindings, erasureId: string, rows: number): Promise<boolean> {
  const job = await env.DB.prepare("SELECT id, contact_id, scope, created_at, status FROM contact_erasures WHERE id = ?")
    .bind(erasureId)
    .first<ErasureJob>();
  if (!job || job.status === "completed") return true;
  const inScope = sql`contact_id = ${job.contact_id} AND (${job.scope} = ${ACCOUNT_ERASURE} OR inbox_id = ${job.scope}) AND created_at <= ${job.created_at}`;
  const current = (
    await prepare(env, sql`SELECT id FROM conversations WHERE ${inScope} ORDER BY id LIMIT 1`).first<{ id: string }>()
  )?.id;

  const counts: Record<string, number> = {};
  const statements: D1PreparedStatement[] = [];
  const labels: string[] = [];
  const add = (label: string, statement: D1PreparedStatement) => {
    labels.push(label);
    statements.push(statement);
  };
  const prefix = tombstonePrefix(job.id);
  if (current) {
    // Its files first (R2 objects and rows; those other conversations still use stay): the conversation's
    // row cannot go while attachment_uses point at it. Idempotent, so every step of it may run this.
    const files = await deleteAttachmentsOfConversations(env, [current]);
    if (files.length > 0) counts.attachments = files.length;
    deleteEvents(env, conversationEvents(current, rows)).forEach((statement, i) => add(TABLES[i]!, statement));
    add("messages", prepare(env, sql`DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE conversation_id = ${current} ORDER BY seq LIMIT ${rows}) RETURNING 1`));
    add(
      "conversations",
      prepare(env, sql`DELETE FROM conversations WHERE id = ${current}
        AND NOT EXISTS (SELECT 1 FROM messages WHERE conversation_id = ${current})
        AND NOT EXISTS (SELECT 1 FROM events WHERE conversation_id = ${current}) RETURNING 1`),
    );
  } else {
    deleteEvents(env, contactEvents(job, rows)).forEach((statement, i) => add(TABLES[i]!, statement));
    add(
      "contact_inboxes",
      prepare(env, sql`DELETE FROM contact_inboxes WHERE contact_id = ${job.contact_id} AND substr(source_id, 1, ${prefix.length}) = ${prefix}
        AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.contact_inbox_id = contact_inboxes.id) RETURNING 1`),
    );
    // The person is gone when no inbox reaches them any more (an integrator's erasure of a contact other
    // inboxes still reach keeps the contact for them).
    add(
      "contacts",
      prepare(env, sql`DELETE FROM contacts WHERE id = ${job.contact_id}
        AND NOT EXISTS (SELECT 1 FROM contact_inboxes WHERE contact_id = ${job.contact_id})
        AND NOT EXISTS (SELECT 1 FROM conversations WHERE contact_id = ${job.contact_id}) RETURNING 1`),
    );
  }
  const now = Date.now();
  const results = await env.DB.batch(statements);
  results.forEach((result, i) => {
    // Rows returned, not meta.changes: that also counts what the search triggers delete alongside.
    counts[labels[i]!] = (counts[labels[i]!] ?? 0) + (result.results?.length ?? 0);
  });
  // Progress and, when nothing in reach is left, completion: decided in SQL against the rows as they are now.
  const finished = sql`NOT EXISTS (SELECT 1 FROM conversations WHERE ${inScope})
    AND NOT EXISTS (${contactEvents(job, 1)})
    AND NOT EXISTS (SELECT 1 FROM contact_inboxes WHERE contact_id = ${job.contact_id} AND substr(source_id, 1, ${prefix.length}) = ${prefix})
    AND (${job.scope} <> ${ACCOUNT_ERASURE} OR NOT EXISTS (SELECT 1 FROM contacts WHERE id = ${job.contact_id}))`;
  let deleted = sql`deleted`;
  for (const [table, n] of Object.entries(counts)) {
    if (n > 0) deleted = sql`json_set(${deleted}, ${`$.${table}`}, coalesce(json_extract(deleted, ${`$.${table}`}), 0) + ${n})`;
  }
  const done = await prepare(env, sql`UPDATE contact_erasures SET deleted = ${deleted}, steps = steps + 1, updated_at = ${now},
      completed_at = CASE WHEN ${finished} THEN ${now} ELSE NULL END,
      status = CASE WHEN ${finished} THEN 'completed' ELSE 'in_progress' END
    WHERE id = ${job.id} AND status = 'in_progress' RETURNING status`).first<{ status: string }>();
  if (current && (counts.conversations ?? 0) > 0) {
    // The conversation's object may still hold it in memory: make it read D1 (and find nothing) next time.
    await conversationObject(env, current).reset().catch(() => undefined);
  }
  // No row: another runner completed it meanwhile.
  return done === null || done.status === "completed";
}
