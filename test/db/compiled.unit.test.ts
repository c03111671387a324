// The compiled-statement cache (src/db/client.ts prepareCompiled): filled past its cap it stops growing,
// and a statement beyond the cap still gets its own SQL and values.
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { compiledStatements, COMPILED_STATEMENTS_MAX, prepareCompiled } from "../../src/db/client";

/** A stand-in for the D1 binding that records what it was asked to prepare and bind. */
function fakeDb() {
  const prepared: { sql: string; values: unknown[] }[] = [];
  const DB = {
    prepare(text: string) {
      return {
        bind(...values: unknown[]) {
          prepared.push({ sql: text, values });
          return {} as D1PreparedStatement;
        },
      };
    },
  } as unknown as D1Database;
  return { env: { DB }, prepared };
}

describe("prepareCompiled", () => {
  it("compiles once per key and fills the placeholders each time", () => {
    const { env, prepared } = fakeDb();
    let builds = 0;
    const build = () => {
      builds++;
      return sql`SELECT ${sql.placeholder("a")} AS a, ${"fixed"} AS b, ${sql.placeholder("c")} AS c`;
    };
    prepareCompiled(env, "test.once", build, { a: 1, c: "x" });
    prepareCompiled(env, "test.once", build, { a: 2, c: "y" });
    expect(builds).toBe(1);
    expect(prepared).toEqual([
      { sql: "SELECT ? AS a, ? AS b, ? AS c", values: [1, "fixed", "x"] },
      { sql: "SELECT ? AS a, ? AS b, ? AS c", values: [2, "fixed", "y"] },
    ]);
  });

  it("stops caching at its cap", () => {
    const { env, prepared } = fakeDb();
    for (let i = 0; i < COMPILED_STATEMENTS_MAX + 50; i++) {
      prepareCompiled(env, `test.fill.${i}`, () => sql`SELECT ${sql.raw(String(i))} + ${sql.placeholder("v")}`, { v: i });
    }
    expect(compiledStatements()).toBe(COMPILED_STATEMENTS_MAX);
    const last = COMPILED_STATEMENTS_MAX + 49;
    expect(prepared.at(-1)).toEqual({ sql: `SELECT ${last} + ?`, values: [last] });
  });
});
