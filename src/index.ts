import { buildApp } from "./app";
import { consumeDeadLetters, consumeDeliveries } from "./delivery/consumer";
import type { QueueMessage } from "./delivery/outbox";
import type { Bindings } from "./env";
import { armRecovery, armRecoveryOnce } from "./recovery/object";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { AssignmentObject } from "./automation/round-robin";
export { RateLimitObject } from "./rate-limit/object";
export { RecoveryObject } from "./recovery/object";

const app = buildApp();

export default {
  // Recovery (re-queueing, snooze wake-ups, retention) runs on the RecoveryObject's alarm; the first
  // request or batch of each isolate makes sure it is armed, so no mode needs a manual step.
  fetch(request: Request, env: Bindings, ctx: ExecutionContext) {
    armRecoveryOnce(env, ctx);
    return app.fetch(request, env, ctx);
  },

  async queue(batch: MessageBatch<QueueMessage>, env: Bindings, ctx: ExecutionContext): Promise<void> {
    armRecoveryOnce(env, ctx);
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env);
    else await consumeDeliveries(batch, env);
  },

  // The deployment's cron only pokes the recovery alarm (one RPC): the alarm does the work, in every mode.
  async scheduled(_controller: ScheduledController, env: Bindings, _ctx: ExecutionContext): Promise<void> {
    await armRecovery(env);
  },
} satisfies ExportedHandler<Bindings, QueueMessage>;
