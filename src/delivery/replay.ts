// Replay (docs/delivery.md#replay): re-send an endpoint's events since a time. A replay is a row with a
// fixed range of event positions, worked through in bounded steps — one per invocation, each one D1
// transaction that advances the cursor and resets the step's deliveries together — so it survives any
// crash (recovery continues it), a client retry joins it instead of starting a second one, and an
// identical request after it finished changes nothing. It only ever resets settled deliveries: a
// pending one (being sent right now, or waiting for its retry) is left alone — it is going out anyway.
import { sql, type SQL } from "drizzle-orm";
import { commitBatch, database, prepare } from "../db/client";
import { deliveryReplays } from "../db/schema";
import { newId } from "../core/ids";
import type { Bindings } from "../env";
import { clock } from "../faults";
import { accountDeliveryId, endpointTakes, handOver, lineBusy, type QueueDecision, type QueueMessage } from "./outbox";

/** Event positions per step: one step's writes stay well inside one invocation's limits. */
export const REPLAY_STEP = 500;
/** A running replay not advanced for this long lost its queue message: recovery continues it. */
export const REPLAY_STALLED_MS = 60_000;

export type Replay = typeof deliveryReplays.$inferSelect;

/** The SQL line key of an event `e`, as lineOf (machine.ts) computes it. */
const eventLine = sql`COALESCE(e.conversation_id, CASE WHEN substr(e.type, 1, 8) = 'contact_' THEN json_extract(e.data, '$.contact.id') END)`;

/**
 * What a replay re-sends: the inbox endpoint's events (of one inbox), or an account-level endpoint's —
 * the account's events it takes (its event types and inboxes, as set now). An account endpoint's replay
 * row has `inbox_id` '*': it spans the account's inboxes.
 */
export type ReplayScope = { inboxId: string } | { endpointId: string };

/** The replay row's inbox_id for an account-level endpoint's replay. */
export const ACCOUNT_WIDE = "*";

/** The SQL pieces that differ between the two scopes: which events, the delivery ids, the endpoint's filter. */
function scopeSql(scope: "inbox" | "account") {
  return scope === "inbox"
    ? {
        ofReplay: (r: SQL, e: SQL) => sql`${e}.inbox_id = ${r}.inbox_id`,
        deliveryId: sql`'whd_' || substr(e.id, 5) || lower(hex(randomblob(2)))`,
        takes: sql`1`,
        join: sql``,
      }
    : {
        ofReplay: (r: SQL, e: SQL) => sql`${e}.account_id = ${r}.account_id`,
        deliveryId: accountDeliveryId,
        takes: sql`e.inbox_id IS NOT NULL AND ${endpointTakes(sql`w`, sql`e`)}`,
        join: sql`JOIN webhook_endpoints w ON w.id = r.endpoint AND w.deleted_at IS NULL`,
      };
}

/**
 * Finds or starts the replay of an endpoint's events since `since` up to the last event now (of the
 * inbox, or of the account for an account-level endpoint), and runs its first step. A running replay
 * with the same `since` is joined; a finished one over the same range is returned as it is.
 */
export async function startReplay(env: Bindings, input: { accountId: string; since: number; url: string } & ReplayScope): Promise<Replay> {
  const now = clock.now();
  const { accountId, since } = input;
  const account = "endpointId" in input;
  const inboxId = account ? ACCOUNT_WIDE : input.inboxId;
  const endpoint = account ? input.endpointId : "inbox";
  const ofScope = account ? sql`account_id = ${accountId}` : sql`inbox_id = ${inboxId}`;
  const counted = account
    ? sql`(SELECT count(*) FROM events e JOIN webhook_endpoints w ON w.id = ${endpoint}
         WHERE e.account_id = ${accountId} AND e.position <= t.through AND e.created_at >= ${since}
           AND e.private = 0 AND e.type <> 'webhook.test' AND e.inbox_id IS NOT NULL AND ${endpointTakes(sql`w`, sql`e`)})`
    : sql`(SELECT count(*) FROM events WHERE inbox_id = ${inboxId} AND position <= t.through AND created_at >= ${since}
                AND private = 0 AND type <> 'webhook.test')`;
  const [, found] = await commitBatch(env, [
    prepare(env, sql`INSERT INTO delivery_replays (id, account_id, inbox_id, endpoint, since, through_position, cursor, step_from, total, state, created_at, updated_at)
      SELECT ${newId("rpl", now)}, ${accountId}, ${inboxId}, ${endpoint}, ${since}, t.through,
             MIN(COALESCE(s.start, t.through), t.through), 0, ${counted}, 'running', ${now}, ${now}
      FROM (SELECT COALESCE(MAX(position), 0) AS through FROM events WHERE ${ofScope}) AS t,
           (SELECT MIN(position) - 1 AS start FROM events WHERE ${ofScope} AND created_at >= ${since}) AS s
      WHERE 1
      ON CONFLICT DO NOTHING`),
    prepare(env, sql`SELECT * FROM delivery_replays WHERE inbox_id = ${inboxId} AND endpoint = ${endpoint} AND since = ${since}
      ORDER BY state = 'running' DESC, through_position DESC LIMIT 1`),
  ]);
  const replay = toReplay((found!.results as Record<string, unknown>[])[0]!);
  if (replay.state !== "running") return replay;
  return (await replayStep(env, replay.id, input.url, account ? "account" : "inbox")) ?? replay;
}

/** The queue message for a replay's next step. */
export async function continueReplay(env: Bindings, replayId: string): Promise<QueueDecision> {
  const replay = await database(env).select().from(deliveryReplays).where(sql`${deliveryReplays.id} = ${replayId}`).get();
  if (!replay || replay.state !== "running") return { kind: "ack" };
  if (replay.endpoint === "inbox") {
    const inbox = await database(env).all<{ url: string | null }>(sql`SELECT webhook_url AS url FROM inboxes WHERE id = ${replay.inboxId}`);
    await replayStep(env, replayId, inbox[0]?.url ?? "", "inbox");
  } else {
    const endpoint = await database(env).all<{ url: string }>(sql`SELECT url FROM webhook_endpoints WHERE id = ${replay.endpoint}`);
    await replayStep(env, replayId, endpoint[0]?.url ?? "", "account");
  }
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
    await env.DELIVERIES.send({ kind: "replay", replayId, shard: env.SHARD } satisfies QueueMessage);
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
async function replayStep(env: Bindings, replayId: string, url: string, scope: "inbox" | "account"): Promise<Replay | undefined> {
  const now = clock.now();
  const step = crypto.randomUUID();
  const { ofReplay, deliveryId, takes, join } = scopeSql(scope);
  const inStep = sql`r.id = ${replayId} AND r.step = ${step}`;
  const stepEvents = sql`${ofReplay(sql`r`, sql`e`)} AND e.position > r.step_from AND e.position <= r.cursor`;
  const results = await commitBatch(env, [
    prepare(env, sql`UPDATE delivery_replays SET step_from = cursor,
        cursor = COALESCE((SELECT position FROM events e WHERE ${ofReplay(sql`delivery_replays`, sql`e`)} AND position > delivery_replays.cursor
                             AND position <= delivery_replays.through_position ORDER BY position LIMIT 1 OFFSET ${REPLAY_STEP - 1}),
                          through_position),
        step = ${step}, updated_at = ${now}
      WHERE id = ${replayId} AND state = 'running'`),
    prepare(env, sql`INSERT INTO webhook_deliveries
        (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, line, endpoint, url, state, created_at, updated_at)
      SELECT ${deliveryId}, e.account_id, e.inbox_id, e.id, e.type, e.conversation_id, e.sequence,
             ${eventLine}, r.endpoint, ${url}, 'pending', ${now}, ${now}
      FROM delivery_replays r JOIN events e ON ${stepEvents} ${join}
      WHERE ${inStep} AND e.private = 0 AND e.type <> 'webhook.test' AND e.created_at >= r.since AND ${takes}
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
