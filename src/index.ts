import { buildApp } from "./app";
import { consumeDeadLetters, consumeDeliveries } from "./delivery/consumer";
import type { QueueMessage } from "./delivery/outbox";
import { sweep } from "./delivery/sweeper";
import type { Bindings } from "./env";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { AssignmentObject } from "./automation/round-robin";
export { RateLimitObject } from "./rate-limit/object";
export { RealtimeObject } from "./realtime/object";

const app = buildApp();

export default {
  fetch: app.fetch,

  async queue(batch: MessageBatch<QueueMessage>, env: Bindings, _ctx: ExecutionContext): Promise<void> {
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env);
    else await consumeDeliveries(batch, env);
  },

  async scheduled(_controller: ScheduledController, env: Bindings, _ctx: ExecutionContext): Promise<void> {
    const report = await sweep(env);
    if (report.deliveries_queued + report.deliveries_requeued + report.events_marked > 0) {
      console.log(JSON.stringify({ level: "info", message: "sweeper", ...report }));
    }
  },
} satisfies ExportedHandler<Bindings, QueueMessage>;
