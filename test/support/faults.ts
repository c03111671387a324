// Fault injection for tests: the app called with bindings that fail the way Cloudflare's do.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { buildApp } from "../../src/app";
import { shardNames } from "../../src/db/shards";
import type { ApiResponse } from "./api";

type FailingD1 = D1Database & { over(base: D1Database): D1Database };

/**
 * A D1 binding whose statements fail the way D1 does when the database is unreachable. Given to
 * callWithEnv as `DB`, it stands in for every shard database (where an account's rows are), each
 * statement it lets through going to the shard it replaces; the control database keeps working.
 */
export function failingD1(failWhen: (sql: string) => boolean = () => true, base: D1Database = env.SHARD_1): FailingD1 {
  const fail = async () => {
    throw new Error("D1_ERROR: Network connection lost.");
  };
  return {
    over: (other: D1Database) => failingD1(failWhen, other),
    prepare(sql: string) {
      const real = base.prepare(sql);
      if (!failWhen(sql)) return real;
      const failing = { bind: () => failing, run: fail, all: fail, raw: fail, first: fail };
      return failing as unknown as D1PreparedStatement;
    },
    batch: fail,
    exec: fail,
    dump: fail,
    withSession: () => {
      throw new Error("not used");
    },
  } as unknown as FailingD1;
}

/** Calls the app with some bindings replaced (the Worker's own fetch always uses the real ones). */
export async function callWithEnv(
  replaced: Partial<Env> & { DB?: D1Database },
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const ctx = createExecutionContext();
  const response = await buildApp().fetch(
    new Request(`http://edge-inbox.test${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    }),
    withDatabases({ ...env, ...replaced }),
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
}

/** A `DB` replacement stands in for every shard database (see failingD1). */
function withDatabases(bindings: Env & { DB?: D1Database }): Env {
  const { DB, ...rest } = bindings;
  if (!DB) return rest;
  const replace = (base: D1Database) => ("over" in DB ? (DB as FailingD1).over(base) : DB);
  const databases = Object.fromEntries(shardNames(env).map((name) => [name, replace((env as unknown as Record<string, D1Database>)[name]!)]));
  return { ...rest, ...databases } as Env;
}

/**
 * A D1 binding with production-like timing: every round trip (a statement or a batch) takes `minMs`–
 * `maxMs`, half before it reaches the database and half after it committed, so concurrent consumers
 * interleave as they do against a remote D1. While `down()` is true a round trip fails the way an
 * unreachable D1 does (before reaching the database). `calls` counts round trips, `statements` the statements they carried.
 */
export function latentD1(base: D1Database, options: { minMs: number; maxMs: number; down?: () => boolean }) {
  const stats = { calls: 0, failed: 0, statements: 0 };
  const half = () => new Promise((resolve) => setTimeout(resolve, (options.minMs + Math.random() * (options.maxMs - options.minMs)) / 2));
  const roundTrip = async <T>(statements: number, run: () => Promise<T>): Promise<T> => {
    stats.calls += 1;
    stats.statements += statements;
    await half();
    if (options.down?.()) {
      stats.failed += 1;
      throw new Error("D1_ERROR: Network connection lost.");
    }
    const result = await run();
    await half();
    return result;
  };
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values)),
      first: (column?: string) => roundTrip(1, () => (column === undefined ? statement.first() : statement.first(column))),
      run: () => roundTrip(1, () => statement.run()),
      all: () => roundTrip(1, () => statement.all()),
      raw: (rawOptions?: { columnNames?: boolean }) => roundTrip(1, () => statement.raw(rawOptions as { columnNames: true })),
    };
    real.set(proxy, statement);
    return proxy as unknown as D1PreparedStatement;
  };
  const db = {
    prepare: (sql: string) => wrap(base.prepare(sql)),
    batch: (statements: D1PreparedStatement[]) => roundTrip(statements.length, () => base.batch(statements.map((statement) => real.get(statement) ?? statement))),
    exec: (query: string) => roundTrip(1, () => base.exec(query)),
    dump: () => base.dump(),
    withSession: () => {
      throw new Error("not used");
    },
  } as unknown as D1Database;
  return { db, stats };
}
