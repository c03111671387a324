// Replay (docs/delivery.md#replay): re-send an endpoint's events since a time. A replay is a row with a
// fixed range of event positions, worked through in bounded steps — one per invocation, each one D1
// transaction that advances the cursor and resets the step's deliveries together — so it survives any
// crash (recovery continues it), a client retry joins it instead of starting a second one, and an
// identical request after it finished changes nothing. It only ever resets settled deliveries: a
// pending one (being sent right now, or waiting for its retry) is left alone — it is going out anyway.
import { sql } from "drizzle-orm";
import { commitBatch, database, prepare } from "../db/client";
import { deliveryReplays } from "../db/schema";
import { newId } from "../core/ids";
import type { Bindings } from "../env";
import { clock } from "../faults";
import { handOver, lineBusy, type QueueDecision, type QueueMessage } from "./outbox";

/** Event positions per step: one step's writes stay well inside one invocation's limits. */
export const REPLAY_STEP = 500;
/** A running replay not advanced for this long lost its queue message: recovery continues it. */
export const REPLAY_STALLED_MS = 60_000;

export type Replay = typeof deliveryReplays.$inferSelect;

/** The SQL line key of an event `e`, as lineOf (machine.ts) computes it. */
const eventLine = sql`COALESCE(e.conversation_id, CASE WHEN substr(e.type, 1, 8) = 'contact_' THEN json_extract(e.data, '$.contact.id') END)`;

/**
 * Finds or starts the replay of the inbox endpoint's events since `since` up to the inbox's last event
 * now, and runs its first step. A running replay with the same `since` is joined; a finished one over
 * the same range is returned as it is.
 */
export async function startReplay(env: Bindings, input: { accountId: string; inboxId: string; since: number; url: string }): Promise<Replay> {
  const now = clock.now();
  const { accountId, inboxId, since } = input;
  const [, found] = await commitBatch(env, [
    prepare(env, sql`INSERT INTO delivery_replays (id, account_id, inbox_id, endpoint, since, through_position, cursor, step_from, total, state, created_at, updated_at)
      SELECT ${newId("rpl", now)}, ${accountId}, ${inboxId}, 'inbox', ${since}, t.through,
             MIN(COALESCE(s.start, t.through), t.through), 0,
             (SELECT count(*) FROM events WHERE inbox_id = ${inboxId} AND position <= t.through AND created_at >= ${since}
                AND private = 0 AND type <> 'webhook.test'),
             'running', ${now}, ${now}
      FROM (SELECT COALESCE(MAX(position), 0) AS through FROM events WHERE inbox_id = ${inboxId}) AS t,
           (SELECT MIN(position) - 1 AS start FROM events WHERE inbox_id = ${inboxId} AND created_at >= ${since}) AS s
      WHERE 1
      ON CONFLICT DO NOTHING`),
    prepare(env, sql`SELECT * FROM delivery_replays WHERE inbox_id = ${inboxId} AND endpoint = 'inbox' AND since = ${since}
      ORDER BY state = 'running' DESC, through_position DESC LIMIT 1`),
  ]);
  const replay = toReplay((found!.results as Record<string, unknown>[])[0]!);
  if (replay.state !== "running") return replay;
  return (await replayStep(env, replay.id, input.url)) ?? replay;
}

/** The queue message for a replay's next step. */
export async function continueReplay(env: Bindings, replayId: string): Promise<QueueDecision> {
  const replay = await database(env).select().from(deliveryReplays).where(sql`${deliveryReplays.id} = ${replayId}`).get();
  if (!replay || replay.state !== "running") return { kind: "ack" };
  const inbox = await database(env).all<{ webhook_url: string | null }>(sql`SELECT webhook_url FROM inboxes WHERE id = ${replay.inboxId}`);
  await replayStep(env, replayId, inbox[0]?.webhook_url ?? "");
  return { kind: "ack" };
}

/** Recovery: continues running replays whose step message was lost (crash, queue outage). */
export async function resumeReplays(env: Bindings, options: { stalledMs?: number; limit?: number } = {}): Promise<number> {
  const cutoff = clock.now() - (options.stalledMs ?? REPLAY_STALLED_MS);
  const rows = await database(env).all<{ id: string }>(
    sql`SELECT id FROM delivery_replays WHERE state = 'running' AND updated_at < ${cutoff} LIMIT ${options.limit ?? 50}`,
  );
  for (const row of rows) await queueNextStep(env, row.id);
  return rows.length;
}

async function queueNextStep(env: Bindings, replayId: string) {
  try {
    await env.DELIVERIES.send({ kind: "replay", replayId } satisfies QueueMessage);
  } catch {
    // Recovery (resumeReplays) continues it.
  }
}

/**
 * One step, one transaction: advance the cursor over the next REPLAY_STEP positions (fenced by a step
 * token, so concurrent steps take distinct ranges and a stale one writes nothing), create or reset the
 * deliveries of the range's events — only settled ones —, mark the range's line heads queued, and finish
 * the replay at its end. Then the next step's message and the heads' messages.
 */
async function replayStep(env: Bindings, replayId: string, url: string): Promise<Replay | undefined> {
  const now = clock.now();
  const step = crypto.randomUUID();
  const inStep = sql`r.id = ${replayId} AND r.step = ${step}`;
  const stepEvents = sql`e.inbox_id = r.inbox_id AND e.position > r.step_from AND e.position <= r.cursor`;
  const results = await commitBatch(env, [
    prepare(env, sql`UPDATE delivery_replays SET step_from = cursor,
        cursor = COALESCE((SELECT position FROM events WHERE inbox_id = delivery_replays.inbox_id AND position > delivery_replays.cursor
                             AND position <= delivery_replays.through_position ORDER BY position LIMIT 1 OFFSET ${REPLAY_STEP - 1}),
                          through_position),
        step = ${step}, updated_at = ${now}
      WHERE id = ${replayId} AND state = 'running'`),
    prepare(env, sql`INSERT INTO webhook_deliveries
        (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, line, endpoint, url, state, created_at, updated_at)
      SELECT 'whd_' || substr(e.id, 5) || lower(hex(randomblob(2))), e.account_id, e.inbox_id, e.id, e.type, e.conversation_id, e.sequence,
             ${eventLine}, r.endpoint, ${url}, 'pending', ${now}, ${now}
      FROM delivery_replays r JOIN events e ON ${stepEvents}
      WHERE ${inStep} AND e.private = 0 AND e.type <> 'webhook.test' AND e.created_at >= r.since
      ON CONFLICT (event_id, endpoint) DO UPDATE SET
        state = 'pending', attempts = 0, next_attempt_at = NULL, enqueued_at = NULL, leased_until = NULL,
        completed_at = NULL, url = excluded.url, line = excluded.line, updated_at = excluded.updated_at
      WHERE webhook_deliveries.state <> 'pending'`),
    prepare(env, sql`UPDATE webhook_deliveries SET enqueued_at = ${now}
      WHERE id IN (SELECT d.id FROM delivery_replays r JOIN events e ON ${stepEvents}
                     JOIN webhook_deliveries d ON d.event_id = e.id AND d.endpoint = r.endpoint
                   WHERE ${inStep} AND d.state = 'pending' AND d.enqueued_at IS NULL AND NOT ${lineBusy(sql`d`, now)})
      RETURNING id, attempts`),
    prepare(env, sql`UPDATE delivery_replays SET state = 'done', completed_at = ${now}
      WHERE id = ${replayId} AND step = ${step} AND cursor >= through_position`),
    prepare(env, sql`SELECT * FROM delivery_replays WHERE id = ${replayId}`),
  ]);
  const heads = results[2]!.results as { id: string; attempts: number }[];
  const row = (results[4]!.results as Record<string, unknown>[])[0];
  const replay = row ? toReplay(row) : undefined;
  // The next step's message goes first, so the queue reaches it before this step's deliveries: the
  // whole range is laid out quickly while the lines drain.
  if (replay?.state === "running" && replay.step === step) await queueNextStep(env, replayId);
  await handOver(env, heads, { markedAt: now });
  return replay;
}

function toReplay(row: Record<string, unknown>): Replay {
  return {
    id: row.id as string,
    accountId: row.account_id as string,
    inboxId: row.inbox_id as string,
    endpoint: row.endpoint as string,
    since: row.since as number,
    throughPosition: row.through_position as number,
    cursor: row.cursor as number,
    stepFrom: row.step_from as number,
    step: row.step as string | null,
    total: row.total as number,
    state: row.state as Replay["state"],
    createdAt: row.created_at as number,
    updatedAt: row.updated_at as number,
    completedAt: row.completed_at as number | null,
  };
}
