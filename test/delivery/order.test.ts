// Order per (line, endpoint) under production timing: D1 round trips of 5–50 ms, an endpoint answering in
// 0–20 ms (sometimes 500), queue messages handed over in random order and some twice, several consumer
// invocations at once. Local D1 answers in microseconds and hides races; this does not.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { QueueMessage } from "../../src/delivery/outbox";
import { faults } from "../../src/faults";
import { unique } from "../support/api";
import { latentD1 } from "../support/faults";
import { SimulatedQueue } from "../support/queue-sim";
import { receiverPath } from "../support/receiver-client";
import { deliveryStates, expectLinesInOrder, fillLines, twoEndpoints, type Line } from "./lines";
import { allShards, shardDb, shardOf } from "../support/shards";

afterEach(() => faults.disarm());

describe("delivery lines under production timing", () => {
  it(
    "delivers ≥ 1,000 events of 12 conversations and 2 contacts to 2 endpoints, each line in sequence order, one at a time",
    { timeout: 180_000 },
    async () => {
      const endpoint = { status: 200, jitter_ms: 20, fail_ratio: 0.03, fail_status: 500 };
      const inboxPath = await receiverPath([], endpoint);
      const rulePath = await receiverPath([], endpoint);
      const { account, inbox, ruleId } = await twoEndpoints(inboxPath, rulePath);
      const lines: Line[] = [
        ...Array.from({ length: 12 }, () => ({ key: `cnv_${unique("o")}`, kind: "conversation" as const, events: 80 })),
        ...Array.from({ length: 2 }, () => ({ key: `ct_${unique("o")}`, kind: "contact" as const, events: 30 })),
      ];
      const ids = await fillLines({
        accountId: account.accountId,
        inboxId: inbox.id,
        lines,
        endpoints: [["inbox", `${env.RECEIVER_URL}${inboxPath}`], [ruleId, `${env.RECEIVER_URL}${rulePath}`]],
      });
      expect(ids.length).toBe(2 * (12 * 80 + 2 * 30));

      const shard = await shardOf(account.accountId);
      const d1 = latentD1(await shardDb(account.accountId), { minMs: 5, maxMs: 50 });
      const queue = new SimulatedQueue({ duplicate: 0.2 });
      // Every delivery's message as a publish would send it, in random order (the queue's own shuffle).
      queue.preload(ids.map((deliveryId): QueueMessage => ({ kind: "delivery", deliveryId, shard })));
      const simulated = { ...env, [shard]: d1.db, DELIVERIES: queue.binding, DELIVERIES_DLQ: queue.binding } as unknown as Env;
      await queue.run(simulated, {
        concurrency: 16,
        done: async () => (await deliveryStates(inbox.id)).pending === undefined,
        timeoutMs: 170_000,
      });

      expect(await deliveryStates(inbox.id)).toEqual({ succeeded: ids.length });
      for (const path of [inboxPath, rulePath]) {
        const seen = await expectLinesInOrder(path);
        expect(seen.lines).toBe(14);
        expect(seen.perEvent.size).toBe(12 * 80 + 2 * 30);
      }
      // Every request the endpoints saw is an attempt in the log, and no attempt was made twice.
      const logged = await allShards.prepare(
        `SELECT count(*) AS n, count(DISTINCT delivery_id || ':' || attempt) AS distinct_attempts FROM delivery_attempts
         WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE inbox_id = ?)`,
      )
        .bind(inbox.id)
        .first<{ n: number; distinct_attempts: number }>();
      const { received } = await import("../support/receiver-client");
      const requests = (await received(inboxPath)).length + (await received(rulePath)).length;
      expect(logged!.n).toBe(requests);
      expect(logged!.distinct_attempts).toBe(requests);
      // The endpoint's 500s were retried (the schedule was exercised), duplicates were dropped.
      expect(requests).toBeGreaterThan(ids.length);
      expect(queue.stats.duplicated).toBeGreaterThan(200);
      // At most 2 D1 round trips per attempt, plus one per message that found its delivery not its turn yet.
      console.log(JSON.stringify({ deliveries: ids.length, attempts: requests, d1_round_trips: d1.stats.calls, queue: queue.stats }));
    },
  );
});
