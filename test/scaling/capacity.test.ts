// The measurements behind docs/scaling.md: D1 rows written and bytes stored per message on a shard, on the
// request path (through the Worker's own fetch, with a counting D1 binding in place of the account's shard)
// and on the delivery path (the queue consumer's two round trips per attempt, docs/delivery.md). Lean: one
// account, 200 messages; it logs the numbers and checks only that they stay in the documented range.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { shardEnv } from "../../src/db/shards";
import { api, TEST_PLATFORM_TOKEN, unique } from "../support/api";
import { callWithEnv } from "../support/faults";
import { createInboxToken, createTestInbox } from "../support/fixtures";
import { receiverPath, waitForPayloads } from "../support/receiver-client";

/** A D1 binding that adds up what D1 reports for every statement and batch: rows written, round trips. */
function metered(db: D1Database) {
  const totals = { roundTrips: 0, rowsWritten: 0, rowsRead: 0 };
  const add = (result: D1Result | D1Result[]) => {
    for (const one of Array.isArray(result) ? result : [result]) {
      totals.rowsWritten += one.meta?.rows_written ?? 0;
      totals.rowsRead += one.meta?.rows_read ?? 0;
    }
  };
  const unwrap = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, key) {
        if (key === "bind") return (...values: unknown[]) => wrap(target.bind(...values));
        if (key === "run" || key === "all") {
          return async () => {
            totals.roundTrips += 1;
            const result = await (target[key] as () => Promise<D1Result>).call(target);
            add(result);
            return result;
          };
        }
        if (key === "first" || key === "raw") {
          return async (...args: unknown[]) => {
            totals.roundTrips += 1;
            return (target[key] as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    unwrap.set(proxy, statement);
    return proxy;
  };
  const binding = {
    prepare: (sql: string) => wrap(db.prepare(sql)),
    batch: async (statements: D1PreparedStatement[]) => {
      totals.roundTrips += 1;
      const results = await db.batch(statements.map((statement) => unwrap.get(statement) ?? statement));
      add(results);
      return results;
    },
    exec: (query: string) => db.exec(query),
    dump: () => db.dump(),
    withSession: () => db.withSession(),
  } as unknown as D1Database;
  return { binding, totals };
}

const MESSAGES = 200;

describe("capacity per message (docs/scaling.md)", () => {
  it("measures D1 rows written and bytes per message on a shard", { timeout: 60_000 }, async () => {
    const created = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      body: { name: unique("capacity"), administrator: { name: "A", email: `${unique("c")}@example.com` } },
    });
    const account = { accountId: created.body.account.id, adminId: created.body.user.id, adminToken: created.body.token.token };
    const shard: string = created.body.account.shard;
    const webhookPath = await receiverPath();
    const inbox = await createTestInbox(account, { webhookPath });
    const token = await createInboxToken(account, inbox);
    const db = shardEnv(env, shard).DB;
    const size = async () => (await db.prepare("SELECT 1").run()).meta.size_after ?? 0;
    // Every row this shard's SQLite changed, whoever changed it (the Worker, the conversation object, the
    // queue consumer, triggers): one connection serves a local D1 database.
    const changes = async () => (await db.prepare("SELECT total_changes() AS n").first<{ n: number }>())!.n;
    const before = await size();
    const changedBefore = await changes();
    const { binding, totals } = metered(db);
    // 20 contacts, 10 messages each: the first message of each opens its conversation (the usual mix).
    for (let n = 0; n < MESSAGES; n++) {
      const res = await callWithEnv({ [shard]: binding } as Partial<Env>, "POST", `/v1/inboxes/${inbox.identifier}/messages`, {
        token,
        body: { contact: { source_id: `c-${n % 20}` }, content: `Message number ${n}: where is my order #${1000 + n}?`, source_id: `m-${n}` },
      });
      expect(res.status, res.text).toBe(201);
    }
    await waitForPayloads(webhookPath, MESSAGES, "message_created", 30_000);
    // The last outcomes are written just after the endpoint answered.
    await expect.poll(async () => (await db.prepare("SELECT count(*) AS n FROM webhook_deliveries WHERE account_id = ? AND state = 'pending'").bind(account.accountId).first<{ n: number }>())!.n).toBe(0);
    const changed = (await changes()) - changedBefore;
    const perTable = async (table: string) =>
      (await db.prepare(`SELECT count(*) AS n FROM ${table} WHERE account_id = ?`).bind(account.accountId).first<{ n: number }>())!.n;
    const grown = (await size()) - before;
    const report = {
      messages: MESSAGES,
      request_path: {
        d1_round_trips_per_message: +(totals.roundTrips / MESSAGES).toFixed(2),
        rows_written_per_message: +(totals.rowsWritten / MESSAGES).toFixed(2),
        rows_read_per_message: +(totals.rowsRead / MESSAGES).toFixed(2),
      },
      table_rows_changed_per_message_all_paths: +(changed / MESSAGES).toFixed(2),
      bytes_per_message_all_tables: Math.round(grown / MESSAGES),
      rows: {
        messages: await perTable("messages"),
        events: await perTable("events"),
        webhook_deliveries: await perTable("webhook_deliveries"),
        delivery_attempts: await perTable("delivery_attempts"),
        conversations: await perTable("conversations"),
        contacts: await perTable("contacts"),
      },
    };
    // Payload bytes (the columns' values, before SQLite's page and index overhead) per table: what retention
    // keeps (messages and what they hang on) and what it prunes after RETENTION_DAYS (events, deliveries, attempts).
    const payload = async (table: string, where = "account_id = ?") => {
      const columns = (await db.prepare(`PRAGMA table_info(${table})`).all<{ name: string }>()).results.map((column) => `coalesce(length("${column.name}"), 0)`);
      const row = await db.prepare(`SELECT coalesce(sum(${columns.join(" + ")}), 0) AS n FROM ${table} WHERE ${where}`).bind(account.accountId).first<{ n: number }>();
      return row!.n;
    };
    const kept = (await payload("messages")) + (await payload("conversations")) + (await payload("contacts")) + (await payload("contact_inboxes")) + (await payload("search_documents"));
    const pruned = (await payload("events")) + (await payload("webhook_deliveries")) + (await payload("delivery_attempts"));
    Object.assign(report, {
      payload_bytes_kept_per_message: Math.round(kept / MESSAGES),
      payload_bytes_pruned_after_retention_per_message: Math.round(pruned / MESSAGES),
    });
    console.log(JSON.stringify({ capacity: report }));
    expect(report.request_path.rows_written_per_message).toBeGreaterThan(0);
    expect(report.request_path.rows_written_per_message).toBeLessThan(60);
  });
});
