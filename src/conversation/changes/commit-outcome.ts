// What a failed commit means. D1 reports a unique-index violation only as text naming the index's
// columns, so this is the one place that reads those names.
import { isUniqueViolation } from "../../db/client";

export type CommitFailure =
  /** Another message of the inbox already has this Idempotency-Key (a retry raced its original). */
  | { kind: "key_taken" }
  /** Another message of the inbox already has this source_id. */
  | { kind: "source_taken" }
  /** The inbox locks the contact to one unresolved conversation and another one holds the lock. */
  | { kind: "conflict"; detail: string }
  /** A seq/sequence clash: the object's state was older than D1. Re-read and try once more. */
  | { kind: "stale" }
  /** Anything else: not ours to interpret. */
  | { kind: "unknown" };

export const SINGLE_OPEN_CONFLICT =
  "The contact already has another unresolved conversation in this inbox (the inbox locks contacts to one); resolve it first.";

export function classifyCommitError(error: unknown): CommitFailure {
  if (isUniqueViolation(error, "messages.request_key")) return { kind: "key_taken" };
  if (isUniqueViolation(error, "messages.inbox_id") || isUniqueViolation(error, "messages_source")) return { kind: "source_taken" };
  if (isUniqueViolation(error, "single_open_key")) return { kind: "conflict", detail: SINGLE_OPEN_CONFLICT };
  if (isUniqueViolation(error)) return { kind: "stale" };
  return { kind: "unknown" };
}
