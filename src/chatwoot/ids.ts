// Numeric ids for the Chatwoot-compatible surface: Chatwoot's clients carry integers where we have opaque
// strings. An object is numbered the first time the surface shows it (per account and kind; accounts in
// one global sequence) and keeps its number for good. One D1 read when every object has its number; one
// batch more (insert what is missing, read back) when some are new. Race-free: D1 runs one statement at a
// time, each insert takes max+1 of its own (account, kind), and the unique index on (kind, ref_id) keeps a
// second number from ever being given to the same object.
import { and, eq, inArray, sql } from "drizzle-orm";
import { database, prepare } from "../db/client";
import { numericIds, type NumericKind } from "../db/schema";
import type { Bindings } from "../env";
import type { Numbers } from "./shapes";

/** The scope of account numbers: one sequence for the whole deployment. */
export const GLOBAL_SCOPE = "*";

/** Largest number a client can hold exactly in a JavaScript number (and Chatwoot's bigint ids in Ruby). */
const MAX_NUMBER = Number.MAX_SAFE_INTEGER;

/**
 * The numbers of these objects (of one account), assigning the missing ones. Our ids are unique across
 * kinds (prefixed), so one read finds every kind's numbers.
 */
export async function numberAll(env: Bindings, accountId: string, wanted: readonly (readonly [NumericKind, string])[]): Promise<Numbers> {
  const found = new Map<string, number>();
  const db = database(env);
  // D1 binds at most 100 parameters a statement: look up in chunks, all in one batch (one round trip).
  const reads = (ids: string[]) => {
    const statements: D1PreparedStatement[] = [];
    for (let i = 0; i < ids.length; i += 90) {
      statements.push(prepare(env, db.select({ kind: numericIds.kind, refId: numericIds.refId, number: numericIds.number }).from(numericIds).where(inArray(numericIds.refId, ids.slice(i, i + 90)))));
    }
    return statements;
  };
  const take = (results: D1Result[]) => {
    for (const result of results) {
      for (const row of result.results as { kind: string; ref_id: string; number: number }[]) found.set(`${row.kind} ${row.ref_id}`, row.number);
    }
  };
  const refs = [...new Set(wanted.map(([, id]) => id))];
  if (refs.length > 0) take(await env.DB.batch(reads(refs)));
  const missing = [...new Map(wanted.filter(([kind, id]) => !found.has(`${kind} ${id}`)).map((pair) => [`${pair[0]} ${pair[1]}`, pair])).values()];
  if (missing.length > 0) {
    const now = Date.now();
    const inserts = missing.map(([kind, refId]) => {
      const scope = kind === "account" ? GLOBAL_SCOPE : accountId;
      return prepare(
        env,
        sql`INSERT INTO numeric_ids (account_id, kind, number, ref_id, created_at)
          SELECT ${scope}, ${kind}, coalesce(max(number), 0) + 1, ${refId}, ${now}
          FROM numeric_ids WHERE account_id = ${scope} AND kind = ${kind}
          ON CONFLICT DO NOTHING`,
      );
    });
    // The inserts and the read of what they (or a concurrent request) wrote, in one round trip.
    const results = await env.DB.batch([...inserts, ...reads([...new Set(missing.map(([, id]) => id))])]);
    take(results.slice(inserts.length));
  }
  return (kind, id) => {
    const number = found.get(`${kind} ${id}`);
    if (number === undefined) throw new Error(`no ${kind} number for ${id}`);
    return number;
  };
}

/** The object behind a number in a URL or body, or null ("12abc", 0, another account's: all null). */
export async function refOf(env: Bindings, accountId: string, kind: NumericKind, raw: string | number | undefined | null): Promise<string | null> {
  const number = parseNumber(raw);
  if (number === null) return null;
  const row = await database(env)
    .select({ refId: numericIds.refId })
    .from(numericIds)
    .where(and(eq(numericIds.accountId, accountId), eq(numericIds.kind, kind), eq(numericIds.number, number)))
    .get();
  return row?.refId ?? null;
}

export function parseNumber(raw: string | number | undefined | null): number | null {
  if (raw === undefined || raw === null) return null;
  const text = String(raw);
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return null;
  const number = Number(text);
  return number <= MAX_NUMBER ? number : null;
}
