import { buildApp } from "./app";
import { abandonAutomationEvent, processAutomationEvent } from "./automation/engine";
import { consumeDeadLetters, consumeDeliveries, failDeadDelivery, processDelivery } from "./delivery/consumer";
import type { QueueDecision, QueueMessage } from "./delivery/outbox";
import type { Bindings } from "./env";
import { armRecovery, armRecoveryOnce } from "./recovery/object";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { AssignmentObject } from "./automation/round-robin";
export { RateLimitObject } from "./rate-limit/object";
export { RecoveryObject } from "./recovery/object";

const app = buildApp();

/** One queue carries two kinds of message; each goes to its own consumer. */
function route(env: Bindings, body: QueueMessage): Promise<QueueDecision> {
  return body.kind === "delivery" ? processDelivery(env, body.deliveryId, body.attempt) : processAutomationEvent(env, body.eventId);
}

/** What the dead-letter queue does with each kind: the delivery ends failed, the rule runs are abandoned. */
function giveUp(env: Bindings, body: QueueMessage): Promise<void> {
  return body.kind === "delivery" ? failDeadDelivery(env, body.deliveryId) : abandonAutomationEvent(env, body.eventId);
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
