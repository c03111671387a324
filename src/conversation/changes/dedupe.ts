// Idempotency-Keys the object remembers: a retried request with the same key and the same body gets the
// message it already created; the same key with another body is refused.

/** Idempotency-Keys are honoured for at least 24 hours. */
export const DEDUPE_RETENTION_MS = 25 * 60 * 60 * 1000;

export type RememberedKey = { fingerprint: string; message_id: string };

export type KeyCheck = { kind: "new" } | { kind: "mismatch" } | { kind: "replay"; messageId: string };

export function checkKey(seen: RememberedKey | undefined, fingerprint: string): KeyCheck {
  if (!seen) return { kind: "new" };
  if (seen.fingerprint !== fingerprint) return { kind: "mismatch" };
  return { kind: "replay", messageId: seen.message_id };
}

/** Keys created before this time are forgotten. */
export function keysExpireBefore(now: number): number {
  return now - DEDUPE_RETENTION_MS;
}
