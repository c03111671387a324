import { and, eq, gt, lt, or, type Column, type SQL } from "drizzle-orm";
import { ApiError } from "../errors/problem";
import { base64url, fromBase64url } from "./base64";

/** Cursors are opaque to clients: a base64url JSON of the last row's sort key. */
export function encodeCursor(key: Record<string, string | number>): string {
  return base64url(new TextEncoder().encode(JSON.stringify(key)));
}

export function decodeCursor<K extends Record<string, "string" | "number">>(
  cursor: string | undefined,
  shape: K,
): { [P in keyof K]: K[P] extends "string" ? string : number } | undefined {
  if (cursor === undefined) return undefined;
  // Built only when thrown: an error captures its stack, which every valid cursor paid for.
  const invalid = () => new ApiError("invalid_cursor", "The cursor is not one this API returned; pass next_cursor unchanged.");
  let decoded: unknown;
  try {
    decoded = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64url(cursor)));
  } catch {
    throw invalid();
  }
  if (typeof decoded !== "object" || decoded === null) throw invalid();
  for (const [field, type] of Object.entries(shape)) {
    const value = (decoded as Record<string, unknown>)[field];
    if (typeof value !== type) throw invalid();
    if (type === "number" && (!Number.isSafeInteger(value) || (value as number) < 0)) throw invalid();
  }
  return decoded as never;
}

/** Takes limit+1 rows, returns the page and the cursor to the next one (null on the last page). */
export function page<T>(rows: T[], limit: number, cursorOf: (row: T) => Record<string, string | number>) {
  const hasMore = rows.length > limit;
  const data = hasMore ? rows.slice(0, limit) : rows;
  const last = data[data.length - 1];
  return { data, next_cursor: hasMore && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}

/** Keyset condition for the next page: rows beyond (time, id) in the listing's order; undefined on page one. */
export function beyondKey(time: Column, id: Column, after: { time: number; id: string } | undefined, order: "asc" | "desc"): SQL | undefined {
  if (!after) return undefined;
  const beyond = order === "desc" ? lt : gt;
  return or(beyond(time, after.time), and(eq(time, after.time), beyond(id, after.id)));
}
