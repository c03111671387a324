import { buildApp } from "./app";
import { abandonAutomationEvent, processAutomationEvent } from "./automation/engine";
import { consumeDeadLetters, consumeDeliveries, parkDeadDelivery, processDelivery } from "./delivery/consumer";
import type { QueueDecision, QueueMessage } from "./delivery/outbox";
import { continueReplay } from "./delivery/replay";
import { sweep } from "./delivery/sweeper";
import type { Bindings } from "./env";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { AssignmentObject } from "./automation/round-robin";
export { RateLimitObject } from "./rate-limit/object";

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
