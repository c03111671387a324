import { sql } from "drizzle-orm";
import { commitBatch, database, prepare } from "../db/client";
import { config, type Bindings } from "../env";

/** Rows looked at per statement: the oldest ones by insertion order, so each statement's work is bounded. */
export const PRUNE_BATCH = 500;
/** Batches per table and run; the next run (seconds later) continues. */
const MAX_BATCHES = 4;

export type PruneReport = { events_pruned: number; deliveries_pruned: number; attempts_pruned: number; replays_pruned: number };

/**
 * Deletes what is older than the retention window (RETENTION_DAYS): events, webhook deliveries and their
 * attempts, in bounded batches of the oldest rows. An event is kept while one of its deliveries is pending
 * or it has not been handed over yet; a pending delivery is kept whatever its age. Each inbox remembers
 * the last position deleted from its events feed, so a cursor from before it is refused rather than
 * silently skipping what was deleted. Finished replays go too: past the window there is nothing left to replay,
 * so their record (which makes a repeated replay request a no-op) has no more work to prevent.
 * Safe to run concurrently: every statement re-reads what it deletes.
 */
export async function prune(env: Bindings, now = Date.now()): Promise<PruneReport> {
  const cutoff = now - config(env).retentionMs;
  // Most passes have nothing to prune: one look at the oldest row of each table says so (replays, a few per
  // inbox and day at most, are looked at whole).
  const oldest = await database(env).get<{ event: number | null; attempt: number | null; delivery: number | null; replay: number | null }>(sql`SELECT
    (SELECT created_at FROM events ORDER BY position LIMIT 1) AS event,
    (SELECT started_at FROM delivery_attempts ORDER BY rowid LIMIT 1) AS attempt,
    (SELECT created_at FROM webhook_deliveries ORDER BY rowid LIMIT 1) AS delivery,
    (SELECT min(completed_at) FROM delivery_replays WHERE state = 'done') AS replay`);
  const due = (at: number | null | undefined) => at !== null && at !== undefined && at < cutoff;
  return {
    events_pruned: due(oldest?.event) ? await repeat(() => pruneEvents(env, cutoff)) : 0,
    attempts_pruned: due(oldest?.attempt) ? await repeat(() => pruneAttempts(env, cutoff)) : 0,
    deliveries_pruned: due(oldest?.delivery) || due(oldest?.attempt) ? await repeat(() => pruneDeliveries(env, cutoff)) : 0,
    replays_pruned: due(oldest?.replay) ? await repeat(() => pruneReplays(env, cutoff)) : 0,
  };
}

async function repeat(batch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const deleted = await batch();
    total += deleted;
    if (deleted === 0) break;
  }
  return total;
}

async function pruneAttempts(env: Bindings, cutoff: number): Promise<number> {
  const [result] = await commitBatch(env, [
    prepare(env, sql`DELETE FROM delivery_attempts WHERE rowid IN (
      SELECT rowid FROM (SELECT rowid, started_at FROM delivery_attempts ORDER BY rowid LIMIT ${PRUNE_BATCH}) WHERE started_at < ${cutoff})`),
  ]);
  return result!.meta.changes ?? 0;
}

/** Settled deliveries created before the cutoff, among the oldest PRUNE_BATCH; their remaining attempts go with them. */
async function pruneDeliveries(env: Bindings, cutoff: number): Promise<number> {
  const candidates = sql`SELECT c.id FROM (SELECT id, state, created_at FROM webhook_deliveries ORDER BY rowid LIMIT ${PRUNE_BATCH}) c
    WHERE c.state <> 'pending' AND c.created_at < ${cutoff}`;
  const results = await commitBatch(env, [
    prepare(env, sql`DELETE FROM delivery_attempts WHERE delivery_id IN (${candidates})`),
    prepare(env, sql`DELETE FROM webhook_deliveries WHERE id IN (${candidates})`),
  ]);
  return results[1]!.meta.changes ?? 0;
}

/** Replays that finished before the cutoff, among the oldest PRUNE_BATCH; a running one stays whatever its age. */
async function pruneReplays(env: Bindings, cutoff: number): Promise<number> {
  const [result] = await commitBatch(env, [
    prepare(env, sql`DELETE FROM delivery_replays WHERE rowid IN (
      SELECT rowid FROM (SELECT rowid, state, completed_at FROM delivery_replays ORDER BY rowid LIMIT ${PRUNE_BATCH})
      WHERE state = 'done' AND completed_at < ${cutoff})`),
  ]);
  return result!.meta.changes ?? 0;
}

async function pruneEvents(env: Bindings, cutoff: number): Promise<number> {
  // The same candidate set in both statements of one transaction: the inboxes' horizon and the delete agree.
  const candidates = sql`SELECT c.position, c.inbox_id FROM (
      SELECT position, id, inbox_id, created_at, queued_at FROM events ORDER BY position LIMIT ${PRUNE_BATCH}) c
    WHERE c.created_at < ${cutoff} AND c.queued_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = c.id AND d.state = 'pending')`;
  const results = await commitBatch(env, [
    prepare(env, sql`UPDATE inboxes SET events_pruned_through = max(coalesce(events_pruned_through, 0),
        coalesce((SELECT max(k.position) FROM (${candidates}) k WHERE k.inbox_id = inboxes.id), 0))
      WHERE id IN (SELECT k.inbox_id FROM (${candidates}) k)`),
    prepare(env, sql`DELETE FROM events WHERE position IN (SELECT k.position FROM (${candidates}) k)`),
  ]);
  return results[1]!.meta.changes ?? 0;
}
