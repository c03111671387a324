// The thin shell around the delivery state machine (machine.ts, docs/delivery.md): per queue message one
// D1 round trip to take the lease and read what the attempt needs, the attempt, and one D1 round trip
// that writes the outcome — fenced by the lease — and hands the line's next delivery over.
import { and, eq, sql } from "drizzle-orm";
import { commitBatch, database, mapRow, prepare, prepareCompiled, runBatch } from "../db/client";
import { automationRules, events, inboxes, webhookDeliveries, webhookEndpoints, type PayloadFormat, type SignatureScheme } from "../db/schema";
import { newId } from "../core/ids";
import { judgeWebhookUrl } from "../core/webhook-url";
import { config, type Bindings, type WorkerEnv } from "../env";
import { clock } from "../faults";
import { attemptDelivery, type AttemptResult } from "./attempt";
import {
  afterAttempt,
  DUE_SLACK_MS,
  infrastructureBackoffSeconds,
  isAccountEndpoint,
  LEASE_MARGIN_MS,
  onArrival,
  refusal,
  transition,
  type DeliveryRow,
  type Outcome,
  type Transition,
} from "./machine";
import { handOver, lineBusy, sameLineAs, type QueueDecision, type QueueMessage } from "./outbox";
import { eventEnvelope } from "./payload";
import { withDataUrls } from "../attachments/render";
import { activeSecrets, signedHeaders } from "./signing";
import { chatwootPayload } from "../chatwoot/webhooks";

/** What the Worker's entry (src/index.ts) does with one message of a kind: its consumer's decision. */
export type QueueRoute = (body: QueueMessage) => Promise<QueueDecision>;

/**
 * The deliveries queue: each message goes to its kind's consumer (`route`), and its decision is carried
 * out here — ack, redeliver later, or queue the next attempt. For deliveries that is one attempt per
 * message; the queue's own delay carries the retry schedule.
 */
export async function consumeDeliveries(batch: MessageBatch<QueueMessage>, env: WorkerEnv, route: QueueRoute): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      try {
        const decision = await route(message.body);
        if (decision.kind === "schedule") {
          await env.DELIVERIES.send(decision.message, { delaySeconds: decision.delaySeconds });
          message.ack();
        } else if (decision.kind === "ack") message.ack();
        else message.retry({ delaySeconds: decision.delaySeconds });
      } catch (error) {
        // Our own failure (D1 or the queue unreachable): the same message again, backing off. It never
        // counts as an attempt; a delivery is never failed for it (see consumeDeadLetters).
        console.error(JSON.stringify({ level: "error", message: "delivery consumer failed", body: message.body, error: String(error) }));
        message.retry({ delaySeconds: infrastructureBackoffSeconds(message.attempts) });
      }
    }),
  );
}

/**
 * The dead-letter queue: messages the consumer could not process for max_retries deliveries (hours of
 * our own trouble). Each kind gives up in its own way (`giveUp`, routed by the Worker's entry); if that
 * fails too, the message is retried.
 */
export async function consumeDeadLetters(
  batch: MessageBatch<QueueMessage>,
  env: WorkerEnv,
  giveUp: (body: QueueMessage) => Promise<void>,
): Promise<void> {
  for (const message of batch.messages) {
    try {
      await giveUp(message.body);
      message.ack();
    } catch {
      message.retry({ delaySeconds: 60 });
    }
  }
}

/**
 * A delivery whose message reached the dead-letter queue is not failed — only its endpoint's answers
 * fail it: it is parked unqueued, and recovery (enqueueReady) hands it over again.
 */
export async function parkDeadDelivery(env: Bindings, deliveryId: string): Promise<void> {
  await database(env)
    .update(webhookDeliveries)
    .set({ enqueuedAt: null })
    .where(
      and(
        eq(webhookDeliveries.id, deliveryId),
        eq(webhookDeliveries.state, "pending"),
        sql`(${webhookDeliveries.leasedUntil} IS NULL OR ${webhookDeliveries.leasedUntil} < ${clock.now()})`,
      ),
    );
}

/** The lease is held while `leased_until` equals the token it was taken with (the value is unique per lease). */
function holds(deliveryId: unknown, token: unknown) {
  return sql`EXISTS (SELECT 1 FROM webhook_deliveries AS held WHERE held.id = ${deliveryId} AND held.state = 'pending' AND held.leased_until = ${token})`;
}

const P = sql.placeholder;

/**
 * The statements of `arrive`, compiled once per isolate (prepareCompiled): their shape never changes,
 * only the values (`id`, `prior` attempts, `now`, `due`, `token`).
 */
function arriveStatements(env: Bindings, values: { id: string; prior: number; now: number; due: number; token: number }): D1PreparedStatement[] {
  const db = () => database(env);
  const current = () => and(eq(webhookDeliveries.id, P("id")), eq(webhookDeliveries.state, "pending"), eq(webhookDeliveries.attempts, P("prior")));
  const ofDelivery = (column: "inbox_id" | "event_id" | "endpoint") => sql`(SELECT ${sql.raw(column)} FROM webhook_deliveries WHERE id = ${P("id")})`;
  const underLease = <T extends typeof inboxes | typeof events | typeof automationRules | typeof webhookEndpoints>(
    key: string,
    table: T,
    column: "inbox_id" | "event_id" | "endpoint",
  ) =>
    prepareCompiled(
      env,
      `delivery.arrive.${key}`,
      () => db().select().from(table as typeof inboxes).where(and(sql`${(table as typeof inboxes).id} = ${ofDelivery(column)}`, holds(P("id"), P("token")))),
      values,
    );
  return [
    prepareCompiled(
      env,
      "delivery.arrive.lease",
      () =>
        db()
          .update(webhookDeliveries)
          .set({ leasedUntil: sql`${P("token")}` })
          .where(
            and(
              current(),
              sql`(${webhookDeliveries.leasedUntil} IS NULL OR ${webhookDeliveries.leasedUntil} < ${P("now")})`,
              sql`(${webhookDeliveries.nextAttemptAt} IS NULL OR ${webhookDeliveries.nextAttemptAt} <= ${P("due")})`,
              sql`NOT ${lineBusy(sql`"webhook_deliveries"`, P("now"))}`,
            ),
          )
          .returning({ id: webhookDeliveries.id }),
      values,
    ),
    prepareCompiled(
      env,
      "delivery.arrive.park",
      () =>
        db()
          .update(webhookDeliveries)
          .set({ enqueuedAt: null })
          .where(and(current(), lineBusy(sql`"webhook_deliveries"`, P("now"))))
          .returning({ id: webhookDeliveries.id }),
      values,
    ),
    prepareCompiled(env, "delivery.arrive.row", () => db().select().from(webhookDeliveries).where(eq(webhookDeliveries.id, P("id"))), values),
    underLease("inbox", inboxes, "inbox_id"),
    underLease("event", events, "event_id"),
    underLease("rule", automationRules, "endpoint"),
    underLease("endpoint", webhookEndpoints, "endpoint"),
  ];
}

/**
 * One round trip: takes the lease if this message may attempt now — the delivery is pending, this is its
 * next attempt, it is due, nobody holds it, and its line is not busy (no earlier delivery pending, no
 * other one in flight) — or else parks it if the line is busy (the outcome of the delivery in the way
 * hands this one over); then reads the delivery and, under the lease, what the attempt needs.
 */
async function arrive(env: Bindings, deliveryId: string, attempt: number, now: number, token: number, alongside: D1PreparedStatement[]) {
  const [leased, parked, rows, inboxRows, eventRows, ruleRows, endpointRows] = await runBatch(env, [
    ...arriveStatements(env, { id: deliveryId, prior: attempt - 1, now, due: now + DUE_SLACK_MS, token }),
    ...alongside,
  ]);
  return {
    leased: leased!.length > 0,
    parked: parked!.length > 0,
    row: rows!.map((row) => mapRow<DeliveryRow>(webhookDeliveries, row))[0],
    inbox: inboxRows!.map((row) => mapRow<typeof inboxes.$inferSelect>(inboxes, row))[0],
    event: eventRows!.map((row) => mapRow<typeof events.$inferSelect>(events, row))[0],
    rule: ruleRows!.map((row) => mapRow<typeof automationRules.$inferSelect>(automationRules, row))[0],
    endpoint: endpointRows!.map((row) => mapRow<typeof webhookEndpoints.$inferSelect>(webhookEndpoints, row))[0],
  };
}

/**
 * One queue message's work: arrive (lease or park), the attempt, the outcome — and the line's next
 * deliveries while the chain's budget lasts. `alongside` rides in the arrive batch (the direct path's
 * mark of its events as handed over, direct.ts).
 */
export async function processDelivery(env: Bindings, deliveryId: string, forAttempt = 1, alongside: D1PreparedStatement[] = []): Promise<QueueDecision> {
  const now = clock.now();
  const { webhookTimeoutMs, webhookRetryDelays, allowLoopbackWebhooks } = config(env);
  // The lease's expiry is its fencing token: a later lease of the same delivery always expires later.
  const token = now + webhookTimeoutMs + LEASE_MARGIN_MS;
  const found = await arrive(env, deliveryId, forAttempt, now, token, alongside);
  const verdict = onArrival({ attempt: forAttempt, row: found.row, leased: found.leased, parked: found.parked, now });
  if (verdict.kind === "drop") return { kind: "ack" };
  if (verdict.kind === "busy") return { kind: "retry", delaySeconds: verdict.delaySeconds };
  if (verdict.kind === "wait") {
    return { kind: "schedule", message: { kind: "delivery", deliveryId, attempt: forAttempt, shard: env.SHARD }, delaySeconds: verdict.delaySeconds };
  }

  // The attempt, then — while the budget lasts — the next delivery of the same line, leased in the same
  // round trip that wrote this one's outcome: a busy line keeps going without a queue hop.
  let current: Leased = { row: found.row!, inbox: found.inbox, event: found.event, rule: found.rule, endpoint: found.endpoint, token, now };
  for (let chained = 0; ; chained++) {
    const target = resolveTarget(current.row, current, current.now, allowLoopbackWebhooks);
    let outcome: Outcome;
    let result: AttemptResult | undefined;
    if (!target.ok) outcome = refusal(target.error);
    else {
      // Stored attachments get a data_url signed for this attempt (a retry days later carries a fresh one).
      const body = JSON.stringify(await withDataUrls(env, await payloadFor(env, target.format, current.event!, current.inbox!), current.now));
      const headers = await signedHeaders(target.signature, { secrets: target.secrets, id: current.event!.id, timestamp: Math.floor(current.now / 1000), body });
      result = await attemptDelivery({ url: target.url, headers, body, timeoutMs: webhookTimeoutMs });
      outcome = afterAttempt({ endpoint: current.row.endpoint, attemptsMade: current.row.attempts + 1, result, delays: webhookRetryDelays });
    }
    const written = clock.now();
    const next = transition(current.row, outcome, result !== undefined, written);
    const keepGoing = chained + 1 < CHAIN_ATTEMPTS && written - now < CHAIN_MS;
    const following = await commitTransition(env, current.row, current.token, next, result ? { startedAt: current.now, result } : undefined, {
      chain: keepGoing ? { token: written + webhookTimeoutMs + LEASE_MARGIN_MS } : undefined,
    });
    if (!following) break;
    current = following;
  }
  return { kind: "ack" };
}

/** A message attempts at most this many deliveries of its line, within about this long, before handing over. */
const CHAIN_ATTEMPTS = 25;
const CHAIN_MS = 30_000;

/** A delivery under this consumer's lease, with what its attempt needs. */
type Leased = {
  row: DeliveryRow;
  inbox?: typeof inboxes.$inferSelect;
  event?: typeof events.$inferSelect;
  rule?: typeof automationRules.$inferSelect;
  endpoint?: typeof webhookEndpoints.$inferSelect;
  token: number;
  now: number;
};

type Target = { ok: true; url: string; secrets: string[]; format: PayloadFormat; signature: SignatureScheme } | { ok: false; error: string };

/**
 * The body an endpoint asked for: our envelope, or Chatwoot's payload (src/chatwoot/webhooks.ts). An event
 * Chatwoot has no webhook for (webhook.test, contact_deleted) keeps our envelope.
 */
async function payloadFor(env: Bindings, format: PayloadFormat, event: typeof events.$inferSelect, inbox: typeof inboxes.$inferSelect) {
  if (format === "chatwoot") {
    const body = await chatwootPayload(env, event, inbox);
    if (body) return body;
  }
  return eventEnvelope(event, inbox);
}

/**
 * Where a delivery goes and which secrets sign it: the inbox's webhook ("inbox"), an account-level
 * endpoint's current URL and secrets (its id is the endpoint), or the URL of the automation rule whose id
 * is the endpoint (send_webhook_event), signed with the rule's own secret. The URL policy is checked
 * again at send time: it may have changed since the URL was saved.
 */
function resolveTarget(
  delivery: DeliveryRow,
  found: {
    inbox?: typeof inboxes.$inferSelect;
    event?: typeof events.$inferSelect;
    rule?: typeof automationRules.$inferSelect;
    endpoint?: typeof webhookEndpoints.$inferSelect;
  },
  now: number,
  allowLoopback: boolean,
): Target {
  const { inbox, event, rule, endpoint } = found;
  if (!inbox || inbox.deletedAt !== null) return { ok: false, error: "The inbox was deleted; its webhooks stopped." };
  let url: string | null;
  let secrets: string[];
  let format: PayloadFormat = "edge-inbox";
  let signature: SignatureScheme = "standard";
  if (delivery.endpoint === "inbox") {
    if (inbox.webhookDisabledAt !== null) {
      return { ok: false, error: `The endpoint is disabled: ${inbox.webhookDisabledReason ?? "410 Gone"}. Update the inbox to re-enable it, then replay.` };
    }
    url = inbox.webhookUrl;
    if (!url) return { ok: false, error: "The inbox has no webhook URL any more." };
    secrets = activeSecrets(inbox, now);
    format = inbox.webhookPayloadFormat;
    signature = inbox.webhookSignature;
  } else if (isAccountEndpoint(delivery.endpoint)) {
    if (!endpoint || endpoint.deletedAt !== null) return { ok: false, error: "The webhook endpoint was deleted." };
    if (endpoint.disabledAt !== null) {
      return { ok: false, error: `The endpoint is disabled: ${endpoint.disabledReason ?? "410 Gone"}. Update it to re-enable it, then replay.` };
    }
    url = endpoint.url;
    secrets = activeSecrets(endpoint, now);
    format = endpoint.payloadFormat;
    signature = endpoint.signature;
  } else {
    if (!rule || rule.deletedAt !== null) return { ok: false, error: "The automation rule that sent this webhook was deleted." };
    url = delivery.url;
    secrets = activeSecrets(rule, now);
  }
  if (!event) return { ok: false, error: "The event no longer exists." };
  const verdict = judgeWebhookUrl(url, { allowLoopback });
  if (!verdict.ok) return { ok: false, error: `The URL is not allowed any more (rule '${verdict.rule}'): ${verdict.reason}.` };
  return { ok: true, url: verdict.url, secrets, format, signature };
}

/**
 * One round trip: the attempt's log row, the 410 disable, the delivery's new state — each written only
 * while this consumer still holds the lease — and the hand-over of its line's head if that is parked
 * (marked queued here, sent right after): after a settle the next one, after a retry an earlier one a
 * replay made pending meanwhile. Then the queue messages.
 */
async function commitTransition(
  env: Bindings,
  delivery: DeliveryRow,
  token: number,
  next: Transition,
  attempt: { startedAt: number; result: AttemptResult } | undefined,
  options: { chain?: { token: number } } = {},
): Promise<Leased | undefined> {
  const db = database(env);
  const now = next.set.updatedAt ?? clock.now();
  const statements: D1PreparedStatement[] = [];
  // The hot statements are compiled once (prepareCompiled); these are their values.
  const values = {
    id: delivery.id,
    token,
    now,
    due: now + DUE_SLACK_MS,
    line: delivery.line,
    endpoint: delivery.endpoint,
    inboxId: delivery.inboxId,
    chainToken: options.chain?.token ?? null,
  };
  if (next.recordAttempt && attempt) {
    const { result, startedAt } = attempt;
    statements.push(
      prepareCompiled(
        env,
        "delivery.outcome.attempt",
        () => sql`INSERT INTO delivery_attempts (id, delivery_id, account_id, attempt, started_at, duration_ms, status_code, error, response_excerpt)
          SELECT ${P("attemptId")}, ${P("id")}, ${P("accountId")}, ${P("attempt")}, ${P("startedAt")}, ${P("duration")},
                 ${P("status")}, ${P("error")}, ${P("excerpt")}
          WHERE ${holds(P("id"), P("token"))}`,
        {
          ...values,
          attemptId: newId("att", startedAt),
          accountId: delivery.accountId,
          attempt: delivery.attempts + 1,
          startedAt,
          duration: result.duration_ms,
          status: result.status_code,
          error: result.error ?? null,
          excerpt: result.response_excerpt,
        },
      ),
    );
  }
  if (next.disableInbox) {
    statements.push(
      prepare(
        env,
        db
          .update(inboxes)
          .set({ webhookDisabledAt: now, webhookDisabledReason: next.disableInbox })
          .where(and(eq(inboxes.id, delivery.inboxId), sql`${inboxes.webhookDisabledAt} IS NULL`, holds(delivery.id, token))),
      ),
    );
  }
  if (next.disableEndpoint) {
    statements.push(
      prepare(
        env,
        db
          .update(webhookEndpoints)
          .set({ disabledAt: now, disabledReason: next.disableEndpoint, updatedAt: now })
          .where(and(eq(webhookEndpoints.id, delivery.endpoint), sql`${webhookEndpoints.disabledAt} IS NULL`, holds(delivery.id, token))),
      ),
    );
  }
  // The new state: one compiled statement per set of columns a transition writes (a handful of shapes).
  const columns = (Object.keys(next.set) as (keyof Transition["set"])[]).filter((column) => next.set[column] !== undefined).sort();
  statements.push(
    prepareCompiled(
      env,
      `delivery.outcome.write:${columns.join(",")}`,
      () =>
        db
          .update(webhookDeliveries)
          .set(Object.fromEntries(columns.map((column) => [column, P(`set_${column}`)])))
          .where(and(eq(webhookDeliveries.id, P("id")), eq(webhookDeliveries.state, "pending"), eq(webhookDeliveries.leasedUntil, P("token"))))
          .returning({ id: webhookDeliveries.id }),
      { ...values, ...Object.fromEntries(columns.map((column) => [`set_${column}`, next.set[column]])) },
    ),
  );
  const wroteAt = statements.length - 1;
  const line = { line: P("line"), endpoint: P("endpoint"), inboxId: P("inboxId") };
  const head = sql`(SELECT d.id FROM webhook_deliveries d WHERE ${sameLineAs(sql`d`, line)} AND d.state = 'pending' ORDER BY d.sequence LIMIT 1)`;
  const chain = next.handOverNext ? options.chain : undefined;
  let chainedAt = -1;
  let kindRowAt = -1;
  if (chain) {
    // Continue the line here: lease its head if it is parked, due and its line is not busy — the same
    // conditions as a queue message's lease — and read what its attempt needs, under that lease.
    const chained = sql`(SELECT d.id FROM webhook_deliveries d WHERE ${sameLineAs(sql`d`, line)} AND d.state = 'pending' AND d.leased_until = ${P("chainToken")})`;
    const ofChained = (column: string) => sql`(SELECT ${sql.raw(column)} FROM webhook_deliveries WHERE id = ${chained})`;
    chainedAt = statements.length;
    statements.push(
      prepareCompiled(
        env,
        "delivery.chain.lease",
        () => sql`UPDATE webhook_deliveries SET leased_until = ${P("chainToken")}
          WHERE id = ${head} AND enqueued_at IS NULL
            AND (leased_until IS NULL OR leased_until < ${P("now")})
            AND (next_attempt_at IS NULL OR next_attempt_at <= ${P("due")})
            AND NOT ${lineBusy(sql`webhook_deliveries`, P("now"))}
          RETURNING *`,
        values,
      ),
      prepareCompiled(env, "delivery.chain.inbox", () => db.select().from(inboxes).where(sql`${inboxes.id} = ${ofChained("inbox_id")}`), values),
      prepareCompiled(env, "delivery.chain.event", () => db.select().from(events).where(sql`${events.id} = ${ofChained("event_id")}`), values),
    );
    // The chained delivery is of the same line, so of the same endpoint: only its kind's row is read
    // (the inbox's own endpoint needs neither a rule nor an account-level endpoint).
    if (delivery.endpoint !== "inbox") kindRowAt = statements.length;
    if (delivery.endpoint !== "inbox" && !isAccountEndpoint(delivery.endpoint)) {
      statements.push(
        prepareCompiled(env, "delivery.chain.rule", () => db.select().from(automationRules).where(sql`${automationRules.id} = ${ofChained("endpoint")}`), values),
      );
    } else if (isAccountEndpoint(delivery.endpoint)) {
      statements.push(
        prepareCompiled(env, "delivery.chain.endpoint", () => db.select().from(webhookEndpoints).where(sql`${webhookEndpoints.id} = ${ofChained("endpoint")}`), values),
      );
    }
  }
  let handedAt = -1;
  if (next.handOverNext) {
    // The head of the line, if it is parked (or was never queued) and not continued here: whichever of
    // its park and this write commits first, the other sees it — nothing waits forever, nothing jumps the line.
    handedAt = statements.length;
    statements.push(
      prepareCompiled(
        env,
        chain ? "delivery.handover.chained" : "delivery.handover",
        () => sql`UPDATE webhook_deliveries SET enqueued_at = ${P("now")}
          WHERE id = ${head} AND enqueued_at IS NULL ${chain ? sql`AND leased_until IS NOT ${P("chainToken")}` : sql``}
          RETURNING id, attempts`,
        values,
      ),
    );
  }
  const results = await commitBatch(env, statements);
  const wrote = (results[wroteAt]!.results as unknown[]).length > 0;
  if (!wrote) {
    console.warn(JSON.stringify({ level: "warn", message: "delivery lease lost before its outcome was written", deliveryId: delivery.id }));
  } else if (next.schedule) {
    await handOver(env, [{ id: delivery.id, attempts: next.schedule.attempt - 1 }], { delaySeconds: next.schedule.delaySeconds, markedAt: now });
  }
  const handed = handedAt >= 0 ? (results[handedAt]!.results as { id: string; attempts: number }[]) : [];
  if (handed.length > 0) await handOver(env, handed, { markedAt: now });
  if (chainedAt < 0) return undefined;
  const rows = (index: number) => results[index]!.results as Record<string, unknown>[];
  const leased = rows(chainedAt)[0];
  if (!leased) return undefined;
  return {
    row: mapRow<DeliveryRow>(webhookDeliveries, leased),
    inbox: rows(chainedAt + 1).map((row) => mapRow<typeof inboxes.$inferSelect>(inboxes, row))[0],
    event: rows(chainedAt + 2).map((row) => mapRow<typeof events.$inferSelect>(events, row))[0],
    rule: kindRowAt >= 0 && !isAccountEndpoint(delivery.endpoint) ? rows(kindRowAt).map((row) => mapRow<typeof automationRules.$inferSelect>(automationRules, row))[0] : undefined,
    endpoint: kindRowAt >= 0 && isAccountEndpoint(delivery.endpoint) ? rows(kindRowAt).map((row) => mapRow<typeof webhookEndpoints.$inferSelect>(webhookEndpoints, row))[0] : undefined,
    token: chain!.token,
    now,
  };
}
