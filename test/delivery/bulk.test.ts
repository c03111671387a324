import { describe, expect, it } from "vitest";
import { sweep } from "../../src/delivery/sweeper";
import { faults } from "../../src/faults";
import { api, createTestAccount } from "../support/api";
import { count, createTestInbox } from "../support/fixtures";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { shardBindings } from "../support/shards";

// D1 binds at most 100 parameters per statement: the bulk paths (replay, sweeper) must chunk below that.
const MANY = 120;

async function createContacts(account: { adminToken: string }, inbox: { identifier: string }, prefix: string) {
  for (let i = 0; i < MANY; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, MANY - i) }, async (_, j) => {
        const res = await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/${prefix}-${i + j}`, { token: account.adminToken, body: {} });
        expect(res.status, res.text).toBe(201);
      }),
    );
  }
}

describe("bulk queueing", () => {
  it("replays more than 100 events in one call", async () => {
    const account = await createTestAccount();
    const webhookPath = await receiverPath([]);
    const inbox = await createTestInbox(account, { webhookPath });
    const since = new Date(Date.now() - 1000).toISOString();
    await createContacts(account, inbox, "replay-many");
    await waitForPayloads(webhookPath, MANY, "contact_created", 20_000);

    const replay = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries/replay`, {
      token: account.adminToken,
      body: { since },
    });
    expect(replay.status, replay.text).toBe(202);
    expect(replay.body.replayed).toBe(MANY);
    await waitForPayloads(webhookPath, 2 * MANY, "contact_created", 20_000);
  });

  it("the sweeper hands over more than 100 events whose queue send failed, in one pass", async () => {
    const account = await createTestAccount();
    const webhookPath = await receiverPath([]);
    const inbox = await createTestInbox(account, { webhookPath });
    faults.arm("queue.send", Infinity);
    try {
      await createContacts(account, inbox, "sweep-many");
    } finally {
      faults.disarm("queue.send");
    }
    const unqueued = () => count("SELECT count(*) AS n FROM events WHERE inbox_id = ? AND queued_at IS NULL", inbox.id);
    expect(await unqueued()).toBe(MANY);

    await sweep(await shardBindings(account.accountId), { graceMs: 0 });
    expect(await unqueued()).toBe(0);
    await waitForPayloads(webhookPath, MANY, "contact_created", 20_000);
  });
});
