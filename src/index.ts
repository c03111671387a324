import { buildApp } from "./app";
import { abandonAutomationEvent, processAutomationEvent } from "./automation/engine";
import { consumeDeadLetters, consumeDeliveries, failDeadDelivery, processDelivery } from "./delivery/consumer";
import type { QueueDecision, QueueMessage } from "./delivery/outbox";
import { sweep } from "./delivery/sweeper";
import type { Bindings } from "./env";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { AssignmentObject } from "./automation/round-robin";
export { RateLimitObject } from "./rate-limit/object";
export { RealtimeObject } from "./realtime/object";

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
  fetch: app.fetch,

  async queue(batch: MessageBatch<QueueMessage>, env: Bindings, _ctx: ExecutionContext): Promise<void> {
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env, (body) => giveUp(env, body));
    else await consumeDeliveries(batch, env, (body) => route(env, body));
  },

  async scheduled(_controller: ScheduledController, env: Bindings, _ctx: ExecutionContext): Promise<void> {
    const report = await sweep(env);
    if (report.deliveries_queued + report.deliveries_requeued + report.events_marked > 0) {
      console.log(JSON.stringify({ level: "info", message: "sweeper", ...report }));
    }
  },
} satisfies ExportedHandler<Bindings, QueueMessage>;
