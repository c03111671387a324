import { buildApp } from "./app";
import { abandonAutomationEvent, processAutomationEvent } from "./automation/engine";
import { consumeDeadLetters, consumeDeliveries, parkDeadDelivery, processDelivery } from "./delivery/consumer";
import type { QueueDecision, QueueMessage } from "./delivery/outbox";
import { continueReplay } from "./delivery/replay";
import { withSharedBatches, type SharedBatches } from "./db/shared-batches";
import { defaultShard, shardEnv } from "./db/shards";
import type { Bindings, WorkerEnv } from "./env";
import { armRecovery, armRecoveryOnce } from "./recovery/object";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { AssignmentObject } from "./automation/round-robin";
export { RateLimitObject } from "./rate-limit/object";
export { RecoveryObject } from "./recovery/object";
export { ErasureObject } from "./erasure/object";
export { RealtimeObject } from "./realtime/object";
export { MoveObject } from "./moves/object";

const app = buildApp();

/** The shard a queue message is about: it names it (older messages belong to the first shard). */
function shardOf(env: WorkerEnv, body: QueueMessage): string {
  return body.shard ?? defaultShard(env);
}

/**
 * One queue carries three kinds of message; each goes to its own consumer, on the message's shard. The
 * messages of one batch share D1 round trips (src/db/shared-batches.ts): one bindings per shard, per batch.
 */
function router(workerEnv: WorkerEnv): (body: QueueMessage) => Promise<QueueDecision> {
  const shared = new Map<string, SharedBatches<Bindings>>();
  return (body) => {
    const shard = shardOf(workerEnv, body);
    let batches = shared.get(shard);
    if (!batches) {
      batches = withSharedBatches(shardEnv(workerEnv, shard));
      shared.set(shard, batches);
    }
    return batches.track(() => route(batches.env, body));
  };
}

function route(env: Bindings, body: QueueMessage): Promise<QueueDecision> {
  switch (body.kind) {
    case "delivery":
      return processDelivery(env, body.deliveryId, body.attempt);
    case "replay":
      return continueReplay(env, body.replayId);
    case "automation":
      return processAutomationEvent(env, body.eventId);
  }
}

/**
 * What the dead-letter queue does with each kind: a delivery is parked for recovery (never failed for
 * our own trouble), a replay is continued by recovery anyway, the rule runs are abandoned.
 */
async function giveUp(workerEnv: WorkerEnv, body: QueueMessage): Promise<void> {
  const env = shardEnv(workerEnv, shardOf(workerEnv, body));
  if (body.kind === "delivery") await parkDeadDelivery(env, body.deliveryId);
  else if (body.kind === "automation") await abandonAutomationEvent(env, body.eventId);
}

export default {
  // Recovery (re-queueing, snooze wake-ups, retention) runs on the RecoveryObject's alarm; the first
  // request or batch of each isolate makes sure it is armed, so no mode needs a manual step.
  // The app routes each request to its account's shard (src/http/auth.ts): it starts from the Worker's bindings.
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext) {
    armRecoveryOnce(env, ctx);
    return app.fetch(request, env as Bindings, ctx);
  },

  async queue(batch: MessageBatch<QueueMessage>, env: WorkerEnv, ctx: ExecutionContext): Promise<void> {
    armRecoveryOnce(env, ctx);
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env, (body) => giveUp(env, body));
    else await consumeDeliveries(batch, env, router(env));
  },

  // The deployment's cron only pokes the recovery alarm (one RPC): the alarm does the work, in every mode.
  async scheduled(_controller: ScheduledController, env: WorkerEnv, _ctx: ExecutionContext): Promise<void> {
    await armRecovery(env);
  },
} satisfies ExportedHandler<WorkerEnv, QueueMessage>;
