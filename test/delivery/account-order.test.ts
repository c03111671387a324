// An account-level endpoint's lines under production timing (D1 round trips of 5–50 ms, an endpoint
// answering in 0–20 ms and sometimes 500, queue messages shuffled and duplicated, concurrent consumers),
// alongside the inbox's own endpoint: each conversation in order, and each contact's line in order
// across the account's inboxes (the contact's events come through two inboxes).
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { QueueMessage } from "../../src/delivery/outbox";
import { faults } from "../../src/faults";
import { api, createTestAccount, unique } from "../support/api";
import { latentD1 } from "../support/faults";
import { createTestInbox } from "../support/fixtures";
import { SimulatedQueue } from "../support/queue-sim";
import { receiverPath } from "../support/receiver-client";
import { expectLinesInOrder } from "./lines";
import { allShards, shardDb, shardOf } from "../support/shards";

afterEach(() => faults.disarm());

describe("account-level endpoint lines under production timing", () => {
  it("keeps every conversation and every contact (across inboxes) in order on the account endpoint, beside the inbox's", { timeout: 180_000 }, async () => {
    const answer = { status: 200, jitter_ms: 20, fail_ratio: 0.03, fail_status: 500 };
    const inboxPath = await receiverPath([], answer);
    const accountPath = await receiverPath([], answer);
    const account = await createTestAccount();
    const first = await createTestInbox(account, { webhookPath: inboxPath });
    const second = await createTestInbox(account);
    const created = await api("POST", `/v1/accounts/${account.accountId}/webhooks`, {
      token: account.adminToken,
      body: { url: `${env.RECEIVER_URL}${accountPath}` },
    });
    expect(created.status, created.text).toBe(201);
    const endpointId = created.body.id as string;

    // 6 conversations of 40 events in the first inbox; 2 contacts of 30 events alternating between inboxes.
    // The rows belong to the simulated queue: the real recovery must not hand them to the real queue.
    faults.arm("recovery.paused", Infinity);
    const now = Date.now();
    const statements: D1PreparedStatement[] = [];
    const ids: string[] = [];
    const shard = await shardOf(account.accountId);
    const db = await shardDb(account.accountId);
    let n = 0;
    const add = (line: string, kind: "conversation" | "contact", sequence: number, inboxId: string) => {
      const eventId = `evt_${unique("a")}`;
      const type = kind === "conversation" ? "message_created" : "contact_updated";
      const data = kind === "conversation" ? { message: { id: `msg_${n}`, seq: sequence } } : { contact: { id: line }, changed_attributes: ["name"] };
      const createdAt = now - 60_000 + n++;
      statements.push(
        db.prepare(
          `INSERT INTO events (id, account_id, inbox_id, conversation_id, sequence, type, private, origin, data, created_at, queued_at)
           VALUES (?, ?, ?, ?, ?, ?, 0, '{"type":"system","id":null}', ?, ?, ?)`,
        ).bind(eventId, account.accountId, inboxId, kind === "conversation" ? line : null, sequence, type, JSON.stringify(data), createdAt, createdAt),
      );
      // As the fan-out makes them: the inbox endpoint only where the inbox has a webhook; the account endpoint always.
      const endpoints: Array<[string, string]> = [[endpointId, `${env.RECEIVER_URL}${accountPath}`]];
      if (inboxId === first.id) endpoints.push(["inbox", `${env.RECEIVER_URL}${inboxPath}`]);
      for (const [endpoint, url] of endpoints) {
        const id = `whd_${unique("d")}`;
        ids.push(id);
        statements.push(
          db.prepare(
            `INSERT INTO webhook_deliveries (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, line, endpoint, url, state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
          ).bind(id, account.accountId, inboxId, eventId, type, kind === "conversation" ? line : null, sequence, line, endpoint, url, createdAt, createdAt),
        );
      }
    };
    const conversations = Array.from({ length: 6 }, () => `cnv_${unique("ao")}`);
    const contacts = Array.from({ length: 2 }, () => `ct_${unique("ao")}`);
    for (let sequence = 1; sequence <= 40; sequence++) for (const line of conversations) add(line, "conversation", sequence, first.id);
    for (let sequence = 1; sequence <= 30; sequence++) for (const line of contacts) add(line, "contact", sequence, sequence % 2 ? first.id : second.id);
    for (let i = 0; i < statements.length; i += 200) await db.batch(statements.slice(i, i + 200));
    expect(ids.length).toBe(6 * 40 * 2 + 2 * 30 + 2 * 15);

    const d1 = latentD1(db, { minMs: 5, maxMs: 50 });
    const queue = new SimulatedQueue({ duplicate: 0.2 });
    queue.preload(ids.map((deliveryId): QueueMessage => ({ kind: "delivery", deliveryId, shard })));
    const simulated = { ...env, [shard]: d1.db, DELIVERIES: queue.binding, DELIVERIES_DLQ: queue.binding } as unknown as Env;
    const states = async () => {
      const { results } = await allShards.prepare("SELECT state, count(*) AS n FROM webhook_deliveries WHERE account_id = ? GROUP BY state")
        .bind(account.accountId)
        .all<{ state: string; n: number }>();
      return Object.fromEntries(results.map((row) => [row.state, row.n])) as Record<string, number>;
    };
    await queue.run(simulated, { concurrency: 16, done: async () => (await states()).pending === undefined, timeoutMs: 170_000 });

    expect(await states()).toEqual({ succeeded: ids.length });
    const onAccount = await expectLinesInOrder(accountPath);
    expect(onAccount.lines).toBe(8);
    expect(onAccount.perEvent.size).toBe(6 * 40 + 2 * 30);
    const onInbox = await expectLinesInOrder(inboxPath);
    expect(onInbox.perEvent.size).toBe(6 * 40 + 2 * 15);
  });
});
