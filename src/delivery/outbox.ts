import { inArray, sql, type SQL } from "drizzle-orm";
import { commitBatch, database, prepare } from "../db/client";
import { events, webhookDeliveries } from "../db/schema";
import { triggersAutomation, type EventRow } from "./events";
import { ID_CHUNK } from "../core/chunks";
import { newId } from "../core/ids";
import type { Bindings } from "../env";
import { faults } from "../faults";

/** What the deliveries queue carries. */
export type QueueMessage =
  /**
   * `attempt` names the attempt the message is for; without it, the delivery's first attempt (of its
   * current cycle). A message for any other attempt is a stale duplicate and is dropped, so a copy queued
   * twice never adds attempts to the schedule.
   */
  | { kind: "delivery"; deliveryId: string; attempt?: number }
  | { kind: "automation"; eventId: string };

/** What a consumer does with a message once it handled it: done, redeliver it later, or queue the next attempt. */
export type QueueDecision =
  | { kind: "ack" }
  | { kind: "retry"; delaySeconds: number }
  | { kind: "schedule"; message: QueueMessage; delaySeconds: number };

/**
 * An event ready to leave the outbox, with the deliveries its commit created and whether the rules
 * engine should see it.
 */
export type Committed = { eventId: string; deliveryIds: string[]; automation: boolean };

/**
 * The statement that, in the event's own transaction, creates its webhook delivery to the inbox endpoint —
 * only if the inbox has a webhook URL that is enabled, read inside the transaction so a concurrent update
 * or 410 is respected — and returns the delivery's id if it did. Private events never leave the platform
 * (automation rules still see them).
 */
function fanOutStatement(env: Bindings, event: EventRow): D1PreparedStatement | null {
  if (event.private || event.inboxId === null) return null;
  return prepare(env, sql`INSERT INTO webhook_deliveries
      (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, endpoint, url, state, created_at, updated_at)
    SELECT ${newId("whd", event.createdAt)}, ${event.accountId}, i.id, ${event.id}, ${event.type}, ${event.conversationId}, ${event.sequence},
           'inbox', i.webhook_url, 'pending', ${event.createdAt}, ${event.createdAt}
    FROM inboxes i
    WHERE i.id = ${event.inboxId} AND i.webhook_url IS NOT NULL AND i.webhook_disabled_at IS NULL AND i.deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM events WHERE id = ${event.id})
    RETURNING id`);
}

/**
 * Commits a change with its events and their deliveries in one D1 batch (all or nothing) and says what
 * must leave the outbox afterwards: only deliveries that were really created, and events the rules engine
 * has something to do with (decided inside the transaction). Events with nowhere to go are marked queued
 * in the same transaction, so they cost no queue message and no extra write. `statements` insert the events.
 */
export async function commitWithEvents(
  env: Bindings,
  statements: D1PreparedStatement[],
  changes: EventRow[],
): Promise<{ results: D1Result[]; committed: Committed[] }> {
  const fanOuts = changes.map((event) => fanOutStatement(env, event));
  const batch = [...statements, ...fanOuts.filter((statement): statement is D1PreparedStatement => statement !== null)];
  const eligible = changes.filter(triggersAutomation).map((event) => sql`${event.id!}`);
  const forRules = eligible.length > 0 ? sql`e.id IN (${sql.join(eligible, sql`, `)}) AND ${needsRules}` : sql`0`;
  if (eligible.length > 0) batch.push(prepare(env, sql`SELECT e.id FROM events e WHERE ${forRules}`));
  if (changes.length > 0) {
    batch.push(
      prepare(env, sql`UPDATE events AS e SET queued_at = e.created_at
        WHERE e.id IN (${sql.join(changes.map((event) => sql`${event.id!}`), sql`, `)})
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) AND NOT (${forRules})`),
    );
  }
  const results = await commitBatch(env, batch);
  let index = statements.length;
  const deliveries = new Map<string, string[]>();
  changes.forEach((event, i) => {
    if (fanOuts[i]) deliveries.set(event.id!, (results[index++]!.results as { id: string }[]).map((row) => row.id));
  });
  const automation = new Set(eligible.length > 0 ? (results[index]!.results as { id: string }[]).map((row) => row.id) : []);
  const committed: Committed[] = [];
  for (const event of changes) {
    const deliveryIds = deliveries.get(event.id!) ?? [];
    if (deliveryIds.length > 0 || automation.has(event.id!)) {
      committed.push({ eventId: event.id!, deliveryIds, automation: automation.has(event.id!) });
    }
  }
  return { results, committed };
}

/** An event (`e`) the rules engine must see: its account has an active rule for it, or it opens a conversation in an auto-assigning inbox. */
const needsRules = sql`(EXISTS (SELECT 1 FROM automation_rules r
    WHERE r.account_id = e.account_id AND r.event_name = e.type AND r.active = 1 AND r.deleted_at IS NULL)
  OR (e.type = 'conversation_created' AND EXISTS (SELECT 1 FROM inboxes i WHERE i.id = e.inbox_id AND i.auto_assignment = 1)))`;

/**
 * After commit: hands the events' deliveries (and, for the rules engine, the events) to the queue and
 * marks them queued. A failure here loses nothing — the rows stay unqueued and the sweeper hands them
 * over later.
 */
export async function publish(env: Bindings, committed: Committed[]): Promise<void> {
  if (committed.length === 0) return;
  try {
    await sendDeliveries(
      env,
      committed.flatMap((item) => item.deliveryIds),
      committed.filter((item) => item.automation).map((item) => item.eventId),
      committed.map((item) => item.eventId),
    );
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "publish failed; the sweeper will hand the events over", error: String(error) }));
  }
}

/**
 * True when an earlier delivery of the same line (conversation and endpoint) is still pending: the
 * delivery `outer` must wait its turn. Deliveries outside a conversation are never blocked.
 */
export function earlierInLinePending(outer: SQL) {
  return sql`EXISTS (SELECT 1 FROM webhook_deliveries AS earlier
    WHERE earlier.conversation_id = ${outer}.conversation_id AND earlier.endpoint = ${outer}.endpoint
      AND earlier.state = 'pending' AND earlier.sequence < ${outer}.sequence)`;
}

/**
 * Hands to the queue every pending delivery that is not queued yet and is next in line: the head of its
 * conversation's deliveries to that endpoint (or outside any conversation). Used by the sweeper and by
 * the retry and replay operations. `olderThanMs` leaves fresh rows to the request that created them.
 */
export async function enqueueReady(
  env: Bindings,
  options: { inboxId?: string; olderThanMs?: number; limit?: number } = {},
): Promise<number> {
  const cutoff = Date.now() - (options.olderThanMs ?? 0);
  const limit = options.limit ?? 500;
  const inboxFilter = options.inboxId === undefined ? sql`1` : sql`d.inbox_id = ${options.inboxId}`;
  const rows = await database(env).all<{ id: string; attempts: number }>(sql`
    SELECT d.id, d.attempts FROM webhook_deliveries d
    WHERE d.state = 'pending' AND d.enqueued_at IS NULL AND d.created_at <= ${cutoff} AND ${inboxFilter}
      AND NOT ${earlierInLinePending(sql`d`)}
    ORDER BY d.created_at LIMIT ${limit}`);
  await sendDeliveries(env, rows);
  return rows.length;
}

/**
 * Queues deliveries and records when; a delivery queued twice is attempted once (the consumer leases it).
 * Events for the rules engine ride in the same batches: the engine dedupes by (event, rule).
 */
export async function sendDeliveries(
  env: Bindings,
  /** Ids (for a delivery's first attempt) or ids with the attempt the message is for. */
  deliveries: Array<string | { id: string; attempts: number }>,
  automationEventIds: string[] = [],
  /** Events to mark as handed over, in the same write as the deliveries. */
  eventIds: string[] = [],
): Promise<void> {
  const messages: QueueMessage[] = [
    ...deliveries.map((delivery) =>
      typeof delivery === "string"
        ? { kind: "delivery" as const, deliveryId: delivery }
        : { kind: "delivery" as const, deliveryId: delivery.id, attempt: delivery.attempts + 1 },
    ),
    ...automationEventIds.map((eventId) => ({ kind: "automation" as const, eventId })),
  ];
  if (messages.length === 0) return;
  faults.check("queue.send");
  const db = database(env);
  for (let i = 0; i < messages.length; i += ID_CHUNK) {
    const chunk = messages.slice(i, i + ID_CHUNK);
    await env.DELIVERIES.sendBatch(chunk.map((body) => ({ body })));
    const now = Date.now();
    const queued = chunk.flatMap((message) => (message.kind === "delivery" ? [message.deliveryId] : []));
    const marks = [
      ...(queued.length > 0 ? [prepare(env, db.update(webhookDeliveries).set({ enqueuedAt: now }).where(inArray(webhookDeliveries.id, queued)))] : []),
    ];
    for (let e = 0; i === 0 && e < eventIds.length; e += ID_CHUNK) {
      marks.push(prepare(env, db.update(events).set({ queuedAt: now }).where(inArray(events.id, eventIds.slice(e, e + ID_CHUNK)))));
    }
    if (marks.length > 0) await commitBatch(env, marks);
  }
}
