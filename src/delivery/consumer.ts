import { and, eq, inArray, lt, sql, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { commitBatch, database, prepare } from "../db/client";
import { automationRules, deliveryAttempts, events, inboxes, webhookDeliveries } from "../db/schema";
import { newId } from "../core/ids";
import { config, type Bindings } from "../env";
import { judgeWebhookUrl } from "../core/webhook-url";
import { attemptDelivery, type AttemptResult } from "./attempt";
import { earlierInLinePending, sendDeliveries, type QueueDecision, type QueueMessage } from "./outbox";
import { eventEnvelope } from "./payload";
import { withDataUrls } from "../attachments/render";
import { nextDelaySeconds, queueDelay } from "./schedule";
import { activeSecrets, webhookHeaders } from "./signing";

type Decision = QueueDecision;

type DeliveryRow = typeof webhookDeliveries.$inferSelect;

/** What the Worker's entry (src/index.ts) does with one message of a kind: its consumer's decision. */
export type QueueRoute = (body: QueueMessage) => Promise<QueueDecision>;

/**
 * The deliveries queue: each message goes to its kind's consumer (`route`), and its decision is carried
 * out here — ack, redeliver later, or queue the next attempt. For deliveries that is one attempt per
 * message; the queue's own delay carries the retry schedule.
 */
export async function consumeDeliveries(batch: MessageBatch<QueueMessage>, env: Bindings, route: QueueRoute): Promise<void> {
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
        // Our own failure (D1 down…): the queue retries; after max_retries the dead-letter consumer settles it.
        console.error(JSON.stringify({ level: "error", message: "delivery consumer failed", body: message.body, error: String(error) }));
        message.retry({ delaySeconds: 5 });
      }
    }),
  );
}

/**
 * The dead-letter queue: each message's kind gives up in its own way (`giveUp`, routed by the Worker's
 * entry): deliveries whose schedule ran out (or whose consumer kept crashing) end failed; so do automation
 * runs the engine could never finish.
 */
export async function consumeDeadLetters(
  batch: MessageBatch<QueueMessage>,
  env: Bindings,
  giveUp: (body: QueueMessage) => Promise<void>,
): Promise<void> {
  for (const message of batch.messages) {
    await giveUp(message.body);
    message.ack();
  }
}

/** A delivery the dead-letter queue received: if it is still pending, it ends failed. */
export async function failDeadDelivery(env: Bindings, deliveryId: string): Promise<void> {
  const delivery = await loadDelivery(env, deliveryId);
  if (delivery && delivery.state === "pending") {
    await settle(env, delivery, "failed", { last_error: delivery.lastError ?? "gave up: the delivery could not be processed" });
  }
}

/** Takes the delivery's lease for one attempt if it is pending, not held by another consumer, and `also` holds. */
function leaseQuery(env: Bindings, deliveryId: string, now: number, timeoutMs: number, also: SQL) {
  return database(env)
    .update(webhookDeliveries)
    .set({ leasedUntil: now + timeoutMs + 5_000 })
    .where(
      and(
        eq(webhookDeliveries.id, deliveryId),
        eq(webhookDeliveries.state, "pending"),
        sql`(${webhookDeliveries.leasedUntil} IS NULL OR ${webhookDeliveries.leasedUntil} < ${now})`,
        also,
      ),
    )
    .returning({ attempts: webhookDeliveries.attempts });
}

/** The pending deliveries of one conversation to one endpoint: the line that is delivered in sequence order. */
function pendingInLine(conversationId: string, endpoint: string) {
  return and(
    eq(webhookDeliveries.conversationId, conversationId),
    eq(webhookDeliveries.endpoint, endpoint),
    eq(webhookDeliveries.state, "pending"),
  );
}

async function loadDelivery(env: Bindings, deliveryId: string) {
  return database(env).select().from(webhookDeliveries).where(eq(webhookDeliveries.id, deliveryId)).get();
}

export async function processDelivery(env: Bindings, deliveryId: string, forAttempt?: number): Promise<Decision> {
  const db = database(env);
  const now = Date.now();
  const { webhookTimeoutMs, webhookRetryDelays } = config(env);
  // One round trip: the lease, taken only if this message may attempt now (the delivery is pending, this is
  // its next attempt, it is due, no earlier delivery of its line is pending, nobody else holds it), then the
  // delivery, its inbox and event, and the earlier delivery that blocks it if any.
  const earlier = alias(webhookDeliveries, "earlier");
  const [leased, deliveryRows, inboxRows, eventRows, earlierRows] = await db.batch([
    leaseQuery(env, deliveryId, now, webhookTimeoutMs, sql`${webhookDeliveries.attempts} = ${(forAttempt ?? 1) - 1}
      AND (${webhookDeliveries.nextAttemptAt} IS NULL OR ${webhookDeliveries.nextAttemptAt} <= ${now + 1000})
      AND NOT ${earlierInLinePending(sql`"webhook_deliveries"`)}`),
    db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, deliveryId)),
    db.select().from(inboxes).where(inArray(inboxes.id, db.select({ id: webhookDeliveries.inboxId }).from(webhookDeliveries).where(eq(webhookDeliveries.id, deliveryId)))),
    db.select().from(events).where(inArray(events.id, db.select({ id: webhookDeliveries.eventId }).from(webhookDeliveries).where(eq(webhookDeliveries.id, deliveryId)))),
    db
      .select({ id: earlier.id })
      .from(earlier)
      .innerJoin(
        webhookDeliveries,
        and(
          eq(webhookDeliveries.id, deliveryId),
          eq(earlier.conversationId, webhookDeliveries.conversationId),
          eq(earlier.endpoint, webhookDeliveries.endpoint),
          lt(earlier.sequence, webhookDeliveries.sequence),
        ),
      )
      .where(eq(earlier.state, "pending"))
      .limit(1),
  ]);
  const delivery = deliveryRows[0];
  if (!delivery || delivery.state !== "pending") return { kind: "ack" };
  // A duplicate of a message whose attempt already happened.
  if ((forAttempt ?? 1) !== delivery.attempts + 1) return { kind: "ack" };

  // A wait longer than the queue can delay arrives early: delay again for the rest.
  if (delivery.nextAttemptAt !== null && delivery.nextAttemptAt > now + 1000) {
    return {
      kind: "schedule",
      message: { kind: "delivery", deliveryId, attempt: delivery.attempts + 1 },
      delaySeconds: queueDelay((delivery.nextAttemptAt - now) / 1000),
    };
  }

  // Per conversation and endpoint, one delivery at a time, in sequence order: a later one waits (unqueued)
  // until the earlier one succeeds or fails for good, which then queues it.
  const blockedBy = earlierRows[0];
  if (blockedBy) {
    await db.update(webhookDeliveries).set({ enqueuedAt: null }).where(eq(webhookDeliveries.id, delivery.id));
    // The earlier one may have settled between our read and our write: look once more so nothing stalls.
    const stillEarlier = await db.select({ state: webhookDeliveries.state }).from(webhookDeliveries).where(eq(webhookDeliveries.id, blockedBy.id)).get();
    if (stillEarlier?.state === "pending") return { kind: "ack" };
    leased.push(...(await leaseQuery(env, deliveryId, now, webhookTimeoutMs, sql`1`)));
  }
  // Another consumer holds it: it will settle and queue what follows.
  if (leased.length === 0) return { kind: "ack" };

  const inbox = inboxRows[0];
  if (!inbox || inbox.deletedAt !== null) {
    await settle(env, delivery, "failed", { last_error: "The inbox was deleted; its webhooks stopped." });
    return { kind: "ack" };
  }
  const endpoint = await resolveEndpoint(env, delivery, inbox, now);
  if (!endpoint.ok) {
    await settle(env, delivery, "failed", { last_error: endpoint.error });
    return { kind: "ack" };
  }
  const { url, secrets } = endpoint;

  const event = eventRows[0];
  if (!event) {
    await settle(env, delivery, "failed", { last_error: "The event no longer exists." });
    return { kind: "ack" };
  }
  // Stored attachments get a data_url signed for this attempt (a retry days later carries a fresh one).
  const body = JSON.stringify(await withDataUrls(env, eventEnvelope(event, inbox), now));
  const headers = await webhookHeaders({
    secrets,
    id: event.id,
    timestamp: Math.floor(now / 1000),
    body,
  });
  const result = await attemptDelivery({ url, headers, body, timeoutMs: webhookTimeoutMs });
  const attemptsMade = leased[0]!.attempts + 1;
  // The attempt is recorded in the same write that settles or reschedules the delivery.
  const attempt = attemptRow(env, delivery, attemptsMade, now, result);

  if (result.ok) {
    await settle(env, delivery, "succeeded", { attempts: attemptsMade, last_status_code: result.status_code, last_error: null }, [attempt]);
    return { kind: "ack" };
  }
  const failure = result.error ?? `The endpoint answered ${result.status_code}.`;
  if (result.status_code === 410 && delivery.endpoint === "inbox") {
    const reason = "The endpoint answered 410 Gone";
    const disable = prepare(
      env,
      db
        .update(inboxes)
        .set({ webhookDisabledAt: Date.now(), webhookDisabledReason: reason })
        .where(and(eq(inboxes.id, inbox.id), sql`${inboxes.webhookDisabledAt} IS NULL`)),
    );
    await settle(
      env,
      delivery,
      "failed",
      { attempts: attemptsMade, last_status_code: 410, last_error: `${reason}; the endpoint is disabled until the inbox is updated.` },
      [attempt, disable],
    );
    return { kind: "ack" };
  }
  if (result.status_code === 410) {
    // A rule's URL: this delivery is over; the rule itself stays as its administrator set it.
    await settle(env, delivery, "failed", { attempts: attemptsMade, last_status_code: 410, last_error: "The endpoint answered 410 Gone; not retried." }, [attempt]);
    return { kind: "ack" };
  }
  const delay = nextDelaySeconds(webhookRetryDelays, attemptsMade, result.retry_after_seconds);
  if (delay === null) {
    await commitBatch(env, [
      attempt,
      prepare(
        env,
        db
          .update(webhookDeliveries)
          .set({ attempts: attemptsMade, lastStatusCode: result.status_code, lastError: `${failure} Gave up after ${attemptsMade} attempts.`, leasedUntil: null, updatedAt: Date.now() })
          .where(eq(webhookDeliveries.id, delivery.id)),
      ),
    ]);
    // The dead-letter consumer marks it failed and lets the next delivery of the conversation go.
    await env.DELIVERIES_DLQ.send({ kind: "delivery", deliveryId: delivery.id } satisfies QueueMessage);
    return { kind: "ack" };
  }
  const nextAttemptAt = Date.now() + delay * 1000;
  await commitBatch(env, [
    attempt,
    prepare(
      env,
      db
        .update(webhookDeliveries)
        .set({ attempts: attemptsMade, nextAttemptAt, lastStatusCode: result.status_code, lastError: failure, leasedUntil: null, updatedAt: Date.now() })
        .where(eq(webhookDeliveries.id, delivery.id)),
    ),
  ]);
  return { kind: "schedule", message: { kind: "delivery", deliveryId, attempt: attemptsMade + 1 }, delaySeconds: queueDelay(delay) };
}

type Endpoint = { ok: true; url: string; secrets: string[] } | { ok: false; error: string };

/**
 * Where a delivery goes and which secrets sign it: the inbox's webhook ("inbox"), or the URL of the
 * automation rule whose id is the endpoint (send_webhook_event), signed with the rule's own secret. The
 * URL policy is checked again at send time: it may have changed since the URL was saved.
 */
async function resolveEndpoint(env: Bindings, delivery: DeliveryRow, inbox: typeof inboxes.$inferSelect, now: number): Promise<Endpoint> {
  let url: string | null;
  let secrets: string[];
  if (delivery.endpoint === "inbox") {
    if (inbox.webhookDisabledAt !== null) {
      return { ok: false, error: `The endpoint is disabled: ${inbox.webhookDisabledReason ?? "410 Gone"}. Update the inbox to re-enable it, then replay.` };
    }
    url = inbox.webhookUrl;
    if (!url) return { ok: false, error: "The inbox has no webhook URL any more." };
    secrets = activeSecrets(inbox, now);
  } else {
    const rule = await findRuleById(env, delivery.endpoint);
    if (!rule || rule.deletedAt !== null) return { ok: false, error: "The automation rule that sent this webhook was deleted." };
    url = delivery.url;
    secrets = activeSecrets(rule, now);
  }
  const verdict = judgeWebhookUrl(url, { allowLoopback: config(env).allowLoopbackWebhooks });
  if (!verdict.ok) return { ok: false, error: `The URL is not allowed any more (rule '${verdict.rule}'): ${verdict.reason}.` };
  return { ok: true, url: verdict.url, secrets };
}

/** The rule behind a send_webhook_event delivery (its endpoint is the rule id), deleted or not. */
async function findRuleById(env: Bindings, ruleId: string) {
  return database(env).select().from(automationRules).where(eq(automationRules.id, ruleId)).get();
}

function attemptRow(env: Bindings, delivery: DeliveryRow, attempt: number, startedAt: number, result: AttemptResult) {
  return prepare(
    env,
    database(env)
      .insert(deliveryAttempts)
    .values({
      id: newId("att", startedAt),
      deliveryId: delivery.id,
      accountId: delivery.accountId,
      attempt,
      startedAt,
      durationMs: result.duration_ms,
      statusCode: result.status_code,
      error: result.error ?? null,
      responseExcerpt: result.response_excerpt,
    }),
  );
}

/**
 * Ends a delivery (succeeded or failed), with `alongside` in the same write, and queues the next one of its
 * conversation to that endpoint.
 */
export async function settle(
  env: Bindings,
  delivery: DeliveryRow,
  state: "succeeded" | "failed",
  fields: { attempts?: number; last_status_code?: number | null; last_error: string | null },
  alongside: D1PreparedStatement[] = [],
) {
  const db = database(env);
  const now = Date.now();
  const update = db
    .update(webhookDeliveries)
    .set({
      state,
      attempts: fields.attempts ?? delivery.attempts,
      lastStatusCode: fields.last_status_code === undefined ? delivery.lastStatusCode : fields.last_status_code,
      lastError: fields.last_error,
      leasedUntil: null,
      nextAttemptAt: null,
      completedAt: now,
      updatedAt: now,
    })
    .where(eq(webhookDeliveries.id, delivery.id));
  const statements = [...alongside, prepare(env, update)];
  if (delivery.conversationId !== null) {
    statements.push(
      prepare(
        env,
        db
          .select({ id: webhookDeliveries.id, attempts: webhookDeliveries.attempts })
          .from(webhookDeliveries)
          .where(pendingInLine(delivery.conversationId, delivery.endpoint))
          .orderBy(webhookDeliveries.sequence)
          .limit(1),
      ),
    );
  }
  const results = await commitBatch(env, statements);
  const next = delivery.conversationId === null ? undefined : (results.at(-1)!.results as { id: string; attempts: number }[])[0];
  if (next) await sendDeliveries(env, [next]);
}
