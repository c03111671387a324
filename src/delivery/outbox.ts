import { and, inArray, isNull, sql } from "drizzle-orm";
import { database, prepare } from "../db/client";
import { events, webhookDeliveries } from "../db/schema";
import type { EventRow } from "../domain/events";
import { newId } from "../domain/ids";
import type { Bindings } from "../env";
import { faults } from "../faults";

/** What the deliveries queue carries. */
export type QueueMessage = { kind: "delivery"; deliveryId: string } | { kind: "automation"; eventId: string };

/** An event ready to leave the outbox, with the deliveries its commit created. */
export type Committed = { eventId: string; deliveryIds: string[] };

/**
 * Statements that, in the event's own transaction, create the webhook delivery to the inbox endpoint —
 * only if the inbox has a webhook URL that is enabled, read inside the transaction so a concurrent
 * update or 410 is respected. Private events never leave the platform.
 */
export function fanOutStatements(env: Bindings, event: EventRow): { statements: D1PreparedStatement[]; committed: Committed } {
  if (event.private || event.inboxId === null) return { statements: [], committed: { eventId: event.id!, deliveryIds: [] } };
  const deliveryId = newId("whd", event.createdAt);
  const statement = prepare(env, sql`INSERT INTO webhook_deliveries
      (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, endpoint, url, state, created_at, updated_at)
    SELECT ${deliveryId}, ${event.accountId}, i.id, ${event.id}, ${event.type}, ${event.conversationId}, ${event.sequence},
           'inbox', i.webhook_url, 'pending', ${event.createdAt}, ${event.createdAt}
    FROM inboxes i
    WHERE i.id = ${event.inboxId} AND i.webhook_url IS NOT NULL AND i.webhook_disabled_at IS NULL AND i.deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM events WHERE id = ${event.id})`);
  return { statements: [statement], committed: { eventId: event.id!, deliveryIds: [deliveryId] } };
}

/**
 * After commit: hands the events' deliveries to the queue and marks them queued. A failure here loses
 * nothing — the rows stay unqueued and the sweeper hands them over later.
 */
export async function publish(env: Bindings, committed: Committed[]): Promise<void> {
  if (committed.length === 0) return;
  const deliveryIds = committed.flatMap((item) => item.deliveryIds);
  try {
    faults.check("queue.send");
    if (deliveryIds.length > 0) {
      await env.DELIVERIES.sendBatch(deliveryIds.map((deliveryId) => ({ body: { kind: "delivery", deliveryId } satisfies QueueMessage })));
    }
    const now = Date.now();
    const db = database(env);
    await db.batch([
      db.update(events).set({ queuedAt: now }).where(inArray(events.id, committed.map((item) => item.eventId))),
      db
        .update(webhookDeliveries)
        .set({ enqueuedAt: now })
        .where(and(inArray(webhookDeliveries.id, deliveryIds.length ? deliveryIds : [""]), isNull(webhookDeliveries.enqueuedAt))),
    ]);
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "publish failed; the sweeper will retry", error: String(error) }));
  }
}
