import { and, eq, lte } from "drizzle-orm";
import { conversationObject } from "../conversation/stub";
import { database } from "../db/client";
import { conversations } from "../db/schema";
import { sweep, type SweepReport } from "../delivery/sweeper";
import type { Bindings } from "../env";
import { prune, type PruneReport } from "./retention";
import { pruneUnreferencedUploads } from "../attachments/store";

export type RecoveryReport = SweepReport & PruneReport & { snoozes_due: number; uploads_pruned: number };

/**
 * One recovery pass (the recovery object's alarm runs it every few seconds): hand over what the outbox and
 * the queue lost, wake conversations whose snooze is due, prune what is older than the retention window,
 * and remove uploads no message referenced within 24 h (at most 100 a pass; docs/attachments.md).
 * Each part runs even if another fails; every part is idempotent and safe to run concurrently.
 */
export async function recover(env: Bindings, now = Date.now()): Promise<RecoveryReport> {
  const failures: unknown[] = [];
  const attempt = async <T>(work: () => Promise<T>, empty: T): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      failures.push(error);
      return empty;
    }
  };
  const swept = await attempt(() => sweep(env), { events_marked: 0, deliveries_queued: 0, deliveries_requeued: 0, automation_queued: 0 });
  const snoozes_due = await attempt(() => wakeDueSnoozes(env, now), 0);
  const pruned = await attempt(() => prune(env, now), { events_pruned: 0, deliveries_pruned: 0, attempts_pruned: 0, replays_pruned: 0 });
  const uploads_pruned = await attempt(() => pruneUnreferencedUploads(env, now), 0);
  if (failures.length > 0) throw new AggregateError(failures, `recovery: ${failures.length} part(s) failed: ${failures.map(String).join("; ")}`);
  return { ...swept, snoozes_due, ...pruned, uploads_pruned };
}

/** Conversations woken per pass, and at a time. */
const WAKE_LIMIT = 200;
const WAKE_CONCURRENCY = 10;

/**
 * The backstop of the conversation's own snooze alarm (whose retries can run out): every conversation
 * still snoozed past its time is woken through its object, which re-checks under its own lock — waking
 * twice, or racing a new snooze, changes nothing.
 */
export async function wakeDueSnoozes(env: Bindings, now = Date.now()): Promise<number> {
  const due = await database(env)
    .select({ id: conversations.id })
    .from(conversations)
    .where(and(eq(conversations.status, "snoozed"), lte(conversations.snoozedUntil, now)))
    .orderBy(conversations.snoozedUntil)
    .limit(WAKE_LIMIT);
  let woken = 0;
  for (let i = 0; i < due.length; i += WAKE_CONCURRENCY) {
    const results = await Promise.allSettled(due.slice(i, i + WAKE_CONCURRENCY).map((row) => conversationObject(env, row.id).wakeIfDue(row.id)));
    woken += results.filter((result) => result.status === "fulfilled").length;
  }
  return woken;
}
