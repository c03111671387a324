import { and, inArray, isNull, lt, sql } from "drizzle-orm";
import { chunks } from "../core/chunks";
import { database } from "../db/client";
import { events, webhookDeliveries } from "../db/schema";
import type { Bindings } from "../env";
import { triggersAutomation } from "./events";
import { enqueueReady, sendDeliveries } from "./outbox";
import { resumeReplays } from "./replay";

/** How long a committed event may wait for its own request to queue it before the sweeper does. */
export const OUTBOX_GRACE_MS = 30_000;
/** The trace of automation runs is kept this long (and their dedupe with it: far beyond any queue redelivery). */
export const RUN_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * A queued delivery not attempted for this long after it was due is considered lost (a local queue dies
 * with its process; a message can be dropped) and is queued again. Short, so a restart delivers within a
 * couple of minutes; a copy that was only late is harmless: the consumer drops a message whose attempt
 * already happened, and the lease keeps two copies from sending at once.
 */
export const LOST_AFTER_MS = 60 * 1000;

export type SweepReport = { events_marked: number; deliveries_queued: number; deliveries_requeued: number; automation_queued: number };

/**
 * Runs on every recovery pass (src/recovery). Nothing committed is lost between D1 and the queue: events
 * whose request died before queueing them (or whose queue send failed), and deliveries whose queue message
 * was lost, are handed over here. Safe to run concurrently and repeatedly: the consumer leases each
 * delivery and skips settled ones.
 */
export async function sweep(env: Bindings, options: { graceMs?: number } = {}): Promise<SweepReport> {
  const graceMs = options.graceMs ?? OUTBOX_GRACE_MS;
  const db = database(env);
  const now = Date.now();

  const deliveriesQueued = await enqueueReady(env, { olderThanMs: graceMs });
  // Replays whose next step's message was lost continue (delivery/replay.ts).
  await resumeReplays(env);

  // Deliveries queued long ago but never attempted when due: the message was lost; queue it again.
  const lost = await db
    .select({ id: webhookDeliveries.id, attempts: webhookDeliveries.attempts })
    .from(webhookDeliveries)
    .where(
      and(
        sql`${webhookDeliveries.state} = 'pending'`,
        lt(webhookDeliveries.enqueuedAt, now - LOST_AFTER_MS),
        sql`COALESCE(${webhookDeliveries.nextAttemptAt}, ${webhookDeliveries.enqueuedAt}) < ${now - LOST_AFTER_MS}`,
        sql`(${webhookDeliveries.leasedUntil} IS NULL OR ${webhookDeliveries.leasedUntil} < ${now})`,
      ),
    )
    .limit(500);
  await sendDeliveries(env, lost);

  // Events whose deliveries are now queued (or that had none) leave the outbox; those the rules engine
  // never got are handed to it now (it dedupes by event and rule, so a second hand-over costs nothing).
  const stale = await db
    .select({ id: events.id, type: events.type, origin: events.origin, messageType: sql<string | null>`json_extract(${events.data}, '$.message.message_type')` })
    .from(events)
    .where(and(isNull(events.queuedAt), lt(events.createdAt, now - graceMs)))
    .limit(1000);
  const forRules = stale.filter((row) => triggersAutomation({ ...row, data: { message: { message_type: row.messageType } } }));
  await sendDeliveries(env, [], forRules.map((row) => row.id));
  for (const chunk of chunks(stale.map((row) => row.id))) {
    await db.update(events).set({ queuedAt: now }).where(inArray(events.id, chunk));
  }
  await db.run(sql`DELETE FROM automation_runs WHERE id IN (
    SELECT id FROM automation_runs WHERE created_at < ${now - RUN_RETENTION_MS} AND state <> 'running' LIMIT 1000)`);
  return { events_marked: stale.length, deliveries_queued: deliveriesQueued, deliveries_requeued: lost.length, automation_queued: forRules.length };
}
