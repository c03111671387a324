// The object has one alarm for two jobs: waking a snoozed conversation and forgetting old Idempotency-Keys.
import { DEDUPE_RETENTION_MS } from "./dedupe";

/** What the object keeps in storage to wake its conversation up. */
/** `shard`: the conversation's shard binding (absent in snoozes stored before sharding: the first shard). */
export type Snooze = { conversationId: string; until: number; shard?: string };

/** When the alarm should ring next (null: no alarm): the earlier of the snooze's end and the oldest key's expiry. */
export function nextAlarmAt(input: { snoozeUntil: number | undefined; oldestKeyAt: number | null }): number | null {
  const candidates = [input.snoozeUntil, input.oldestKeyAt === null ? undefined : input.oldestKeyAt + DEDUPE_RETENTION_MS].filter(
    (at): at is number => at !== undefined,
  );
  return candidates.length === 0 ? null : Math.min(...candidates);
}

/** Whether a ringing alarm is the snooze's: its time has come. */
export function snoozeDue(snooze: Pick<Snooze, "until"> | null | undefined, now: number): boolean {
  return !!snooze && snooze.until <= now;
}
