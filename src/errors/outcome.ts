/**
 * A write was sent and no definite answer came back: D1 may have committed it, or the conversation
 * object may have committed before it was reset. Not "nothing was written" — the client must find out
 * (retry with the same Idempotency-Key or source_id, or read the history) before writing again.
 *
 * Recognised by its message prefix, because Durable Object RPC carries an error's message but not its class.
 */
export class OutcomeUnknown extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${OUTCOME_UNKNOWN_PREFIX} ${what}`, options);
    this.name = "OutcomeUnknown";
  }
}

const OUTCOME_UNKNOWN_PREFIX = "OUTCOME_UNKNOWN:";

export function isOutcomeUnknown(error: unknown): boolean {
  return error instanceof OutcomeUnknown || (error instanceof Error && error.message.startsWith(OUTCOME_UNKNOWN_PREFIX));
}
