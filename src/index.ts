import { buildApp } from "./app";
import { abandonAutomationEvent, processAutomationEvent } from "./automation/engine";
import { consumeDeadLetters, consumeDeliveries, parkDeadDelivery, processDelivery } from "./delivery/consumer";
import type { QueueDecision, QueueMessage } from "./delivery/outbox";
import { continueReplay } from "./delivery/replay";
import type { Bindings } from "./env";
import { armRecovery, armRecoveryOnce } from "./recovery/object";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { AssignmentObject } from "./automation/round-robin";
export { RateLimitObject } from "./rate-limit/object";
export { RecoveryObject } from "./recovery/object";
export { ErasureObject } from "./erasure/object";
export { RealtimeObject } from "./realtime/object";

const app = buildApp();

/** One queue carries three kinds of message; each goes to its own consumer. */
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
async function giveUp(env: Bindings, body: QueueMessage): Promise<void> {
  if (body.kind === "delivery") await parkDeadDelivery(env, body.deliveryId);
  else if (body.kind === "automation") await abandonAutomationEvent(env, body.eventId);
}

export default {
  // Recovery (re-queueing, snooze wake-ups, retention) runs on the RecoveryObject's alarm; the first
  // request or batch of each isolate makes sure it is armed, so no mode needs a manual step.
  fetch(request: Request, env: Bindings, ctx: ExecutionContext) {
    armRecoveryOnce(env, ctx);
    return app.fetch(request, env, ctx);
  },

  async queue(batch: MessageBatch<QueueMessage>, env: Bindings, ctx: ExecutionContext): Promise<void> {
    armRecoveryOnce(env, ctx);
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env, (body) => giveUp(env, body));
    else await consumeDeliveries(batch, env, (body) => route(env, body));
  },

  // The deployment's cron only pokes the recovery alarm (one RPC): the alarm does the work, in every mode.
  async scheduled(_controller: ScheduledController, env: Bindings, _ctx: ExecutionContext): Promise<void> {
    await armRecovery(env);
  },
} satisfies ExportedHandler<Bindings, QueueMessage>;
