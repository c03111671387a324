import { inArray, sql, type Placeholder, type SQL } from "drizzle-orm";
import { commitBatch, database, prepare, prepareCompiled } from "../db/client";
import { events, webhookDeliveries } from "../db/schema";
import { triggersAutomation, type EventRow } from "./events";
import { ID_CHUNK } from "../core/chunks";
import { newId } from "../core/ids";
import type { Bindings } from "../env";
import { clock, faults } from "../faults";
import { lineOf } from "./machine";

/**
 * What the deliveries queue carries. Every message names the shard whose rows it is about (`shard`, the
 * binding's name): the consumer works on that shard alone. A message without one predates sharding and
 * belongs to the first shard.
 */
export type QueueMessage = { shard?: string } & (
  /**
   * `attempt` names the attempt the message is for; without it, the delivery's first attempt (of its
   * current cycle). A message for any other attempt is a stale duplicate and is dropped, so a copy queued
   * twice never adds attempts to the schedule.
   */
  | { kind: "delivery"; deliveryId: string; attempt?: number }
  | { kind: "automation"; eventId: string }
  /** The next bounded step of a replay (replay.ts). */
  | { kind: "replay"; replayId: string }
);

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
 * The statement that, in the event's own transaction, creates its webhook deliveries and returns their
 * ids: to the inbox endpoint — only if the inbox has a webhook URL that is enabled, read inside the
 * transaction so a concurrent update or 410 is respected — and to every live, enabled account-level
 * endpoint of the account that takes the event's type and inbox (`endpointTakes`). Made here, they
 * complete their lines by construction. The sequence is read from the event row as committed (a
 * contact event's is computed in SQL). Private events never leave the platform (automation rules still
 * see them).
 */
function fanOutStatement(env: Bindings, event: EventRow): D1PreparedStatement | null {
  if (event.private || event.inboxId === null) return null;
  const P = sql.placeholder;
  // Compiled once per isolate (prepareCompiled): one of these runs with every event.
  return prepareCompiled(
    env,
    "outbox.fan-out",
    () => sql`INSERT INTO webhook_deliveries
      (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, line, endpoint, url, state, created_at, updated_at)
    SELECT ${P("deliveryId")}, e.account_id, i.id, e.id, e.type, e.conversation_id, e.sequence, ${P("line")},
           'inbox', i.webhook_url, 'pending', e.created_at, e.created_at
    FROM events e JOIN inboxes i ON i.id = e.inbox_id
    WHERE e.id = ${P("eventId")} AND i.webhook_url IS NOT NULL AND i.webhook_disabled_at IS NULL AND i.deleted_at IS NULL
    UNION ALL
    SELECT ${accountDeliveryId}, e.account_id, e.inbox_id, e.id, e.type, e.conversation_id, e.sequence, ${P("line")},
           w.id, w.url, 'pending', e.created_at, e.created_at
    FROM events e JOIN webhook_endpoints w ON w.account_id = e.account_id AND w.deleted_at IS NULL
    WHERE e.id = ${P("eventId")} AND w.disabled_at IS NULL AND ${endpointTakes(sql`w`, sql`e`)}
    RETURNING id`,
    { deliveryId: newId("whd", event.createdAt), line: lineOf(event), eventId: event.id },
  );
}

/** A delivery id for an account-level endpoint's delivery of event `e` (several per event, so made in SQL). */
export const accountDeliveryId = sql`'whd_' || substr(e.id, 5) || lower(hex(randomblob(8)))`;

/**
 * Account-level endpoint `w` takes event `e`: its type is one of the endpoint's `events` (all when NULL)
 * and its inbox one of the endpoint's `inbox_ids` (all when NULL). Private events are excluded by the caller.
 */
export function endpointTakes(w: SQL, e: SQL) {
  return sql`(${w}.events IS NULL OR EXISTS (SELECT 1 FROM json_each(${w}.events) AS t WHERE t.value = ${e}.type))
    AND (${w}.inbox_ids IS NULL OR EXISTS (SELECT 1 FROM json_each(${w}.inbox_ids) AS b WHERE b.value = ${e}.inbox_id))`;
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
  // Compiled once per number of events (prepareCompiled): e0, e1… are the events, r0, r1… those the rules may want.
  const eligible = changes.filter(triggersAutomation);
  const P = sql.placeholder;
  const ids: Record<string, unknown> = {};
  changes.forEach((event, i) => (ids[`e${i}`] = event.id));
  eligible.forEach((event, i) => (ids[`r${i}`] = event.id));
  const forRules = () =>
    eligible.length > 0 ? sql`e.id IN (${sql.join(eligible.map((_, i) => sql`${P(`r${i}`)}`), sql`, `)}) AND ${needsRules}` : sql`0`;
  if (eligible.length > 0) batch.push(prepareCompiled(env, `outbox.rules:${eligible.length}`, () => sql`SELECT e.id FROM events e WHERE ${forRules()}`, ids));
  if (changes.length > 0) {
    batch.push(
      prepareCompiled(
        env,
        `outbox.nowhere:${changes.length}:${eligible.length}`,
        () => sql`UPDATE events AS e SET queued_at = e.created_at
          WHERE e.id IN (${sql.join(changes.map((_, i) => sql`${P(`e${i}`)}`), sql`, `)})
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) AND NOT (${forRules()})`,
        ids,
      ),
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
 * over later. `deliveries: false` leaves the deliveries to a caller that attempts them itself
 * (publishAndAttempt, direct.ts).
 */
export async function publish(env: Bindings, committed: Committed[], options: { deliveries?: boolean } = {}): Promise<void> {
  if (committed.length === 0) return;
  try {
    // The deliveries stay unmarked (enqueued_at NULL): marking them after the send could overwrite the
    // park of a message that was consumed in between. Recovery re-sends an unmarked head after a grace.
    await sendMessages(
      env,
      toMessages(
        env,
        options.deliveries === false ? [] : committed.flatMap((item) => item.deliveryIds),
        committed.filter((item) => item.automation).map((item) => item.eventId),
      ),
      committed.map((item) => item.eventId),
    );
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "publish failed; the sweeper will hand the events over", error: String(error) }));
  }
}

/**
 * The SQL condition "delivery `d` is in the same line as `of`": the same line key and endpoint — and for
 * the inbox's own endpoint ('inbox') the same inbox, since that endpoint is one per inbox. An
 * account-level endpoint id is unique by itself, so its contact lines span the account's inboxes.
 */
export function sameLineAs(d: SQL, of: { line: string | null | Placeholder; endpoint: string | Placeholder; inboxId: string | Placeholder }) {
  return sql`${d}.line = ${of.line} AND ${d}.endpoint = ${of.endpoint} AND (${d}.endpoint <> 'inbox' OR ${d}.inbox_id = ${of.inboxId})`;
}

/**
 * True when an earlier delivery of the same line (see sameLineAs) is still pending: the delivery `outer`
 * must wait its turn. Deliveries outside any line are never blocked.
 */
export function earlierInLinePending(outer: SQL) {
  return sql`EXISTS (SELECT 1 FROM webhook_deliveries AS earlier
    WHERE earlier.line = ${outer}.line AND earlier.endpoint = ${outer}.endpoint
      AND (earlier.endpoint <> 'inbox' OR earlier.inbox_id = ${outer}.inbox_id)
      AND earlier.state = 'pending' AND earlier.sequence < ${outer}.sequence)`;
}

/**
 * True when the line of `outer` is busy for it: an earlier delivery is pending, or another delivery of the
 * line holds a lease (is being sent right now — e.g. a later one, while a replay or a manual retry made an
 * earlier one pending again). Taking a lease requires neither, so a line has at most one delivery in
 * flight, and it is the earliest pending one.
 */
export function lineBusy(outer: SQL, now: number | Placeholder) {
  return sql`(${earlierInLinePending(outer)} OR EXISTS (SELECT 1 FROM webhook_deliveries AS other
    WHERE other.line = ${outer}.line AND other.endpoint = ${outer}.endpoint
      AND (other.endpoint <> 'inbox' OR other.inbox_id = ${outer}.inbox_id)
      AND other.state = 'pending' AND other.id <> ${outer}.id AND other.leased_until >= ${now}))`;
}

/**
 * Hands to the queue every pending delivery that is not queued (enqueued_at NULL: parked, or its message
 * may be lost) and is next in line: the head of its line (or outside any line). Marks them queued and
 * sends them in that order — mark, then send — so a message consumed at once can park its delivery
 * without the mark overwriting it. A delivery in flight (its own lease, e.g. a first attempt right after
 * the commit, or a chained one) is left to its holder until the lease has run out.
 * Used by recovery (the sweeper) and by the retry operation.
 * `olderThanMs` leaves fresh rows to the request that created them.
 */
export async function enqueueReady(
  env: Bindings,
  options: { inboxId?: string; endpoint?: string; olderThanMs?: number; limit?: number } = {},
): Promise<number> {
  const now = clock.now();
  const cutoff = now - (options.olderThanMs ?? 0);
  const limit = options.limit ?? 500;
  const inboxFilter = sql`${options.inboxId === undefined ? sql`1` : sql`d.inbox_id = ${options.inboxId}`}
    AND ${options.endpoint === undefined ? sql`1` : sql`d.endpoint = ${options.endpoint}`}`;
  const rows = await database(env).all<{ id: string; attempts: number }>(sql`
    UPDATE webhook_deliveries SET enqueued_at = ${now}
    WHERE id IN (SELECT d.id FROM webhook_deliveries d
      WHERE d.state = 'pending' AND d.enqueued_at IS NULL AND d.created_at <= ${cutoff} AND ${inboxFilter}
        AND (d.leased_until IS NULL OR d.leased_until < ${now}) AND NOT ${lineBusy(sql`d`, now)}
      ORDER BY d.created_at LIMIT ${limit})
    RETURNING id, attempts`);
  await handOver(env, rows, { markedAt: now });
  return rows.length;
}

/**
 * Sends the queue messages of deliveries already marked queued at `markedAt` (each for its next attempt).
 * If the queue refuses, the marks are undone so recovery hands them over again; if even that fails, the
 * sweeper finds them as lost. Never throws: the caller's write already committed.
 */
export async function handOver(
  env: Bindings,
  deliveries: Array<string | { id: string; attempts: number }>,
  options: { markedAt: number; delaySeconds?: number },
): Promise<void> {
  if (deliveries.length === 0) return;
  try {
    const messages = toMessages(env, deliveries, []);
    faults.check("queue.send");
    for (let i = 0; i < messages.length; i += ID_CHUNK) {
      const chunk = messages.slice(i, i + ID_CHUNK);
      if (chunk.length === 1 && options.delaySeconds !== undefined) await env.DELIVERIES.send(chunk[0]!, { delaySeconds: options.delaySeconds });
      else await env.DELIVERIES.sendBatch(chunk.map((body) => ({ body, ...(options.delaySeconds === undefined ? {} : { delaySeconds: options.delaySeconds }) })));
    }
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "hand-over to the queue failed; recovery will hand them over", error: String(error) }));
    try {
      const db = database(env);
      for (let i = 0; i < deliveries.length; i += ID_CHUNK) {
        const ids = deliveries.slice(i, i + ID_CHUNK).map((delivery) => (typeof delivery === "string" ? delivery : delivery.id));
        await db
          .update(webhookDeliveries)
          .set({ enqueuedAt: null })
          .where(sql`${inArray(webhookDeliveries.id, ids)} AND ${webhookDeliveries.enqueuedAt} = ${options.markedAt} AND ${webhookDeliveries.state} = 'pending'`);
      }
    } catch {
      // D1 is down too: the sweeper's look for lost messages finds them.
    }
  }
}

function toMessages(env: Bindings, deliveries: Array<string | { id: string; attempts: number }>, automationEventIds: string[]): QueueMessage[] {
  const shard = env.SHARD;
  return [
    ...deliveries.map((delivery) =>
      typeof delivery === "string"
        ? { kind: "delivery" as const, deliveryId: delivery, shard }
        : { kind: "delivery" as const, deliveryId: delivery.id, attempt: delivery.attempts + 1, shard },
    ),
    ...automationEventIds.map((eventId) => ({ kind: "automation" as const, eventId, shard })),
  ];
}

/** Sends messages and then marks the events as handed over. */
async function sendMessages(env: Bindings, messages: QueueMessage[], eventIds: string[]) {
  if (messages.length > 0) faults.check("queue.send");
  for (let i = 0; i < messages.length; i += ID_CHUNK) {
    await env.DELIVERIES.sendBatch(messages.slice(i, i + ID_CHUNK).map((body) => ({ body })));
  }
  const marks = markHandedOver(env, eventIds);
  if (marks.length > 0) await commitBatch(env, marks);
}

/** The statements that mark events as handed over (`queued_at`): recovery leaves them alone from then on. */
export function markHandedOver(env: Bindings, eventIds: string[]): D1PreparedStatement[] {
  const db = database(env);
  const now = clock.now();
  const marks: D1PreparedStatement[] = [];
  for (let e = 0; e < eventIds.length; e += ID_CHUNK) {
    marks.push(prepare(env, db.update(events).set({ queuedAt: now }).where(inArray(events.id, eventIds.slice(e, e + ID_CHUNK)))));
  }
  return marks;
}

/**
 * Queues deliveries (marked queued first, then sent: see enqueueReady) and events for the rules engine;
 * a delivery queued twice is attempted once (the consumer leases it). The engine dedupes by (event, rule).
 */
export async function sendDeliveries(
  env: Bindings,
  /** Ids (for a delivery's first attempt) or ids with the attempt the message is for. */
  deliveries: Array<string | { id: string; attempts: number }>,
  automationEventIds: string[] = [],
  /** Events to mark as handed over, after the send. */
  eventIds: string[] = [],
): Promise<void> {
  if (deliveries.length > 0) {
    const ids = deliveries.map((delivery) => (typeof delivery === "string" ? delivery : delivery.id));
    const db = database(env);
    const now = clock.now();
    const marks: D1PreparedStatement[] = [];
    for (let i = 0; i < ids.length; i += ID_CHUNK) {
      marks.push(prepare(env, db.update(webhookDeliveries).set({ enqueuedAt: now }).where(inArray(webhookDeliveries.id, ids.slice(i, i + ID_CHUNK)))));
    }
    await commitBatch(env, marks);
    await handOver(env, deliveries, { markedAt: now });
  }
  await sendMessages(env, toMessages(env, [], automationEventIds), eventIds);
}
