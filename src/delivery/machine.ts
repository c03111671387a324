// The delivery state machine (docs/delivery.md): pure transitions, no I/O. The consumer
// (consumer.ts) reads what a queue message finds, asks these functions what to do, and executes the
// answer as writes fenced by the lease they belong to.
import type { webhookDeliveries } from "../db/schema";
import type { AttemptResult } from "./attempt";
import { nextDelaySeconds, queueDelay } from "./schedule";

export type DeliveryRow = typeof webhookDeliveries.$inferSelect;

/** A lease lasts the endpoint's timeout plus this margin; its expiry time is also its fencing token. */
export const LEASE_MARGIN_MS = 5_000;
/** A delivery due within this is attempted now rather than delayed again. */
export const DUE_SLACK_MS = 1_000;

/**
 * What one queue message found, read in one round trip together with the lease attempt: whether it took
 * the lease, whether it parked the delivery behind an earlier one of its line, and the row afterwards.
 */
export type Arrival = {
  /** The attempt the message is for (1 = the first of the delivery's current cycle). */
  attempt: number;
  row: DeliveryRow | undefined;
  leased: boolean;
  parked: boolean;
  now: number;
};

export type Verdict =
  /** This message holds the lease: make the attempt. */
  | { kind: "attempt" }
  /** Nothing to do: the delivery is settled, the message is a stale duplicate, or it is parked (its predecessor hands it over). */
  | { kind: "drop"; reason: "settled" | "duplicate" | "parked" }
  /** Not due yet (a wait longer than the queue can delay): the same attempt, later. */
  | { kind: "wait"; delaySeconds: number }
  /** Another consumer holds the lease: look again when it has expired (a crashed holder never strands it). */
  | { kind: "busy"; delaySeconds: number };

/** `pending` → (`leased` → attempt) | `parked` | `waiting`; see docs/delivery.md. */
export function onArrival({ attempt, row, leased, parked, now }: Arrival): Verdict {
  if (leased) return { kind: "attempt" };
  if (!row || row.state !== "pending") return { kind: "drop", reason: "settled" };
  if (attempt !== row.attempts + 1) return { kind: "drop", reason: "duplicate" };
  if (parked) return { kind: "drop", reason: "parked" };
  if (row.leasedUntil !== null && row.leasedUntil >= now) {
    return { kind: "busy", delaySeconds: Math.max(1, Math.ceil((row.leasedUntil - now) / 1000) + 1) };
  }
  if (row.nextAttemptAt !== null && row.nextAttemptAt > now + DUE_SLACK_MS) {
    return { kind: "wait", delaySeconds: queueDelay((row.nextAttemptAt - now) / 1000) };
  }
  // The lease and the read disagree only if the row changed between them inside one transaction,
  // which cannot happen; look again shortly rather than drop the message.
  return { kind: "busy", delaySeconds: 1 };
}

/** How an attempt (or the refusal to make one) ends for the delivery. */
export type Outcome =
  | { kind: "succeeded"; statusCode: number | null }
  /** Settled failed: the endpoint said so (410, schedule exhausted) or there is nowhere to send it. */
  | { kind: "failed"; statusCode: number | null; error: string; disableInbox?: string; disableEndpoint?: string }
  | { kind: "retry"; statusCode: number | null; error: string; delaySeconds: number };

/** Before any attempt: the delivery cannot be sent at all (inbox deleted, endpoint disabled, event gone…). */
export function refusal(error: string): Outcome {
  return { kind: "failed", statusCode: null, error };
}

/**
 * After the endpoint answered (or did not): only the endpoint's answers spend the retry schedule —
 * failures of our own (D1, the queue) never reach this function, they retry the same attempt.
 */
export function afterAttempt(input: {
  endpoint: string;
  attemptsMade: number;
  result: AttemptResult;
  delays: number[];
  random?: () => number;
}): Outcome {
  const { result, attemptsMade } = input;
  if (result.ok) return { kind: "succeeded", statusCode: result.status_code };
  const failure = result.error ?? `The endpoint answered ${result.status_code}.`;
  if (result.status_code === 410) {
    if (input.endpoint === "inbox") {
      const reason = "The endpoint answered 410 Gone";
      return { kind: "failed", statusCode: 410, error: `${reason}; the endpoint is disabled until the inbox is updated.`, disableInbox: reason };
    }
    if (isAccountEndpoint(input.endpoint)) {
      const reason = "The endpoint answered 410 Gone";
      return { kind: "failed", statusCode: 410, error: `${reason}; the endpoint is disabled until it is updated.`, disableEndpoint: reason };
    }
    // A rule's URL: this delivery is over; the rule itself stays as its administrator set it.
    return { kind: "failed", statusCode: 410, error: "The endpoint answered 410 Gone; not retried." };
  }
  const delay = nextDelaySeconds(input.delays, attemptsMade, result.retry_after_seconds, input.random);
  if (delay === null) return { kind: "failed", statusCode: result.status_code, error: `${failure} Gave up after ${attemptsMade} attempts.` };
  return { kind: "retry", statusCode: result.status_code, error: failure, delaySeconds: delay };
}

/** The delivery's next state, written only if the lease still belongs to the writer. */
export type Transition = {
  set: Partial<Pick<DeliveryRow, "state" | "attempts" | "nextAttemptAt" | "leasedUntil" | "enqueuedAt" | "lastStatusCode" | "lastError" | "completedAt" | "updatedAt">>;
  /** Log the attempt (false when none was made). */
  recordAttempt: boolean;
  /** Hand the line's head to the queue if it is parked (after a settle: the next delivery). */
  handOverNext: boolean;
  disableInbox?: string;
  /** An account-level endpoint (its id is the delivery's `endpoint`) is disabled: it answered 410. */
  disableEndpoint?: string;
  /** Retry: the message for the next attempt and its delay. */
  schedule?: { attempt: number; delaySeconds: number };
};

export function transition(row: DeliveryRow, outcome: Outcome, attemptMade: boolean, now: number): Transition {
  const attempts = attemptMade ? row.attempts + 1 : row.attempts;
  if (outcome.kind === "retry") {
    return {
      set: {
        attempts,
        nextAttemptAt: now + outcome.delaySeconds * 1000,
        leasedUntil: null,
        // The next attempt's message is handed to the queue right after this write.
        enqueuedAt: now,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.error,
        updatedAt: now,
      },
      recordAttempt: attemptMade,
      // An earlier delivery may have become pending meanwhile (replay, manual retry) and parked.
      handOverNext: row.line !== null,
      schedule: { attempt: attempts + 1, delaySeconds: queueDelay(outcome.delaySeconds) },
    };
  }
  return {
    set: {
      state: outcome.kind,
      attempts,
      nextAttemptAt: null,
      leasedUntil: null,
      lastStatusCode: attemptMade || outcome.statusCode !== null ? outcome.statusCode : row.lastStatusCode,
      lastError: outcome.kind === "failed" ? outcome.error : null,
      completedAt: now,
      updatedAt: now,
    },
    recordAttempt: attemptMade,
    handOverNext: row.line !== null,
    ...(outcome.kind === "failed" && outcome.disableInbox ? { disableInbox: outcome.disableInbox } : {}),
    ...(outcome.kind === "failed" && outcome.disableEndpoint ? { disableEndpoint: outcome.disableEndpoint } : {}),
  };
}

/**
 * Backoff for our own failures (D1 or the queue unreachable), by how often the queue has delivered the
 * message: 5 s doubling to 5 min. With the queue's max_retries that rides out hours of outage, and it
 * never touches the endpoint's schedule.
 */
export function infrastructureBackoffSeconds(deliveriesOfMessage: number): number {
  return Math.min(300, 5 * 2 ** Math.max(0, Math.min(10, deliveriesOfMessage - 1)));
}

/** The id prefix of account-level webhook endpoints (webhook_endpoints): a delivery's `endpoint` is one of them. */
export const ACCOUNT_ENDPOINT_PREFIX = "whe_";

/** Whether a delivery's endpoint is an account-level endpoint (not the inbox's, not an automation rule's). */
export function isAccountEndpoint(endpoint: string): boolean {
  return endpoint.startsWith(ACCOUNT_ENDPOINT_PREFIX);
}

/** The line an event's deliveries are ordered in: its conversation, or its contact for contact events. */
export function lineOf(event: { conversationId?: string | null; type: string; data: unknown }): string | null {
  if (event.conversationId) return event.conversationId;
  if (event.type.startsWith("contact_")) {
    const contact = (event.data as { contact?: { id?: unknown } } | null)?.contact;
    if (typeof contact?.id === "string") return contact.id;
  }
  return null;
}
