// Shared round trips (src/db/shared-batches.ts) against the real local D1: concurrent batches of one
// invocation go as one, each caller gets its own results, one caller's refusal stays its own, and nothing
// waits for work that will not send a batch.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { sharedBatches } from "../../src/db/shared-batches";

const TABLE = "shared_batch_probe";

beforeAll(async () => {
  await env.SHARD_1.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
});

/**
 * The shard database, counting round trips. `failNext`: the next batch fails before it reaches the database,
 * as an unreachable D1 does; `loseAnswerNext`: it commits and then its answer is lost; `shortAnswerNext`: its
 * answer lacks a result; `holdNext`: it waits until the returned function is called.
 */
function counted() {
  const stats = { batches: 0, statements: [] as number[], failNext: false, loseAnswerNext: false, shortAnswerNext: false, held: undefined as Promise<void> | undefined };
  const db = {
    prepare: (query: string) => env.SHARD_1.prepare(query),
    batch: async (statements: D1PreparedStatement[]) => {
      stats.batches += 1;
      stats.statements.push(statements.length);
      if (stats.failNext) {
        stats.failNext = false;
        throw new Error("D1_ERROR: Network connection lost.");
      }
      const held = stats.held;
      stats.held = undefined;
      await held;
      const results = await env.SHARD_1.batch(statements);
      if (stats.loseAnswerNext) {
        stats.loseAnswerNext = false;
        throw new Error("D1_ERROR: Network connection lost.");
      }
      if (stats.shortAnswerNext) {
        stats.shortAnswerNext = false;
        return results.slice(1);
      }
      return results;
    },
  } as unknown as D1Database;
  const holdNext = () => {
    let release!: () => void;
    stats.held = new Promise<void>((resolve) => (release = resolve));
    return release;
  };
  return { db, stats, holdNext };
}

let serial = 0;
const key = (name: string) => `${name}-${++serial}-${crypto.randomUUID()}`;

/** An insert that answers its row, then a read of it: what a caller's own batch looks like. */
function insertAndRead(db: D1Database, id: string, n: number) {
  return [
    db.prepare(`INSERT INTO ${TABLE} (id, n) VALUES (?, ?) RETURNING id, n`).bind(id, n),
    db.prepare(`SELECT count(*) AS rows FROM ${TABLE} WHERE id = ?`).bind(id),
  ];
}

async function stored(ids: string[]) {
  const { results } = await env.SHARD_1.prepare(`SELECT id FROM ${TABLE} WHERE id IN (${ids.map(() => "?").join(", ")})`)
    .bind(...ids)
    .all<{ id: string }>();
  return results.map((row) => row.id).sort();
}

describe("shared batches", () => {
  it("sends the batches of concurrent work as one round trip, each caller getting its own results", async () => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    const ids = [key("a"), key("b"), key("c")];
    const answers = await Promise.all(ids.map((id, n) => shared.track(() => shared.db.batch(insertAndRead(shared.db, id, n)))));

    expect(stats.batches).toBe(1);
    expect(stats.statements).toEqual([6]);
    answers.forEach((results, n) => {
      expect(results).toHaveLength(2);
      expect(results[0]!.results).toEqual([{ id: ids[n], n }]);
      expect(results[1]!.results).toEqual([{ rows: 1 }]);
    });
  });

  it.each([
    {
      failure: "a constraint",
      // Its second insert breaks the primary key: D1 rolls back the whole shared transaction.
      batch: (db: D1Database, id: string) => [...insertAndRead(db, id, 2), ...insertAndRead(db, id, 3)],
      error: /UNIQUE constraint failed/,
      statements: 4,
    },
    {
      failure: "an error in a statement",
      batch: (db: D1Database, id: string) => [insertAndRead(db, id, 2)[0]!, db.prepare(`SELECT no_such_column FROM ${TABLE}`)],
      error: /no such column/,
      statements: 2,
    },
  ])("keeps one caller's failure its own ($failure): the others commit, nothing of the failed batch is written", async ({ batch, error, statements }) => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    const [first, failed, third] = [key("ok"), key("failed"), key("ok")];
    const outcomes = await Promise.allSettled([
      shared.track(() => shared.db.batch(insertAndRead(shared.db, first, 1))),
      shared.track(() => shared.db.batch(batch(shared.db, failed))),
      shared.track(() => shared.db.batch(insertAndRead(shared.db, third, 4))),
    ]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(error);
    expect(await stored([first, failed, third])).toEqual([first, third].sort());
    // The shared one, then each batch alone.
    expect(stats.statements).toEqual([4 + statements, 2, statements, 2]);
  });

  it("gives every caller a failure that leaves the outcome unknown, and sends none of them again", async () => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    stats.failNext = true;
    const ids = [key("lost"), key("lost")];
    const outcomes = await Promise.allSettled(ids.map((id, n) => shared.track(() => shared.db.batch(insertAndRead(shared.db, id, n)))));

    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
    for (const outcome of outcomes) expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/Network connection lost/);
    expect(stats.batches).toBe(1);
    expect(await stored(ids)).toEqual([]);
  });

  it("gives every caller an answer lost after the commit: all of it was written, and nothing is sent again", async () => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    stats.loseAnswerNext = true;
    const ids = [key("answer"), key("answer"), key("answer")];
    const outcomes = await Promise.allSettled(ids.map((id, n) => shared.track(() => shared.db.batch(insertAndRead(shared.db, id, n)))));

    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(stats.batches).toBe(1);
    expect(await stored(ids)).toEqual([...ids].sort());
  });

  it("gives every caller an answer that does not match the batch, rather than someone else's results", async () => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    stats.shortAnswerNext = true;
    const outcomes = await Promise.allSettled([key("short"), key("short")].map((id, n) => shared.track(() => shared.db.batch(insertAndRead(shared.db, id, n)))));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/3 results for a batch of 4 statements/);
  });

  it("sends a batch beside one still on its way: a shared batch never waits for another", async () => {
    const { db, stats, holdNext } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    const release = holdNext();
    const first = shared.track(() => shared.db.batch(insertAndRead(shared.db, key("first"), 1)));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stats.batches).toBe(1); // alone, so sent at once; held on its way
    const later = shared.track(() => shared.db.batch(insertAndRead(shared.db, key("second"), 2)));
    await later;
    // The second was answered while the first is still held on its way.
    expect(stats.batches).toBe(2);
    release();
    const [results] = await Promise.all([first, later]);
    expect(results[0]!.results).toHaveLength(1);
  });

  it("never waits for work that is not sending: a lone batch goes at once, and so does one whose partner finished", async () => {
    const { db, stats } = counted();
    // A window this long would time the test out if either batch waited for it.
    const shared = sharedBatches(db, { windowMs: 60_000 });
    await shared.track(() => shared.db.batch(insertAndRead(shared.db, key("lone"), 1)));

    let finish!: () => void;
    const partner = shared.track(() => new Promise<void>((resolve) => (finish = resolve)));
    const waiting = shared.track(() => shared.db.batch(insertAndRead(shared.db, key("waits"), 2)));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stats.batches).toBe(1); // still waiting for its partner
    finish();
    await Promise.all([partner, waiting]);
    expect(stats.batches).toBe(2);
  });

  it("waits for busy partners only as long as the window", async () => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 50 });
    let finish!: () => void;
    const busy = shared.track(() => new Promise<void>((resolve) => (finish = resolve)));
    const waiting = shared.track(() => shared.db.batch(insertAndRead(shared.db, key("window"), 1)));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stats.batches).toBe(0); // inside the window: waiting for its busy partner
    const results = await waiting; // the window ends; the partner is still busy
    expect(results[0]!.results).toHaveLength(1);
    expect(stats.batches).toBe(1);
    finish();
    await busy;
  });

  it("stops waiting for a partner that failed", async () => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    let fail!: (error: Error) => void;
    const failing = shared.track(() => new Promise<void>((_resolve, reject) => (fail = reject)));
    const waiting = shared.track(() => shared.db.batch(insertAndRead(shared.db, key("partner-failed"), 1)));
    fail(new Error("the partner's own failure"));
    await expect(failing).rejects.toThrow("the partner's own failure");
    expect((await waiting)[0]!.results).toHaveLength(1);
    expect(stats.batches).toBe(1);
  });

  it("puts at most 100 statements in one round trip, never splitting a caller's batch", async () => {
    const { db, stats } = counted();
    const shared = sharedBatches(db, { windowMs: 60_000 });
    const read = () => shared.db.prepare(`SELECT 1 AS one`);
    const sizes = [60, 30, 30, 120];
    const answers = await Promise.all(sizes.map((size) => shared.track(() => shared.db.batch(Array.from({ length: size }, read)))));

    expect(answers.map((results) => results.length)).toEqual(sizes);
    expect(stats.statements).toEqual([90, 30, 120]);
  });
});
