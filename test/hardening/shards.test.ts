// The shard boundary (docs/scaling.md): every request works on its account's shard alone, accounts on
// different shards — and on the same shard — never see each other, and a shard that lacks a migration
// refuses to serve. The isolation matrix (isolation.test.ts) runs its two tenants on the two shards.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkShardVersion, shardNames, SHARD_SCHEMA_VERSION } from "../../src/db/shards";
import { api, expectProblem, TEST_PLATFORM_TOKEN, unique, type TestAccount } from "../support/api";
import { callWithEnv } from "../support/faults";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { shardOf } from "../support/shards";

const [FIRST, SECOND] = shardNames(env) as [string, string];

async function accountOn(shard?: string): Promise<TestAccount & { shard: string }> {
  const res = await api("POST", "/v1/accounts", {
    token: TEST_PLATFORM_TOKEN,
    body: { name: unique("tenant"), administrator: { name: "Admin", email: `${unique("a")}@example.com` }, ...(shard ? { shard } : {}) },
  });
  expect(res.status, res.text).toBe(201);
  return { accountId: res.body.account.id, adminId: res.body.user.id, adminToken: res.body.token.token, shard: res.body.account.shard };
}

/** A D1 binding that counts the statements and batches it is sent. */
function counting(db: D1Database) {
  const seen = { calls: 0 };
  const wrapped = {
    prepare: (sql: string) => {
      const statement = db.prepare(sql);
      const wrap = (inner: D1PreparedStatement): D1PreparedStatement =>
        new Proxy(inner, {
          get(target, key) {
            if (key === "bind") return (...values: unknown[]) => wrap(target.bind(...values));
            if (key === "first" || key === "all" || key === "run" || key === "raw") {
              return (...args: unknown[]) => {
                seen.calls += 1;
                return (target[key] as (...a: unknown[]) => unknown).apply(target, args);
              };
            }
            const value = Reflect.get(target, key);
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
      const wrappedStatement = wrap(statement);
      unwrap.set(wrappedStatement, statement);
      return wrappedStatement;
    },
    batch: (statements: D1PreparedStatement[]) => {
      seen.calls += 1;
      return db.batch(statements.map((statement) => unwrap.get(statement) ?? statement));
    },
    exec: (query: string) => db.exec(query),
    dump: () => db.dump(),
    withSession: () => db.withSession(),
  };
  const unwrap = new WeakMap<object, D1PreparedStatement>();
  return { db: wrapped as unknown as D1Database, seen };
}

describe("the shard boundary", () => {
  it("places accounts on the least-filled shard unless the operator names one; only the operator sees where", async () => {
    const shards = await api("GET", "/v1/shards", { token: TEST_PLATFORM_TOKEN });
    expect(shards.status, shards.text).toBe(200);
    expect(shards.body.data.map((shard: { name: string }) => shard.name)).toEqual(shardNames(env));
    for (const shard of shards.body.data) expect(shard).toMatchObject({ accounts: expect.any(Number), size_bytes: expect.any(Number), migration: SHARD_SCHEMA_VERSION });
    const counts = Object.fromEntries(shards.body.data.map((shard: { name: string; accounts: number }) => [shard.name, shard.accounts]));
    const emptiest = shardNames(env).reduce((best, name) => (counts[name] < counts[best] ? name : best));
    const placed = await accountOn();
    expect(placed.shard).toBe(emptiest);
    expect(await shardOf(placed.accountId)).toBe(emptiest);
    const named = await accountOn(SECOND);
    expect(named.shard).toBe(SECOND);
    expect((await api("GET", `/v1/accounts/${named.accountId}`, { token: TEST_PLATFORM_TOKEN })).body).toMatchObject({ shard: SECOND, moving: null });
    expect((await api("GET", `/v1/accounts/${named.accountId}`, { token: named.adminToken })).body.shard).toBeUndefined();
    expectProblem(await api("GET", "/v1/shards", { token: named.adminToken }), 403, "forbidden");
    expectProblem(
      await api("POST", "/v1/accounts", { token: TEST_PLATFORM_TOKEN, body: { name: "x", administrator: { name: "A", email: "x@example.com" }, shard: "SHARD_NOPE" } }),
      422,
      "shard_not_found",
    );
  });

  for (const [label, second] of [["on different shards", SECOND], ["on the same shard", FIRST]] as const) {
    it(`keeps accounts ${label} apart: tokens, inbox identifiers, conversations, data_urls and tickets of the other are not found`, async () => {
      const a = await accountOn(FIRST);
      const b = await accountOn(second);
      const inboxA = await createTestInbox(a);
      const inboxB = await createTestInbox(b);
      const tokenB = await createInboxToken(b, inboxB);
      const sentB = await sendMessage(tokenB, inboxB, { contact: { source_id: "boundary" }, content: "b's" });
      // A's administrator on B's account, inbox and conversation; A's inbox on B's token.
      expectProblem(await api("GET", `/v1/accounts/${b.accountId}/conversations`, { token: a.adminToken }), 404, "account_not_found");
      expectProblem(await api("GET", `/v1/accounts/${a.accountId}/conversations/${sentB.conversation.id}`, { token: a.adminToken }), 404, "conversation_not_found");
      const crossInbox = await api("GET", `/v1/inboxes/${inboxB.identifier}/contacts/boundary/conversations`, { token: a.adminToken });
      expect(crossInbox.status, crossInbox.text).toBe(404);
      const wrongInbox = await api("GET", `/v1/inboxes/${inboxA.identifier}/contacts/boundary/conversations`, { token: tokenB });
      expect([403, 404], wrongInbox.text).toContain(wrongInbox.status);
      // B's realtime stream with a ticket of A's account.
      const ticket = await api("POST", `/v1/accounts/${a.accountId}/realtime/tickets`, { token: a.adminToken });
      if (ticket.status === 201) {
        const stream = await api("GET", `/v1/accounts/${b.accountId}/realtime?ticket=${ticket.body.ticket}`, { headers: { upgrade: "websocket" } });
        expect(stream.status).toBe(401);
      }
    });
  }

  it("answers a request from one shard: the other is never asked", async () => {
    const account = await accountOn(SECOND);
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    const first = counting(env[FIRST as "SHARD_1"]);
    const second = counting(env[SECOND as "SHARD_2"]);
    const bindings = { [FIRST]: first.db, [SECOND]: second.db } as Partial<Env>;
    const posted = await callWithEnv(bindings, "POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body: { contact: { source_id: "one-shard" }, content: "hello" } });
    expect(posted.status, posted.text).toBe(201);
    const listed = await callWithEnv(bindings, "GET", `/v1/accounts/${account.accountId}/conversations`, { token: account.adminToken });
    expect(listed.status, listed.text).toBe(200);
    expect(second.seen.calls).toBeGreaterThan(0);
    expect(first.seen.calls).toBe(0);
  });

  it("a shard that lacks a migration refuses to serve", async () => {
    const behind = {
      prepare: (sql: string) =>
        /d1_migrations/.test(sql) ? { first: async () => ({ name: "0001_foundation.sql" }), bind: () => behind.prepare(sql) } : env.SHARD_1.prepare(sql),
    } as unknown as D1Database;
    await expect(checkShardVersion({ ...env, DB: behind, SHARD: "SHARD_BEHIND" })).rejects.toMatchObject({ code: "shard_behind", status: 503 });
    const res = await callWithEnv({ SHARD_BEHIND: behind } as Partial<Env>, "POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      body: { name: "late", administrator: { name: "A", email: `${unique("b")}@example.com` }, shard: "SHARD_BEHIND" },
    });
    expectProblem(res, 503, "shard_behind");
  });
});
