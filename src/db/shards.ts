// Which database holds what (docs/scaling.md): CONTROL holds the accounts and the directory (account → shard);
// every D1 binding named SHARD_… is a shard holding everything its accounts own. Work for one account (a
// request, a queue message, a Durable Object call) runs against `shardEnv(env, shard)`, whose DB is that
// shard: domain code calls database(env) as ever and never chooses a database itself.
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { eq } from "drizzle-orm";
import type { Bindings, WorkerEnv } from "../env";
import { CappedMap } from "../core/capped-map";
import { ApiError } from "../errors/problem";
import * as control from "./control/schema";
import shardJournal from "../../migrations/shard/meta/_journal.json";

export type ControlDatabase = DrizzleD1Database<typeof control>;

const SHARD_BINDING = /^SHARD_[A-Z0-9_]+$/;

function isD1(value: unknown): value is D1Database {
  return typeof value === "object" && value !== null && typeof (value as D1Database).prepare === "function";
}

const namesOf = new WeakMap<object, string[]>();

/** The shard bindings of this deployment, in name order: every D1 binding called SHARD_…. */
export function shardNames(env: WorkerEnv): string[] {
  let names = namesOf.get(env);
  if (!names) {
    names = Object.keys(env)
      .filter((key) => SHARD_BINDING.test(key) && isD1((env as unknown as Record<string, unknown>)[key]))
      .sort();
    namesOf.set(env, names);
  }
  return names;
}

export function isShard(env: WorkerEnv, shard: string): boolean {
  return shardNames(env).includes(shard);
}

const derived = new WeakMap<object, Map<string, Bindings>>();

/**
 * The bindings for work on one shard: the Worker's own, with DB = that shard's database. One object per
 * (env, shard), so what is cached per env object (the parsed configuration, drizzle clients) stays cached.
 */
export function shardEnv(env: WorkerEnv, shard: string): Bindings {
  let byShard = derived.get(env);
  if (!byShard) {
    byShard = new Map();
    derived.set(env, byShard);
  }
  let routed = byShard.get(shard);
  if (!routed) {
    const db = (env as unknown as Record<string, unknown>)[shard];
    if (!SHARD_BINDING.test(shard) || !isD1(db)) throw new Error(`No shard database bound as '${shard}' (the shard bindings are ${shardNames(env).join(", ")})`);
    routed = { ...env, DB: db, SHARD: shard };
    byShard.set(shard, routed);
    derived.set(routed, byShard);
  }
  return routed;
}

/** The shard of work that predates sharding (a queue message or stored state without one): the first. */
export function defaultShard(env: WorkerEnv): string {
  const first = shardNames(env)[0];
  if (!first) throw new Error("No shard database is bound: wrangler.toml needs at least one [[d1_databases]] binding named SHARD_…");
  return first;
}

const controlClients = new WeakMap<D1Database, ControlDatabase>();

/** The drizzle client over the control database. */
export function controlDatabase(env: WorkerEnv): ControlDatabase {
  let client = controlClients.get(env.CONTROL);
  if (!client) {
    client = drizzle(env.CONTROL, { schema: control });
    controlClients.set(env.CONTROL, client);
  }
  return client;
}

// ── The directory, cached in the isolate ──────────────────────────────────────────────────────────────────
// account → shard changes only when an account moves. An isolate keeps what it read; every request's first
// shard query (the token's, src/domain/tokens.ts) also reads the shard's copy of the account, so a request
// routed by a stale entry finds 'moved' there and re-reads the directory (forgetShard) before answering.

type DirectoryEntry = { shard: string };
const DIRECTORY_LIMIT = 10_000;
const directory = new CappedMap<string, DirectoryEntry>(DIRECTORY_LIMIT);

/** The shard of an account: from the isolate's cache, else one read of the control database. */
export async function shardOfAccount(env: WorkerEnv, accountId: string): Promise<string | null> {
  const cached = directory.get(accountId);
  if (cached) return cached.shard;
  const row = await controlDatabase(env).select({ shard: control.accounts.shard }).from(control.accounts).where(eq(control.accounts.id, accountId)).get();
  if (!row) return null;
  remember(accountId, row.shard);
  return row.shard;
}

export function remember(accountId: string, shard: string): void {
  directory.set(accountId, { shard });
}

/** Drops an account's cached shard: the next request reads the directory again. */
export function forgetShard(accountId: string): void {
  directory.delete(accountId);
}

const inboxAccounts = new CappedMap<string, string>(DIRECTORY_LIMIT);

/** The account of a public inbox identifier (immutable, so cached for good); null when none has it. */
export async function accountOfInbox(env: WorkerEnv, identifier: string): Promise<string | null> {
  const cached = inboxAccounts.get(identifier);
  if (cached) return cached;
  const row = await controlDatabase(env)
    .select({ accountId: control.inboxDirectory.accountId })
    .from(control.inboxDirectory)
    .where(eq(control.inboxDirectory.identifier, identifier))
    .get();
  if (!row) return null;
  inboxAccounts.set(identifier, row.accountId);
  return row.accountId;
}

// ── A shard that is behind refuses to serve ──────────────────────────────────────────────────────────────

/** The last shard migration this code was built with (wrangler records applied migrations by file name). */
export const SHARD_SCHEMA_VERSION = `${shardJournal.entries.at(-1)!.tag}.sql`;

const current = new Set<string>();

/**
 * Resolves when the shard's database has every migration this code expects; throws 503 shard_behind when
 * it lacks one (serving would write rows the old schema cannot hold). Checked once per shard per isolate.
 */
export async function checkShardVersion(env: Bindings): Promise<void> {
  if (current.has(env.SHARD)) return;
  const version = await shardVersion(env.DB);
  if (version === null || version < SHARD_SCHEMA_VERSION) {
    throw new ApiError(
      "shard_behind",
      `The shard database ${env.SHARD} has migrations up to ${version ?? "none"}; this code needs ${SHARD_SCHEMA_VERSION}. Run \`wrangler d1 migrations apply ${env.SHARD}\`.`,
    );
  }
  current.add(env.SHARD);
}

/** The last migration applied to a database, by wrangler's record; null when it has none. */
export async function shardVersion(db: D1Database): Promise<string | null> {
  try {
    const row = await db.prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1").first<{ name: string }>();
    return row?.name ?? null;
  } catch {
    return null;
  }
}

// ── Account names, for the few places a shard's work shows one (Chatwoot's payloads and profile) ─────────

const names = new CappedMap<string, { name: string; at: number }>(DIRECTORY_LIMIT);

/** The isolate's directory caches, for the test that fills them. */
export const directoryCaches = { accounts: directory, inboxes: inboxAccounts, names };
const NAME_TTL_MS = 60_000;

/** Forgets a cached name (this isolate renamed the account). */
export function forgetAccountName(accountId: string): void {
  names.delete(accountId);
}

/** An account's name from the control database, cached in the isolate for a minute (a rename shows within it). */
export async function accountName(env: WorkerEnv, accountId: string, now = Date.now()): Promise<string> {
  const cached = names.get(accountId);
  if (cached && now - cached.at < NAME_TTL_MS) return cached.name;
  const row = await controlDatabase(env).select({ name: control.accounts.name }).from(control.accounts).where(eq(control.accounts.id, accountId)).get();
  const name = row?.name ?? "";
  names.set(accountId, { name, at: now });
  return name;
}
