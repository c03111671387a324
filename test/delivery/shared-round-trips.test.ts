// A queue batch's deliveries share D1 round trips (src/db/shared-batches.ts, through the Worker's queue
// handler): ten lines' arrivals go as one, and every line is still delivered once, in order, under
// production timing.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { QueueMessage } from "../../src/delivery/outbox";
import { faults } from "../../src/faults";
import { createTestAccount, unique } from "../support/api";
import { createTestInbox } from "../support/fixtures";
import { latentD1 } from "../support/faults";
import { SimulatedQueue } from "../support/queue-sim";
import { receiverPath } from "../support/receiver-client";
import { shardDb, shardOf } from "../support/shards";
import { deliveryStates, expectLinesInOrder, fillLines, type Line } from "./lines";

afterEach(() => faults.disarm());

describe("a queue batch's deliveries", () => {
  it("share D1 round trips: ten lines' first attempts arrive in one (11 round trips at most, against 20 alone)", async () => {
    const path = await receiverPath([], { status: 200 });
    const account = await createTestAccount();
    const inbox = await createTestInbox(account, { webhookPath: path });
    const lines: Line[] = Array.from({ length: 10 }, () => ({ key: `cnv_${unique("s")}`, kind: "conversation" as const, events: 1 }));
    const ids = await fillLines({ accountId: account.accountId, inboxId: inbox.id, lines, endpoints: [["inbox", `${env.RECEIVER_URL}${path}`]] });

    const shard = await shardOf(account.accountId);
    const d1 = latentD1(await shardDb(account.accountId), { minMs: 5, maxMs: 20 });
    const queue = new SimulatedQueue();
    queue.preload(ids.map((deliveryId): QueueMessage => ({ kind: "delivery", deliveryId, shard })));
    const simulated = { ...env, [shard]: d1.db, DELIVERIES: queue.binding, DELIVERIES_DLQ: queue.binding } as unknown as Env;
    await queue.run(simulated, { concurrency: 1, batchSize: 10, done: async () => (await deliveryStates(inbox.id)).pending === undefined });

    expect(await deliveryStates(inbox.id)).toEqual({ succeeded: 10 });
    const seen = await expectLinesInOrder(path);
    expect(seen.lines).toBe(10);
    expect([...seen.perEvent.values()]).toEqual(Array(10).fill(1));
    // Alone, each delivery takes two: its arrival and its outcome (20). Shared, the ten arrivals start in one
    // turn and go as one; the outcomes share as their endpoint's answers allow (2–3 round trips in all, here).
    expect(queue.stats.consumed).toBe(10);
    expect(d1.stats.calls).toBeLessThanOrEqual(1 + 10);
  });
});
