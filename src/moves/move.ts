// Moving an account to another shard in bounded, idempotent steps (docs/scaling.md), driven by the account's
// MoveObject alarm. The phases are the control database's accounts.move_state:
//   copying   — the account works as usual on its shard; its rows are copied page by page (upserts), and
//               the source's triggers log every change made meanwhile (move_changes);
//   switching — the source refuses the account's writes (its shard row 'frozen': requests get 503
//               account_moving, background writers fail and retry); once no webhook lease is left, the
//               logged changes are applied to the target, and the directory is switched;
//   cleaning  — the account works on its new shard; the source's rows are deleted page by page.
// Every step's effect is idempotent and its cursor is saved after it: a crash repeats a step, never skips one.
import { eq } from "drizzle-orm";
import { accounts as controlAccounts, type MoveState } from "../db/control/schema";
import { controlDatabase, forgetShard, shardEnv } from "../db/shards";
import type { WorkerEnv } from "../env";
import { sweep } from "../delivery/sweeper";
import { MOVED_TABLES, type MovedTable } from "./tables";

/** Rows per table per step: one step is one read and one write batch. */
export const MOVE_STEP_ROWS = 200;
/** How long the switch waits between looks at webhook leases still held on the source. */
const LEASE_WAIT_MS = 1_000;

type Row = Record<string, unknown>;
type Cursor = { table: number; after: string };

const quote = (name: string) => `"${name}"`;

/** INSERT … ON CONFLICT DO UPDATE of one row, so copying a row twice leaves one row as the source had it. */
function upsert(db: D1Database, table: MovedTable, row: Row): D1PreparedStatement {
  const columns = Object.keys(row).filter((column) => column !== "_rowid" && !(table.skip ?? []).includes(column));
  const updates = columns.filter((column) => !table.key.includes(column));
  const set = updates.length > 0 ? `DO UPDATE SET ${updates.map((column) => `${quote(column)} = excluded.${quote(column)}`).join(", ")}` : "DO NOTHING";
  return db
    .prepare(
      `INSERT INTO ${table.name} (${columns.map(quote).join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ON CONFLICT (${table.key.map(quote).join(", ")}) ${set}`,
    )
    .bind(...columns.map((column) => row[column] ?? null));
}

const isForeignKeyFailure = (error: unknown) => /FOREIGN KEY constraint failed/i.test(String(error instanceof Error ? `${error.message} ${String(error.cause ?? "")}` : error));

/**
 * Writes the statements as one batch; when a row's parent is not on the target yet (it was created after its
 * table was copied), writes them one by one and returns the indexes of those that could not be written.
 * Such a row changed after the copy began, so the change log brings it again, after its parent.
 */
async function writeAll(target: D1Database, statements: D1PreparedStatement[]): Promise<number[]> {
  if (statements.length === 0) return [];
  try {
    await target.batch(statements);
    return [];
  } catch (error) {
    if (!isForeignKeyFailure(error)) throw error;
  }
  const failed: number[] = [];
  for (const [i, statement] of statements.entries()) {
    try {
      await statement.run();
    } catch (error) {
      if (!isForeignKeyFailure(error)) throw error;
      failed.push(i);
    }
  }
  return failed;
}

const byKey = (table: MovedTable) => table.key.map((column) => `${quote(column)} = ?`).join(" AND ");

async function saveProgress(env: WorkerEnv, accountId: string, set: Partial<typeof controlAccounts.$inferInsert>): Promise<void> {
  await controlDatabase(env).update(controlAccounts).set({ ...set, updatedAt: Date.now() }).where(eq(controlAccounts.id, accountId));
}

/**
 * Starts a move: the target gets the account's shard row, the source starts logging its changes, the
 * control database records the phase. Safe to repeat while the move has not started copying.
 */
export async function beginMove(env: WorkerEnv, account: { id: string; shard: string; createdAt: number }, to: string): Promise<void> {
  const source = shardEnv(env, account.shard).DB;
  const target = shardEnv(env, to).DB;
  await target
    .prepare("INSERT INTO accounts (id, created_at, state) VALUES (?, ?, 'active') ON CONFLICT (id) DO UPDATE SET state = 'active'")
    .bind(account.id, account.createdAt)
    .run();
  // Logging starts before the first row is read: whatever changes after it is in the log.
  await source.prepare("UPDATE accounts SET state = 'copying' WHERE id = ?").bind(account.id).run();
  const now = Date.now();
  await saveProgress(env, account.id, { moveFrom: account.shard, moveTo: to, moveState: "copying", moveCursor: { table: 0, after: "0" }, moveStartedAt: now });
}

/** One step of the account's move; the delay before the next one in ms, or null when there is nothing to do. */
export async function moveStep(env: WorkerEnv, accountId: string, now = Date.now()): Promise<number | null> {
  const row = await controlDatabase(env).select().from(controlAccounts).where(eq(controlAccounts.id, accountId)).get();
  if (!row?.moveState || !row.moveTo || !row.moveFrom) return null;
  // The directory (`shard`) names the source until the switch, the target after it.
  const source = shardEnv(env, row.moveFrom).DB;
  const target = shardEnv(env, row.moveTo).DB;
  const cursor: Cursor = row.moveCursor ?? { table: 0, after: "0" };
  const phases: Record<MoveState, () => Promise<number | null>> = {
    copying: () => copyStep(env, accountId, source, target, cursor),
    switching: () => switchStep(env, accountId, row.moveFrom!, row.moveTo!, source, target, now, row.moveStartedAt ?? now),
    cleaning: () => cleanStep(env, accountId, source, cursor),
  };
  return phases[row.moveState]();
}

/**
 * The queue messages of the account's work still name the source (where its writes are now refused, until
 * its rows are gone and the messages are dropped). On the target the same work is handed over again: every
 * pending delivery, in line order, and every event of the move's time to the rules engine — both dedupe
 * (a delivery is leased once per attempt, a rule runs once per event), so a second hand-over costs nothing.
 */
async function handOverOnTarget(env: WorkerEnv, accountId: string, to: string, since: number): Promise<void> {
  const target = shardEnv(env, to);
  await target.DB.batch([
    target.DB.prepare("UPDATE webhook_deliveries SET enqueued_at = NULL, leased_until = NULL WHERE account_id = ? AND state = 'pending'").bind(accountId),
    target.DB.prepare("UPDATE events SET queued_at = NULL WHERE account_id = ? AND created_at >= ?").bind(accountId, since - 60_000),
  ]);
  await sweep(target, { graceMs: 0 });
}

async function copyStep(env: WorkerEnv, accountId: string, source: D1Database, target: D1Database, cursor: Cursor): Promise<number> {
  const table = MOVED_TABLES[cursor.table];
  if (!table) {
    // Everything copied once: the switch begins. From here the source refuses the account's writes.
    await source.prepare("UPDATE accounts SET state = 'frozen' WHERE id = ?").bind(accountId).run();
    await saveProgress(env, accountId, { moveState: "switching", moveCursor: { table: 0, after: "0" } });
    return 0;
  }
  if (table.name === "events" && cursor.after === "0") await bumpEventPositions(source, target);
  const { results } = await source
    .prepare(`SELECT rowid AS _rowid, * FROM ${table.name} WHERE ${table.account("")} = ? AND rowid > ? ORDER BY rowid LIMIT ?`)
    .bind(accountId, Number(cursor.after), MOVE_STEP_ROWS)
    .all<Row>();
  await writeAll(target, results.map((row) => upsert(target, table, row)));
  const next: Cursor = results.length < MOVE_STEP_ROWS ? { table: cursor.table + 1, after: "0" } : { table: cursor.table, after: String(results.at(-1)!._rowid) };
  await saveProgress(env, accountId, { moveCursor: next });
  return 0;
}

/**
 * Events get new positions on the target (positions are per shard). They are made to start after every
 * position the source has handed out, so a feed cursor from the source is never ahead of them.
 */
async function bumpEventPositions(source: D1Database, target: D1Database): Promise<number> {
  const seq = (await source.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").first<{ seq: number }>())?.seq ?? 0;
  await target.batch([
    target.prepare("INSERT INTO sqlite_sequence (name, seq) SELECT 'events', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')"),
    target.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'").bind(seq),
  ]);
  return (await target.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").first<{ seq: number }>())!.seq;
}

async function switchStep(
  env: WorkerEnv,
  accountId: string,
  from: string,
  to: string,
  source: D1Database,
  target: D1Database,
  now: number,
  startedAt: number,
): Promise<number> {
  // A consumer holding a webhook lease on the source writes its outcome there: wait until none is held
  // (new leases are refused by the frozen row), so no attempt's outcome is lost and none is repeated.
  const held = await source
    .prepare("SELECT count(*) AS n FROM webhook_deliveries WHERE account_id = ? AND state = 'pending' AND leased_until >= ?")
    .bind(accountId, now)
    .first<{ n: number }>();
  if ((held?.n ?? 0) > 0) return LEASE_WAIT_MS;

  const { results: changes } = await source
    .prepare("SELECT seq, table_name, row_key FROM move_changes WHERE account_id = ? ORDER BY seq LIMIT ?")
    .bind(accountId, MOVE_STEP_ROWS)
    .all<{ seq: number; table_name: string; row_key: string }>();
  if (changes.length > 0) {
    // Each changed row once, in the order of its first change (a parent's insert comes before its children's).
    const seen = new Set<string>();
    const todo: Array<{ table: MovedTable; key: unknown[]; seq: number }> = [];
    for (const change of changes) {
      const table = MOVED_TABLES.find((candidate) => candidate.name === change.table_name);
      if (!table || seen.has(`${change.table_name}:${change.row_key}`)) continue;
      seen.add(`${change.table_name}:${change.row_key}`);
      todo.push({ table, key: JSON.parse(change.row_key) as unknown[], seq: change.seq });
    }
    const current = await source.batch(todo.map(({ table, key }) => source.prepare(`SELECT * FROM ${table.name} WHERE ${byKey(table)}`).bind(...key)));
    const writes = todo.map(({ table, key }, i) => {
      const row = (current[i]!.results as Row[])[0];
      return row ? upsert(target, table, row) : target.prepare(`DELETE FROM ${table.name} WHERE ${byKey(table)}`).bind(...key);
    });
    // A row whose parent comes later in the log keeps its entry, and is written again with the next step.
    const kept = (await writeAll(target, writes)).map((i) => todo[i]!.seq);
    await source
      .prepare(`DELETE FROM move_changes WHERE account_id = ? AND seq <= ?${kept.length > 0 ? ` AND seq NOT IN (${kept.map(() => "?").join(", ")})` : ""}`)
      .bind(accountId, changes.at(-1)!.seq, ...kept)
      .run();
    return 0;
  }

  // Every row is on the target as the source has it. Feed cursors handed out by the source end here: a
  // poller resuming from one gets 410 cursor_expired (docs/retention.md) and re-reads, instead of a gap.
  const through = await bumpEventPositions(source, target);
  await target.prepare("UPDATE inboxes SET events_pruned_through = max(coalesce(events_pruned_through, 0), ?) WHERE account_id = ?").bind(through, accountId).run();
  // The switch: the source says 'moved' (a request routed by a stale directory entry re-reads it), then the
  // directory names the target.
  await source.prepare("UPDATE accounts SET state = 'moved' WHERE id = ?").bind(accountId).run();
  await saveProgress(env, accountId, { shard: to, moveState: "cleaning", moveCursor: { table: MOVED_TABLES.length - 1, after: "0" } });
  forgetShard(accountId);
  await handOverOnTarget(env, accountId, to, startedAt);
  console.log(JSON.stringify({ level: "info", message: "account switched to its new shard", account_id: accountId, from, to }));
  return 0;
}

async function cleanStep(env: WorkerEnv, accountId: string, source: D1Database, cursor: Cursor): Promise<number | null> {
  const table = MOVED_TABLES[cursor.table];
  if (!table) {
    await source.batch([
      source.prepare("DELETE FROM move_changes WHERE account_id = ?").bind(accountId),
      source.prepare("DELETE FROM accounts WHERE id = ?").bind(accountId),
    ]);
    await saveProgress(env, accountId, { moveFrom: null, moveTo: null, moveState: null, moveCursor: null, moveStartedAt: null });
    return null;
  }
  const deleted = await source
    .prepare(`DELETE FROM ${table.name} WHERE rowid IN (SELECT rowid FROM ${table.name} WHERE ${table.account("")} = ? LIMIT ?)`)
    .bind(accountId, MOVE_STEP_ROWS)
    .run()
    .catch((error) => {
      throw new Error(`deleting the moved rows of ${table.name} failed: ${String(error)}`, { cause: error });
    });
  if ((deleted.meta.changes ?? 0) < MOVE_STEP_ROWS) await saveProgress(env, accountId, { moveCursor: { table: cursor.table - 1, after: "0" } });
  return 0;
}
