import { inArray, sql } from "drizzle-orm";
import { database, prepare } from "../db/client";
import { events, webhookDeliveries } from "../db/schema";
import { triggersAutomation } from "../automation/catalogue";
import type { EventRow } from "../domain/events";
import { newId } from "../domain/ids";
import type { Bindings } from "../env";
import { faults } from "../faults";

/** What the deliveries queue carries. */
export type QueueMessage = { kind: "delivery"; deliveryId: string } | { kind: "automation"; eventId: string };

/** What a consumer does with a message once it handled it. */
export type QueueDecision = { kind: "ack" } | { kind: "retry"; delaySeconds: number };

/**
 * An event ready to leave the outbox, with the deliveries its commit created and whether the rules
 * engine should see it.
 */
export type Committed = { eventId: string; deliveryIds: string[]; automation: boolean };

/**
 * Statements that, in the event's own transaction, create the webhook delivery to the inbox endpoint —
 * only if the inbox has a webhook URL that is enabled, read inside the transaction so a concurrent
 * update or 410 is respected. Private events never leave the platform (automation rules still see them).
 */
export function fanOutStatements(env: Bindings, event: EventRow): { statements: D1PreparedStatement[]; committed: Committed } {
  const automation = triggersAutomation(event);
  if (event.private || event.inboxId === null) return { statements: [], committed: { eventId: event.id!, deliveryIds: [], automation } };
  const deliveryId = newId("whd", event.createdAt);
  const statement = prepare(env, sql`INSERT INTO webhook_deliveries
      (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, endpoint, url, state, created_at, updated_at)
    SELECT ${deliveryId}, ${event.accountId}, i.id, ${event.id}, ${event.type}, ${event.conversationId}, ${event.sequence},
           'inbox', i.webhook_url, 'pending', ${event.createdAt}, ${event.createdAt}
    FROM inboxes i
    WHERE i.id = ${event.inboxId} AND i.webhook_url IS NOT NULL AND i.webhook_disabled_at IS NULL AND i.deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM events WHERE id = ${event.id})`);
  return { statements: [statement], committed: { eventId: event.id!, deliveryIds: [deliveryId], automation } };
}

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
    );
    await database(env)
      .update(events)
      .set({ queuedAt: Date.now() })
      .where(inArray(events.id, committed.map((item) => item.eventId)));
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "publish failed; the sweeper will hand the events over", error: String(error) }));
  }
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
  const rows = await database(env).all<{ id: string }>(sql`
    SELECT d.id FROM webhook_deliveries d
    WHERE d.state = 'pending' AND d.enqueued_at IS NULL AND d.created_at <= ${cutoff} AND ${inboxFilter}
      AND (d.conversation_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM webhook_deliveries earlier
        WHERE earlier.conversation_id = d.conversation_id AND earlier.endpoint = d.endpoint
          AND earlier.state = 'pending' AND earlier.sequence < d.sequence))
    ORDER BY d.created_at LIMIT ${limit}`);
  await sendDeliveries(env, rows.map((row) => row.id));
  return rows.length;
}

/**
 * Ids per statement in bulk updates: D1 binds at most 100 parameters per statement, and each update
 * binds one value besides the ids. Also under the queue's 100 messages per sendBatch.
 */
export const ID_CHUNK = 90;

/**
 * Queues deliveries and records when; a delivery queued twice is attempted once (the consumer leases it).
 * Events for the rules engine ride in the same batches: the engine dedupes by (event, rule).
 */
export async function sendDeliveries(env: Bindings, deliveryIds: string[], automationEventIds: string[] = []): Promise<void> {
  const messages: QueueMessage[] = [
    ...deliveryIds.map((deliveryId) => ({ kind: "delivery" as const, deliveryId })),
    ...automationEventIds.map((eventId) => ({ kind: "automation" as const, eventId })),
  ];
  if (messages.length === 0) return;
  faults.check("queue.send");
  for (let i = 0; i < messages.length; i += ID_CHUNK) {
    const chunk = messages.slice(i, i + ID_CHUNK);
    await env.DELIVERIES.sendBatch(chunk.map((body) => ({ body })));
    const queued = chunk.flatMap((message) => (message.kind === "delivery" ? [message.deliveryId] : []));
    if (queued.length > 0) {
      await database(env).update(webhookDeliveries).set({ enqueuedAt: Date.now() }).where(inArray(webhookDeliveries.id, queued));
    }
  }
}
