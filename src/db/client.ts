import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { Bindings } from "../env";
import * as schema from "./schema";

export type Database = DrizzleD1Database<typeof schema>;

const clients = new WeakMap<D1Database, Database>();

/** The drizzle client over the DB binding (one per binding object). */
export function database(env: Pick<Bindings, "DB">): Database {
  let client = clients.get(env.DB);
  if (!client) {
    client = drizzle(env.DB, { schema });
    clients.set(env.DB, client);
  }
  return client;
}

/** D1 reports unique-index violations with this text; find-or-create paths rely on it. */
export function isUniqueViolation(error: unknown, index?: string): boolean {
  const message = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : "";
  if (!/UNIQUE constraint failed/i.test(message)) return false;
  return index === undefined || message.includes(index);
}

import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { getTableColumns, getTableName, is, Param, Placeholder, sql as sqlTag, type DriverValueEncoder, type SQL, type Table } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { OutcomeUnknown } from "../errors/outcome";
import { faults } from "../faults";

const dialect = new SQLiteAsyncDialect();

type Compilable = SQL | { toSQL(): { sql: string; params: unknown[] } };

/** A D1 statement from a drizzle query or a `sql` template, so both can share one batch. */
export function prepare(env: Pick<Bindings, "DB">, query: Compilable): D1PreparedStatement {
  const { sql, params } = "toSQL" in query ? query.toSQL() : dialect.sqlToQuery(query);
  return env.DB.prepare(sql).bind(...params);
}

/**
 * Statements whose shape never changes (only their values do) are compiled once per isolate: the hot
 * paths (ingest, a delivery attempt) ran drizzle's query builder for every statement of every request,
 * ≈ 0.1 ms each. Keys are call-site constants, so the map holds one entry per such statement; the cap
 * only guards against a key built from data by mistake (beyond it, statements are compiled each time).
 */
const compiled = new Map<string, CompiledQuery>();
export const COMPILED_STATEMENTS_MAX = 256;

/** A compiled statement: its SQL, and its parameters in order, each a placeholder's name (and encoder) or a constant. */
type CompiledQuery = { sql: string; slots: Slot[] };
type Slot = { name: string; encoder?: DriverValueEncoder<unknown, unknown> } | { constant: unknown };

/**
 * What drizzle's fillPlaceholders decides for each parameter on every call (whose class it is: `is` walks
 * the prototype chain, ≈ a tenth of a message's batch in a profile), decided once.
 */
function compileQuery(query: { sql: string; params: unknown[] }): CompiledQuery {
  const slots = query.params.map((param): Slot => {
    if (is(param, Placeholder)) return { name: param.name };
    if (is(param, Param) && is(param.value, Placeholder)) return { name: param.value.name, encoder: param.encoder };
    return { constant: param };
  });
  return { sql: query.sql, slots };
}

/** The statement's values, as drizzle's fillPlaceholders fills them. */
function fill(slots: Slot[], values: Record<string, unknown>): unknown[] {
  const filled = new Array<unknown>(slots.length);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    if ("constant" in slot) {
      filled[i] = slot.constant;
      continue;
    }
    if (!(slot.name in values)) throw new Error(`No value for placeholder "${slot.name}" was provided`);
    filled[i] = slot.encoder ? slot.encoder.mapToDriverValue(values[slot.name]) : values[slot.name];
  }
  return filled;
}

/**
 * A D1 statement from a query compiled once under `key`: `build` makes it with `sql.placeholder(name)`
 * where the values go, and `values` fills them in.
 */
export function prepareCompiled(
  env: Pick<Bindings, "DB">,
  key: string,
  build: () => Compilable,
  values: Record<string, unknown> = {},
): D1PreparedStatement {
  let query = compiled.get(key);
  if (!query) {
    const built = build();
    query = compileQuery("toSQL" in built ? built.toSQL() : dialect.sqlToQuery(built));
    if (compiled.size < COMPILED_STATEMENTS_MAX) compiled.set(key, query);
  }
  return env.DB.prepare(query.sql).bind(...fill(query.slots, values));
}

/**
 * An INSERT of `rows` compiled once per shape (which columns each row sets): the same SQL and values
 * drizzle's builder makes (a column a row leaves out gets its default), without building it each time.
 */
export function prepareInsert(
  env: Pick<Bindings, "DB">,
  table: SQLiteTable,
  rows: Record<string, unknown>[],
  options: { onConflictDoNothing?: boolean } = {},
): D1PreparedStatement {
  const shapes = rows.map((row) => Object.keys(row).filter((column) => row[column] !== undefined));
  const values: Record<string, unknown> = {};
  rows.forEach((row, i) => {
    for (const column of shapes[i]!) values[`${i}:${column}`] = row[column];
  });
  return prepareCompiled(
    env,
    `insert:${getTableName(table)}:${shapes.map((shape) => shape.join(",")).join("|")}${options.onConflictDoNothing ? ":or-nothing" : ""}`,
    () => {
      const insert = database(env)
        .insert(table)
        .values(rows.map((_, i) => Object.fromEntries(shapes[i]!.map((column) => [column, sqlTag.placeholder(`${i}:${column}`)]))));
      return options.onConflictDoNothing ? insert.onConflictDoNothing() : insert;
    },
    values,
  );
}

/**
 * A condition compiled once under `key` (see prepareCompiled): `build` makes it with `sql.placeholder(name)`
 * where the values go, and `values` fills them in. Names are the caller's; the statements below prefix theirs.
 */
export type CompiledCondition = { key: string; build: () => SQL; values: Record<string, unknown> };

/**
 * An INSERT of one row written only if `condition` holds in the batch's own transaction (e.g. "the row this
 * one belongs to was written"): a change that depends on another's outcome commits with it, all or nothing.
 * `onConflictDoNothing`: a unique index that refuses the row leaves it out instead of failing the batch.
 * Compiled once per table, condition and option (every column is bound, a missing value as NULL).
 */
export function prepareInsertWhere(
  env: Pick<Bindings, "DB">,
  table: SQLiteTable,
  row: Record<string, unknown>,
  condition: CompiledCondition,
  options: { onConflictDoNothing?: boolean } = {},
): D1PreparedStatement {
  const columns = columnsOf(table);
  const values: Record<string, unknown> = { ...condition.values };
  for (const [key, column] of columns) {
    const raw = row[key];
    values[`row:${key}`] = raw === null || raw === undefined ? null : column.mapToDriverValue(raw);
  }
  const conflict = options.onConflictDoNothing === true;
  return prepareCompiled(
    env,
    `insert-where:${getTableName(table)}:${condition.key}:${conflict}`,
    () =>
      sqlTag`INSERT INTO ${sqlTag.identifier(getTableName(table))} (${sqlTag.join(columns.map(([, column]) => sqlTag.identifier(column.name)), sqlTag`, `)})
      SELECT ${sqlTag.join(columns.map(([key]) => sqlTag`${sqlTag.placeholder(`row:${key}`)}`), sqlTag`, `)} WHERE ${condition.build()}${conflict ? sqlTag` ON CONFLICT DO NOTHING` : sqlTag``}`,
    values,
  );
}

/** How many statements are compiled (tests of the cap). */
export function compiledStatements(): number {
  return compiled.size;
}

/** Runs statements as one batch (one round trip, one transaction) and returns each statement's rows. */
export async function runBatch(env: Pick<Bindings, "DB">, statements: D1PreparedStatement[]): Promise<Record<string, unknown>[][]> {
  const results = await env.DB.batch(statements);
  return results.map((result) => result.results as Record<string, unknown>[]);
}

/**
 * Awaits a write batch that drizzle sends (db.batch): a failure other than a constraint violation came
 * after the batch was sent, so whether it committed is unknown. Single drizzle writes need no wrapper:
 * their errors name the statement ("Failed query: insert …"), and the error handler reads that.
 */
export async function sentWrite<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    throw unknownUnlessRejected(error);
  }
}

/**
 * A definite refusal of a write: a constraint, the move fence (src/db/moves.sql) or a commit's guard
 * (src/db/commit-guards.sql). The batch was rolled back; nothing was written.
 */
function isDefiniteRefusal(error: unknown): boolean {
  return /constraint failed|account_moving|commit_guard_failed/i.test(errorText(error));
}

/**
 * The batch failed because of one of its own statements — a refusal above, or an error SQLite reports for a
 * statement (D1 ends such a message with the result code): rolled back, nothing written, and the same
 * statements would fail again. Not a failure of the database itself (busy, full, I/O) or of the way to it.
 */
export function isStatementFailure(error: unknown): boolean {
  return isDefiniteRefusal(error) || /: SQLITE_(ERROR|CONSTRAINT|TOOBIG|MISMATCH|RANGE|AUTH)\b/.test(errorText(error));
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : String(error);
}

function unknownUnlessRejected(error: unknown): unknown {
  if (isDefiniteRefusal(error)) return error;
  return new OutcomeUnknown("a D1 write failed after it was sent; it may have committed", { cause: error });
}

/**
 * Runs statements as one transaction: all commit or none do. A constraint violation is a definite "none";
 * any other failure comes after the batch was sent, so whether it committed is unknown (OutcomeUnknown).
 */
export async function commitBatch(env: Pick<Bindings, "DB">, statements: D1PreparedStatement[]): Promise<D1Result[]> {
  faults.check("d1.batch");
  let results: D1Result[];
  try {
    results = await env.DB.batch(statements);
  } catch (error) {
    throw unknownUnlessRejected(error);
  }
  // Tests: the batch committed and only its answer was lost.
  if (faults.take("d1.batch.answer_lost")) {
    throw new OutcomeUnknown("a D1 batch failed after it was sent; it may have committed", { cause: new Error("D1_ERROR: Network connection lost.") });
  }
  return results;
}

/** Each table's columns as [property, column] pairs, listed once per table (tables are module constants). */
const columnLists = new WeakMap<Table, [string, ReturnType<typeof getTableColumns>[string]][]>();

function columnsOf(table: Table): [string, ReturnType<typeof getTableColumns>[string]][] {
  let columns = columnLists.get(table);
  if (!columns) {
    columns = Object.entries(getTableColumns(table));
    columnLists.set(table, columns);
  }
  return columns;
}

/** A row as a raw D1 statement returns it (column names, driver values) in drizzle's shape for `table`. */
export function mapRow<T>(table: Table, row: Record<string, unknown>): T {
  const columns = columnsOf(table);
  const mapped: Record<string, unknown> = {};
  for (const [key, column] of columns) {
    const value = row[column.name];
    mapped[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return mapped as T;
}
