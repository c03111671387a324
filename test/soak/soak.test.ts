// A bounded soak: 10 integrators send mixed traffic for a while (new contacts, repeats with the same
// source_id or Idempotency-Key, agent replies and notes, status changes) while their webhook endpoints
// refuse 30 % of deliveries at random. At the end nothing may be lost: every event is delivered or in the
// failed log, nothing is delivered twice beyond at-least-once, and every conversation is gap-free.
import { expect, it } from "vitest";
import { api, createTestAccount, type TestAccount } from "../support/api";
import { createInboxToken, createTestInbox, type TestInbox } from "../support/fixtures";
import { received, receiverPath } from "../support/receiver-client";
import { allShards } from "../support/shards";

const INTEGRATORS = 10;
const TRAFFIC_MS = 15_000;
const DRAIN_MS = 40_000;

type Integrator = { account: TestAccount; inbox: TestInbox; token: string; path: string; conversations: Set<string> };

const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;

async function traffic(integrator: Integrator, deadline: number, counts: Record<string, number>) {
  const { account, inbox, token } = integrator;
  let n = 0;
  while (Date.now() < deadline) {
    n += 1;
    const roll = Math.random();
    const contact = `user-${Math.floor(Math.random() * 5)}`;
    let res;
    if (roll < 0.55 || integrator.conversations.size === 0) {
      // New message; sometimes a retry of an earlier one (same source_id), sometimes with a key sent twice.
      const sourceId = roll < 0.1 ? `m-${Math.max(1, n - 1)}` : `m-${n}`;
      const body = { contact: { source_id: contact, name: contact }, content: `hello ${n}`, source_id: sourceId };
      const headers = roll > 0.45 ? { "idempotency-key": `k-${n}` } : undefined;
      res = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers });
      if (headers) await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers });
      if (res.status < 300) integrator.conversations.add(res.body.conversation.id);
      counts.messages! += 1;
    } else if (roll < 0.85) {
      const conversationId = pick([...integrator.conversations]);
      res = await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/messages`, {
        token: account.adminToken,
        body: { content: `reply ${n}`, private: roll > 0.8 },
      });
      counts.replies! += 1;
    } else {
      const conversationId = pick([...integrator.conversations]);
      res = await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/status`, {
        token: account.adminToken,
        body: { status: pick(["resolved", "pending", "open"]) },
      });
      counts.status_changes! += 1;
    }
    if (res.status >= 500) counts.errors_5xx! += 1;
    else if (res.status >= 400 && res.status !== 409) counts.errors_4xx! += 1;
  }
}

it("loses nothing under mixed traffic from 10 integrators with 30 % of webhooks failing", { timeout: 90_000 }, async () => {
  const integrators: Integrator[] = [];
  for (let i = 0; i < INTEGRATORS; i++) {
    const account = await createTestAccount();
    const path = await receiverPath([], { status: 200, fail_ratio: 0.3, fail_status: 503 });
    const inbox = await createTestInbox(account, { webhookPath: path, lockToSingleConversation: i % 2 === 0 });
    integrators.push({ account, inbox, token: await createInboxToken(account, inbox), path, conversations: new Set() });
  }
  const counts: Record<string, number> = { messages: 0, replies: 0, status_changes: 0, errors_4xx: 0, errors_5xx: 0 };
  const deadline = Date.now() + TRAFFIC_MS;
  await Promise.all(integrators.map((integrator) => traffic(integrator, deadline, counts)));
  expect(counts.errors_5xx).toBe(0);
  expect(counts.errors_4xx).toBe(0);

  const inboxIds = integrators.map((integrator) => integrator.inbox.id);
  const placeholders = inboxIds.map(() => "?").join(",");
  await expect
    .poll(
      async () =>
        (await allShards.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'pending' AND inbox_id IN (${placeholders})`)
          .bind(...inboxIds)
          .first<{ n: number }>())!.n,
      { timeout: DRAIN_MS, interval: 500 },
    )
    .toBe(0);

  let events = 0;
  let succeeded = 0;
  let failed = 0;
  let duplicates = 0;
  let requests = 0;
  for (const integrator of integrators) {
    const rows = await allShards.prepare(
      `SELECT e.id, e.conversation_id, e.sequence, d.state, d.attempts FROM events e
       LEFT JOIN webhook_deliveries d ON d.event_id = e.id AND d.endpoint = 'inbox'
       WHERE e.inbox_id = ? AND e.private = 0`,
    )
      .bind(integrator.inbox.id)
      .all<{ id: string; conversation_id: string | null; sequence: number | null; state: string | null; attempts: number }>();
    const arrivals = await received(integrator.path);
    requests += arrivals.length;
    const accepted = new Map<string, number>();
    for (const arrival of arrivals.filter((item) => item.status >= 200 && item.status < 300)) {
      const id = arrival.headers["webhook-id"]!;
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
    }
    for (const row of rows.results) {
      events += 1;
      // Every event has its delivery, and it ended: delivered, or failed after the whole schedule.
      expect(row.state, `event ${row.id}`).not.toBeNull();
      if (row.state === "succeeded") {
        succeeded += 1;
        expect(accepted.get(row.id) ?? 0, `delivered event ${row.id} reached the endpoint`).toBeGreaterThanOrEqual(1);
        duplicates += (accepted.get(row.id) ?? 1) - 1;
      } else {
        expect(row.state).toBe("failed");
        expect(row.attempts).toBe(4);
        failed += 1;
      }
    }
    // Accepted deliveries of a conversation arrived in sequence order.
    const byConversation = new Map<string, number[]>();
    for (const arrival of arrivals.filter((item) => item.status < 300)) {
      const body = JSON.parse(arrival.body);
      if (!body.conversation_id) continue;
      byConversation.set(body.conversation_id, [...(byConversation.get(body.conversation_id) ?? []), body.sequence]);
    }
    for (const sequences of byConversation.values()) expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    // Every conversation's messages and events are numbered without gaps.
    for (const conversationId of integrator.conversations) {
      const seqs = await allShards.prepare("SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq").bind(conversationId).all<{ seq: number }>();
      expect(seqs.results.map((row) => row.seq)).toEqual(seqs.results.map((_, i) => i + 1));
      const sequences = await allShards.prepare("SELECT sequence FROM events WHERE conversation_id = ? ORDER BY sequence")
        .bind(conversationId)
        .all<{ sequence: number }>();
      expect(sequences.results.map((row) => row.sequence)).toEqual(sequences.results.map((_, i) => i + 1));
    }
  }
  expect(duplicates).toBe(0);
  console.log(
    `soak: ${JSON.stringify(counts)} events=${events} delivered=${succeeded} failed_after_schedule=${failed} ` +
      `webhook_requests=${requests} duplicate_deliveries=${duplicates}`,
  );
});
