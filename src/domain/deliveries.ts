import { and, desc, eq, inArray, ne, sql, type SQL } from "drizzle-orm";
import { database } from "../db/client";
import { deliveryAttempts, events, webhookDeliveries, type DeliveryState } from "../db/schema";
import { eventEnvelope } from "../delivery/payload";
import { withDataUrls } from "../attachments/render";
import { enqueueReady } from "../delivery/outbox";
import { startReplay } from "../delivery/replay";
import { ACCOUNT_ENDPOINT_PREFIX } from "../delivery/machine";
import { config, type Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { requireInbox } from "./inboxes";
import { requireEndpoint } from "./webhook-endpoints";
import { beyondKey, decodeCursor, page } from "../core/pagination";
import { iso } from "../core/time";

type DeliveryRow = typeof webhookDeliveries.$inferSelect;
type AttemptRow = typeof deliveryAttempts.$inferSelect;

function toAttempt(row: AttemptRow) {
  return {
    attempt: row.attempt,
    started_at: iso(row.startedAt),
    duration_ms: row.durationMs,
    status_code: row.statusCode,
    error: row.error,
    response_excerpt: row.responseExcerpt,
  };
}

export type Delivery = ReturnType<typeof toDelivery>;

function toDelivery(row: DeliveryRow, attempts: AttemptRow[]) {
  return {
    id: row.id,
    event_id: row.eventId,
    event_type: row.eventType,
    conversation_id: row.conversationId,
    sequence: row.sequence,
    endpoint: row.endpoint,
    url: row.url,
    state: row.state,
    attempts_count: row.attempts,
    next_attempt_at: iso(row.nextAttemptAt),
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    created_at: iso(row.createdAt),
    completed_at: iso(row.completedAt),
    attempts: attempts.map(toAttempt),
  };
}

async function withAttempts(env: Bindings, rows: DeliveryRow[]) {
  if (rows.length === 0) return [];
  const attempts = await database(env)
    .select()
    .from(deliveryAttempts)
    .where(inArray(deliveryAttempts.deliveryId, rows.map((row) => row.id)))
    .orderBy(deliveryAttempts.attempt);
  return rows.map((row) => toDelivery(row, attempts.filter((attempt) => attempt.deliveryId === row.id)));
}

/** The inbox's delivery log, newest first, each with its attempts: its webhook's and its automation rules' webhooks'. */
export async function listDeliveries(
  env: Bindings,
  accountId: string,
  inboxId: string,
  options: { state?: DeliveryState; event_type?: string; limit: number; cursor?: string },
) {
  await requireInbox(env, accountId, inboxId);
  return listWhere(env, ofInbox(accountId, inboxId), options);
}

/** An account-level endpoint's delivery log (all the inboxes it takes), newest first, each with its attempts. */
export async function listEndpointDeliveries(
  env: Bindings,
  accountId: string,
  endpointId: string,
  options: { state?: DeliveryState; event_type?: string; limit: number; cursor?: string },
) {
  await requireEndpoint(env, accountId, endpointId);
  return listWhere(env, ofEndpoint(accountId, endpointId), options);
}

/** The inbox's own deliveries: its webhook's and its rules'; an account-level endpoint's are in that endpoint's log. */
function ofInbox(accountId: string, inboxId: string): SQL {
  return and(
    eq(webhookDeliveries.accountId, accountId),
    eq(webhookDeliveries.inboxId, inboxId),
    sql`substr(${webhookDeliveries.endpoint}, 1, ${ACCOUNT_ENDPOINT_PREFIX.length}) <> ${ACCOUNT_ENDPOINT_PREFIX}`,
  )!;
}

/** An account endpoint's deliveries (the `endpoint <> 'inbox'` term lets SQLite use the partial index). */
function ofEndpoint(accountId: string, endpointId: string): SQL {
  return and(eq(webhookDeliveries.accountId, accountId), eq(webhookDeliveries.endpoint, endpointId), ne(webhookDeliveries.endpoint, "inbox"))!;
}

async function listWhere(env: Bindings, scope: SQL, options: { state?: DeliveryState; event_type?: string; limit: number; cursor?: string }) {
  const after = decodeCursor(options.cursor, { created_at: "number", id: "string" });
  const rows = await database(env)
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        scope,
        options.state ? eq(webhookDeliveries.state, options.state) : undefined,
        options.event_type ? eq(webhookDeliveries.eventType, options.event_type) : undefined,
        beyondKey(webhookDeliveries.createdAt, webhookDeliveries.id, after && { time: after.created_at, id: after.id }, "desc"),
      ),
    )
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ created_at: row.createdAt, id: row.id }));
  return { data: await withAttempts(env, result.data), next_cursor: result.next_cursor };
}

/** Sends a failed delivery again, from a fresh schedule, keeping its history and its webhook-id. */
export async function retryDelivery(env: Bindings, accountId: string, inboxId: string, deliveryId: string) {
  const inbox = await requireInbox(env, accountId, inboxId);
  const db = database(env);
  const target = await db
    .select({ endpoint: webhookDeliveries.endpoint })
    .from(webhookDeliveries)
    .where(and(ofInbox(accountId, inboxId), eq(webhookDeliveries.id, deliveryId)))
    .get();
  // An automation rule's webhook (endpoint = the rule id) has its own URL.
  if (target?.endpoint === "inbox" && !inbox.webhookUrl) {
    throw new ApiError("no_webhook_url", "The inbox has no webhook URL; set one before retrying.");
  }
  const [row] = await db
    .update(webhookDeliveries)
    .set({ state: "pending", attempts: 0, nextAttemptAt: null, enqueuedAt: null, leasedUntil: null, completedAt: null, updatedAt: Date.now() })
    .where(
      and(ofInbox(accountId, inboxId), eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.state, "failed")),
    )
    .returning();
  if (!row) {
    const exists = await db
      .select({ state: webhookDeliveries.state })
      .from(webhookDeliveries)
      .where(and(ofInbox(accountId, inboxId), eq(webhookDeliveries.id, deliveryId)))
      .get();
    if (!exists) throw notFound("delivery_not_found", "webhook delivery", deliveryId);
    throw new ApiError("invalid_state", `Delivery '${deliveryId}' is ${exists.state}; only failed deliveries can be retried.`);
  }
  await enqueueReady(env, { inboxId });
  return (await withAttempts(env, [row]))[0]!;
}

/**
 * Re-sends the inbox's events since a time, with the same webhook-ids (receivers dedupe on them), in each
 * line's order — in bounded, resumable steps (delivery/replay.ts). Events that never had a delivery
 * (endpoint disabled or unset then) get one; deliveries still pending are left as they are.
 */
export async function replayDeliveries(env: Bindings, accountId: string, inboxId: string, since: number) {
  const inbox = await requireInbox(env, accountId, inboxId);
  refuseBeyondRetention(env, since);
  if (!inbox.webhookUrl) throw new ApiError("no_webhook_url", "The inbox has no webhook URL; set one before replaying.");
  if (inbox.webhookDisabledAt !== null) {
    throw new ApiError("invalid_state", "The endpoint is disabled (it answered 410 Gone); update the inbox to re-enable it, then replay.");
  }
  const replay = await startReplay(env, { accountId, inboxId, since, url: inbox.webhookUrl });
  return { replayed: replay.total, since: iso(since), replay_id: replay.id, state: replay.state };
}

/** Sends a failed delivery of an account-level endpoint again, from a fresh schedule, keeping its webhook-id. */
export async function retryEndpointDelivery(env: Bindings, accountId: string, endpointId: string, deliveryId: string) {
  const endpoint = await requireEndpoint(env, accountId, endpointId);
  const scope = and(ofEndpoint(accountId, endpointId), eq(webhookDeliveries.id, deliveryId));
  const db = database(env);
  const exists = await db.select({ state: webhookDeliveries.state }).from(webhookDeliveries).where(scope).get();
  if (!exists) throw notFound("delivery_not_found", "webhook delivery", deliveryId);
  if (endpoint.disabledAt !== null) {
    throw new ApiError("invalid_state", "The endpoint is disabled; enable it (PATCH enabled: true, or a new url) before retrying.");
  }
  const [row] = await db
    .update(webhookDeliveries)
    .set({ state: "pending", attempts: 0, nextAttemptAt: null, enqueuedAt: null, leasedUntil: null, completedAt: null, url: endpoint.url, updatedAt: Date.now() })
    .where(and(scope, eq(webhookDeliveries.state, "failed")))
    .returning();
  if (!row) throw new ApiError("invalid_state", `Delivery '${deliveryId}' is ${exists.state}; only failed deliveries can be retried.`);
  await enqueueReady(env, { endpoint: endpointId });
  return (await withAttempts(env, [row]))[0]!;
}

/**
 * Re-sends an account-level endpoint's events since a time — those of the types and inboxes it takes
 * now — with the same webhook-ids, in each line's order, in bounded, resumable steps (delivery/replay.ts).
 */
export async function replayEndpoint(env: Bindings, accountId: string, endpointId: string, since: number) {
  const endpoint = await requireEndpoint(env, accountId, endpointId);
  refuseBeyondRetention(env, since);
  if (endpoint.disabledAt !== null) {
    throw new ApiError("invalid_state", "The endpoint is disabled (it answered 410 Gone, or was paused); enable it, then replay.");
  }
  const replay = await startReplay(env, { accountId, endpointId, since, url: endpoint.url });
  return { replayed: replay.total, since: iso(since), replay_id: replay.id, state: replay.state };
}

/** The pull fallback: the inbox's events in commit order, as the webhook carries them. */
export async function pullEvents(
  env: Bindings,
  inbox: { id: string; name: string; eventsPrunedThrough: number | null },
  options: { after?: string; limit: number },
) {
  let after = 0;
  if (options.after !== undefined) {
    if (!/^\d{1,15}$/.test(options.after)) {
      throw new ApiError("invalid_cursor", "`after` must be the next_cursor of a previous page (a position number).");
    }
    after = Number(options.after);
  }
  // Retention deleted events of this inbox after the cursor: continuing would skip them without a word.
  if (after > 0 && inbox.eventsPrunedThrough !== null && after < inbox.eventsPrunedThrough) {
    throw new ApiError(
      "cursor_expired",
      `Events of this inbox after position ${after} were deleted: events are kept ${retentionDays(env)} days. ` +
        "Re-read current state through the API, then poll again without `after` (from the oldest event kept).",
      { extensions: { retention_days: retentionDays(env), oldest_cursor: String(inbox.eventsPrunedThrough) } },
    );
  }
  const rows = await database(env)
    .select()
    .from(events)
    .where(and(eq(events.inboxId, inbox.id), eq(events.private, false), sql`${events.position} > ${after}`, sql`${events.type} <> 'webhook.test'`))
    .orderBy(events.position)
    .limit(options.limit);
  const last = rows[rows.length - 1];
  return {
    data: await withDataUrls(env, rows.map((row) => eventEnvelope(row, inbox))),
    // Always a cursor: new events may commit later, so polling continues from here.
    next_cursor: String(last ? last.position : after),
  };
}

function retentionDays(env: Bindings): number {
  return config(env).retentionMs / (24 * 60 * 60 * 1000);
}

/** Events (and their deliveries) older than the retention window are deleted: a replay cannot reach them. */
function refuseBeyondRetention(env: Bindings, since: number) {
  const oldest = Date.now() - config(env).retentionMs;
  if (since < oldest) {
    throw new ApiError(
      "beyond_retention",
      `\`since\` is older than the retention window: events are kept ${retentionDays(env)} days, so the oldest replayable time is ${iso(oldest)}. Replay from a later time.`,
      { errors: [{ location: "body", pointer: "/since", detail: `Must be ${iso(oldest)} or later (${retentionDays(env)}-day retention).` }], extensions: { retention_days: retentionDays(env) } },
    );
  }
}
