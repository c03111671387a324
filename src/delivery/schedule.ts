/** Cloudflare Queues cannot delay a message longer than this; longer waits are chained. */
export const MAX_QUEUE_DELAY_SECONDS = 12 * 60 * 60;
/** A Retry-After beyond a day is not honoured as such; the regular schedule continues. */
const MAX_RETRY_AFTER_SECONDS = 24 * 60 * 60;

/**
 * Seconds to wait before the next attempt, after `attemptsMade` attempts have failed; null when the
 * schedule is exhausted. Retry-After (on 429/503) wins when it asks for longer. ±10 % jitter spreads a
 * burst of failures so they do not all come back at the same moment.
 */
export function nextDelaySeconds(
  delays: number[],
  attemptsMade: number,
  retryAfterSeconds: number | undefined,
  random: () => number = Math.random,
): number | null {
  const scheduled = delays[attemptsMade - 1];
  if (scheduled === undefined) return null;
  const jittered = scheduled * (0.9 + 0.2 * random());
  const honoured = retryAfterSeconds === undefined ? 0 : Math.min(retryAfterSeconds, MAX_RETRY_AFTER_SECONDS);
  return Math.max(1, Math.round(Math.max(jittered, honoured)));
}

/** The queue delay for a wait of `seconds`: at most the queue's cap; the consumer re-delays the rest. */
export function queueDelay(seconds: number): number {
  return Math.max(0, Math.min(Math.ceil(seconds), MAX_QUEUE_DELAY_SECONDS));
}
