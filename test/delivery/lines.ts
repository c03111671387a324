// Shared by the delivery-line tests: an inbox whose lines are filled directly in D1 (events and their
// pending deliveries, as commitWithEvents leaves them), and the checks that a receiver saw every line in
// order.
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { faults } from "../../src/faults";
import { api, createTestAccount, unique } from "../support/api";
import { createTestInbox } from "../support/fixtures";
import type { Received } from "../support/receiver";
import { received } from "../support/receiver-client";
import { allShards, shardDb } from "../support/shards";

export type Line = { key: string; kind: "conversation" | "contact"; events: number };

/** Creates `lines` of events (conversation or contact lines) with one pending delivery per endpoint each. */
export async function fillLines(input: {
  accountId: string;
  inboxId: string;
  lines: Line[];
  /** [endpoint, url] pairs: 'inbox' and/or an automation rule id with its URL. */
  endpoints: Array<[string, string]>;
}) {
  // The rows below belong to a simulated queue and clock: the real recovery (whose alarm runs in the test
  // pool too) must not hand them to the real queue. Until faults.disarm().
  faults.arm("recovery.paused", Infinity);
  const now = Date.now();
  const statements: D1PreparedStatement[] = [];
  const deliveryIds: string[] = [];
  const db = await shardDb(input.accountId);
  let n = 0;
  for (const line of input.lines) {
    for (let sequence = 1; sequence <= line.events; sequence++) {
      const eventId = `evt_${unique("l")}`;
      const conversationId = line.kind === "conversation" ? line.key : null;
      const type = line.kind === "conversation" ? "message_created" : "contact_updated";
      const data =
        line.kind === "conversation"
          ? { message: { id: `msg_${n}`, content: `m${sequence}`, seq: sequence } }
          : { contact: { id: line.key, name: `v${sequence}` }, changed_attributes: ["name"] };
      const createdAt = now - 60_000 + n++;
      statements.push(
        db.prepare(
          `INSERT INTO events (id, account_id, inbox_id, conversation_id, sequence, type, private, origin, data, created_at, queued_at)
           VALUES (?, ?, ?, ?, ?, ?, 0, '{"type":"system","id":null}', ?, ?, ?)`,
        ).bind(eventId, input.accountId, input.inboxId, conversationId, sequence, type, JSON.stringify(data), createdAt, createdAt),
      );
      for (const [endpoint, url] of input.endpoints) {
        const id = `whd_${unique("d")}`;
        deliveryIds.push(id);
        statements.push(
          db.prepare(
            `INSERT INTO webhook_deliveries (id, account_id, inbox_id, event_id, event_type, conversation_id, sequence, line, endpoint, url, state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
          ).bind(id, input.accountId, input.inboxId, eventId, type, conversationId, sequence, line.key, endpoint, url, createdAt, createdAt),
        );
      }
    }
  }
  for (let i = 0; i < statements.length; i += 200) await db.batch(statements.slice(i, i + 200));
  return deliveryIds;
}

/** An account with an inbox whose webhook is `inboxPath`, and an automation rule whose webhook is `rulePath`. */
export async function twoEndpoints(inboxPath: string, rulePath: string) {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account, { webhookPath: inboxPath });
  const rule = await api("POST", `/v1/accounts/${account.accountId}/automation_rules`, {
    token: account.adminToken,
    body: {
      name: unique("rule"),
      event_name: "message_created",
      // Never matches anything the test does through the API: its deliveries are made by fillLines.
      active: false,
      actions: [{ name: "send_webhook_event", params: [`${env.RECEIVER_URL}${rulePath}`] }],
    },
  });
  expect(rule.status, rule.text).toBe(201);
  return { account, inbox, ruleId: rule.body.id as string };
}

export async function deliveryStates(inboxId: string) {
  const { results } = await allShards.prepare(
    "SELECT state, count(*) AS n, sum(attempts) AS attempts FROM webhook_deliveries WHERE inbox_id = ? GROUP BY state",
  )
    .bind(inboxId)
    .all<{ state: string; n: number; attempts: number }>();
  return Object.fromEntries(results.map((row) => [row.state, row.n])) as Record<string, number>;
}

/**
 * Checks what one endpoint received: per line, requests arrive in sequence order, and a request for a
 * later sequence arrives only after every request of an earlier sequence was answered (one at a time,
 * by construction: not merely "usually"). Returns the requests per event id.
 */
export async function expectLinesInOrder(path: string) {
  const requests = await received(path);
  const byLine = new Map<string, Array<Received & { sequence: number }>>();
  const perEvent = new Map<string, number>();
  for (const request of requests) {
    const body = JSON.parse(request.body) as { id: string; sequence: number; conversation_id: string | null; contact?: { id: string } };
    const line = body.conversation_id ?? body.contact!.id;
    const list = byLine.get(line) ?? [];
    list.push({ ...request, sequence: body.sequence });
    byLine.set(line, list);
    perEvent.set(body.id, (perEvent.get(body.id) ?? 0) + 1);
  }
  for (const [line, list] of byLine) {
    list.sort((a, b) => a.at - b.at);
    for (let i = 1; i < list.length; i++) {
      expect(list[i]!.sequence, `line ${line}: sequence went back`).toBeGreaterThanOrEqual(list[i - 1]!.sequence);
    }
    for (const request of list) {
      for (const earlier of list) {
        if (earlier.sequence < request.sequence) {
          expect(earlier.done, `line ${line}: ${request.sequence} sent while ${earlier.sequence} was unanswered`).toBeDefined();
          expect(request.at, `line ${line}: ${request.sequence} sent before ${earlier.sequence} was answered`).toBeGreaterThanOrEqual(earlier.done!);
        }
      }
    }
  }
  return { lines: byLine.size, requests: requests.length, perEvent };
}
