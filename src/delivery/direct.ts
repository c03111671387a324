// The first attempt right after the commit (docs/delivery.md, "The first attempt"): the publisher — the
// conversation object, after its commit, off its input path — runs each new delivery through the same
// state machine a queue message would (processDelivery: lease or park → attempt → outcome, chaining its
// line), and hands a delivery to the queue only when that did not settle it. Nothing is lost in between:
// until a delivery is settled or queued it is unqueued (enqueued_at NULL), which recovery hands over.
import { withSharedBatches } from "../db/shared-batches";
import type { Bindings } from "../env";
import { faults } from "../faults";
import { processDelivery } from "./consumer";
import { markHandedOver, publish, type Committed, type QueueDecision, type QueueMessage } from "./outbox";

/**
 * After commit: every delivery of `committed` gets its first attempt here, at once and concurrently (a
 * delivery behind an earlier pending one of its line parks and is continued by it, as with a queue
 * message). Meanwhile the rules engine's events go to the queue and are marked handed over (`publish`);
 * the other events are marked in the first delivery's arrive batch — their deliveries need no mark of
 * the event: an unqueued delivery is recovery's anyway. Never throws: what could not be attempted here
 * is queued, and what could not be queued is recovery's.
 */
export async function publishAndAttempt(env: Bindings, committed: Committed[]): Promise<void> {
  if (committed.length === 0) return;
  const deliveryIds = committed.flatMap((item) => item.deliveryIds);
  // Every committed event has deliveries or is for the rules engine (commitWithEvents).
  const marks = markHandedOver(env, committed.filter((item) => !item.automation).map((item) => item.eventId));
  // Several deliveries (the commit's endpoints, a group commit's messages) share D1 round trips; one
  // alone has nothing to share, and keeps the plain bindings (their drizzle client is built once).
  const shared = deliveryIds.length > 1 ? withSharedBatches(env) : { env, track: <T>(work: () => Promise<T>) => work() };
  await Promise.all([
    ...deliveryIds.map((deliveryId, i) => shared.track(() => attemptNow(shared.env, deliveryId, i === 0 ? marks : []))),
    publish(env, committed.filter((item) => item.automation), { deliveries: false }),
  ]);
}

/** One delivery's first attempt through the state machine; the queue takes over whatever it left open. */
async function attemptNow(env: Bindings, deliveryId: string, alongside: D1PreparedStatement[]): Promise<void> {
  let decision: QueueDecision;
  try {
    await faults.pause("delivery.direct");
    faults.check("delivery.direct");
    decision = await processDelivery(env, deliveryId, 1, alongside);
  } catch (error) {
    // Our own failure (D1 unreachable, …): the queue's consumer takes over with its backoff; a lease taken
    // before the failure makes its message wait until the lease has expired.
    console.warn(JSON.stringify({ level: "warn", message: "direct delivery attempt failed; queued instead", deliveryId, error: String(error) }));
    decision = { kind: "retry", delaySeconds: 0 };
  }
  if (decision.kind === "ack") return;
  // Another holder of the lease (look again when it expires) or a wait: the message the consumer would send.
  const message: QueueMessage = decision.kind === "schedule" ? decision.message : { kind: "delivery", deliveryId, shard: env.SHARD };
  try {
    faults.check("queue.send");
    await env.DELIVERIES.send(message, decision.delaySeconds > 0 ? { delaySeconds: decision.delaySeconds } : undefined);
  } catch (error) {
    // The delivery is still unqueued: recovery (enqueueReady) hands it over after its grace.
    console.warn(JSON.stringify({ level: "warn", message: "queueing after a direct attempt failed; recovery will hand it over", deliveryId, error: String(error) }));
  }
}
