// The shard databases as tests see them. The Worker routes every account to one shard (docs/scaling.md);
// tests create accounts through the API, so the placement policy spreads them over the shards, as in
// production. Tests that inspect rows either ask the account's shard (`shardDb`) or, when they only know a
// row's id, `allShards`: the same query on every shard, the answers put together.
import { env } from "cloudflare:workers";
import { shardEnv, shardNames } from "../../src/db/shards";
import type { Bindings } from "../../src/env";

/** The shard binding (SHARD_…) that holds an account's rows, from the control database's directory. */
export async function shardOf(accountId: string): Promise<string> {
  const row = await env.CONTROL.prepare("SELECT shard FROM accounts WHERE id = ?").bind(accountId).first<{ shard: string }>();
  if (!row) throw new Error(`account ${accountId} is not in the directory`);
  return row.shard;
}

/** The D1 database of an account's shard. */
export async function shardDb(accountId: string): Promise<D1Database> {
  return shardEnv(env, await shardOf(accountId)).DB;
}

/** The bindings the Worker uses for an account's work (DB = its shard). */
export async function shardBindings(accountId: string): Promise<Bindings> {
  return shardEnv(env, await shardOf(accountId));
}

export function everyShard(): D1Database[] {
  return shardNames(env).map((name) => shardEnv(env, name).DB);
}

type Row = Record<string, unknown>;

const AGGREGATE = /^\s*select\s+(?:count|sum|total|max|min)\s*\(|^\s*select\s+\(\s*select\s+count/i;

/**
 * One row from each shard's answer: a row exists in one shard only (ids are global), except for an
 * aggregate without GROUP BY, which every shard answers — counts and sums add up, max/min take the extreme.
 */
function merge(sql: string, rows: Row[]): Row | null {
  if (rows.length <= 1) return rows[0] ?? null;
  if (!AGGREGATE.test(sql) && !/^\s*select\s+\(/i.test(sql)) return rows[0]!;
  const useMax = /^\s*select\s+max\s*\(/i.test(sql);
  const useMin = /^\s*select\s+min\s*\(/i.test(sql);
  const merged: Row = {};
  for (const key of Object.keys(rows[0]!)) {
    const values = rows.map((row) => row[key]).filter((value) => value !== null && value !== undefined);
    if (values.length === 0) merged[key] = null;
    else if (values.every((value) => typeof value === "number")) {
      const numbers = values as number[];
      merged[key] = useMax ? Math.max(...numbers) : useMin ? Math.min(...numbers) : numbers.reduce((a, b) => a + b, 0);
    } else merged[key] = values[0];
  }
  return merged;
}

class FanOutStatement {
  constructor(
    readonly sql: string,
    readonly params: unknown[] = [],
  ) {}
  bind(...params: unknown[]) {
    return new FanOutStatement(this.sql, params);
  }
  private each() {
    return everyShard().map((db) => db.prepare(this.sql).bind(...this.params));
  }
  async first<T = Row>(column?: string): Promise<T | null> {
    const rows = (await Promise.all(this.each().map((statement) => statement.first<Row>()))).filter((row): row is Row => row !== null);
    const row = merge(this.sql, rows);
    if (row === null) return null;
    return (column === undefined ? row : row[column]) as T;
  }
  async all<T = Row>(): Promise<{ results: T[]; success: true }> {
    const answers = await Promise.all(this.each().map((statement) => statement.all<Row>()));
    const perShard = answers.map((answer) => answer.results);
    if (!/\bgroup\s+by\b/i.test(this.sql) && AGGREGATE.test(this.sql) && perShard.every((rows) => rows.length === 1)) {
      return { results: [merge(this.sql, perShard.map((rows) => rows[0]!)) as T], success: true };
    }
    return { results: perShard.flat() as T[], success: true };
  }
  async run() {
    const answers = await Promise.all(this.each().map((statement) => statement.run()));
    return { success: true, meta: { changes: answers.reduce((sum, answer) => sum + (answer.meta.changes ?? 0), 0) } };
  }
}

/**
 * Every shard at once, for inspecting or adjusting rows by id: `first` and `all` put the shards' answers
 * together, `run` and `batch` run on each (an UPDATE or DELETE by id changes the one shard that has the
 * row). Never INSERT through it: write an account's rows into `shardDb(accountId)`.
 */
export const allShards = {
  prepare: (sql: string) => new FanOutStatement(sql),
  async batch(statements: FanOutStatement[]) {
    await Promise.all(everyShard().map((db) => db.batch(statements.map((statement) => db.prepare(statement.sql).bind(...statement.params)))));
  },
};
