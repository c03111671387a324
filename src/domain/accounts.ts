import { count, eq } from "drizzle-orm";
import { database, sentWrite } from "../db/client";
import { accounts as controlAccounts, type MoveState } from "../db/control/schema";
import { accounts, apiTokens, users } from "../db/schema";
import { checkShardVersion, controlDatabase, forgetAccountName, isShard, remember, shardEnv, shardNames, shardVersion } from "../db/shards";
import { config, type WorkerEnv } from "../env";
import { ApiError } from "../errors/problem";
import { parseOverrides, limitsChanged, type RateLimits } from "../rate-limit/object";
import { newId } from "../core/ids";
import { iso } from "../core/time";
import { beginMove } from "../moves/move";
import { moveObject } from "../moves/object";
import { mintToken, type IssuedToken } from "./tokens";
import { listSignInEmail, toUser, type User } from "./users";

export type NewAccount = { name: string; administrator: { name: string; email: string }; shard?: string };

export type CreatedAccount = {
  account: { id: string; name: string; created_at: string; shard: string };
  user: User;
  token: IssuedToken;
};

/** Accounts per shard (every bound shard, empty ones too). */
async function accountsPerShard(env: WorkerEnv): Promise<Map<string, number>> {
  const counts = new Map(shardNames(env).map((name) => [name, 0]));
  const rows = await controlDatabase(env).select({ shard: controlAccounts.shard, n: count() }).from(controlAccounts).groupBy(controlAccounts.shard);
  for (const row of rows) if (counts.has(row.shard)) counts.set(row.shard, row.n);
  return counts;
}

/** Placement: the shard the operator named, else the one with the fewest accounts (ties: the first by name). */
export async function placeAccount(env: WorkerEnv, requested?: string): Promise<string> {
  if (requested !== undefined) {
    if (!isShard(env, requested)) throw new ApiError("shard_not_found", `No shard is called '${requested}'; the shards are ${shardNames(env).join(", ")} (GET /v1/shards).`);
    return requested;
  }
  let best: [string, number] | undefined;
  for (const entry of await accountsPerShard(env)) if (!best || entry[1] < best[1]) best = entry;
  return best![0];
}

/**
 * An account, its first administrator and that administrator's token. The shard's rows are written first,
 * in one batch; then the directory entry in the control database. A crash between the two leaves rows no
 * token can reach (the token names an account the directory does not know), never an account without them.
 */
export async function createAccount(env: WorkerEnv, input: NewAccount): Promise<CreatedAccount> {
  const shard = await placeAccount(env, input.shard);
  const now = Date.now();
  const accountId = newId("acc", now);
  const user = {
    id: newId("usr", now),
    accountId,
    name: input.administrator.name,
    email: input.administrator.email.toLowerCase(),
    role: "administrator" as const,
    available: true,
    createdAt: now,
    deletedAt: null,
    passwordHash: null,
  };
  const { issued, row } = await mintToken({ accountId, kind: "user", userId: user.id }, now);
  await checkShardVersion(shardEnv(env, shard));
  const db = database(shardEnv(env, shard));
  await sentWrite(db.batch([db.insert(accounts).values({ id: accountId, createdAt: now }), db.insert(users).values(user), db.insert(apiTokens).values(row)]));
  await sentWrite(controlDatabase(env).insert(controlAccounts).values({ id: accountId, name: input.name, createdAt: now, shard, updatedAt: now }));
  remember(accountId, shard);
  await listSignInEmail(env, accountId, user.email);
  return {
    account: { id: accountId, name: input.name, created_at: new Date(now).toISOString(), shard },
    user: toUser(user),
    token: issued,
  };
}

export type Account = {
  id: string;
  name: string;
  /** The limits in force (the account's own where set, else the deployment's defaults), per minute. */
  rate_limits: RateLimits;
  created_at: string;
  /** Operator only: the shard that holds the account's rows, and a move in progress. */
  shard?: string;
  moving?: { to: string; state: MoveState; started_at: string } | null;
};

type ControlAccount = typeof controlAccounts.$inferSelect;

function toAccount(env: WorkerEnv, row: ControlAccount, operator: boolean): Account {
  const defaults = config(env).rateLimits;
  return {
    id: row.id,
    name: row.name,
    rate_limits: { per_token: defaults.perToken, per_inbox: defaults.perInbox, ...parseOverrides(row.rateLimits) },
    created_at: iso(row.createdAt),
    ...(operator
      ? {
          shard: row.shard,
          moving: row.moveState && row.moveTo ? { to: row.moveTo, state: row.moveState, started_at: iso(row.moveStartedAt ?? row.updatedAt) } : null,
        }
      : {}),
  };
}

export async function readAccountRow(env: WorkerEnv, accountId: string): Promise<ControlAccount> {
  const row = await controlDatabase(env).select().from(controlAccounts).where(eq(controlAccounts.id, accountId)).get();
  if (!row) throw new ApiError("account_not_found", `No account with id '${accountId}' exists.`);
  return row;
}

/** The account; `operator` (the platform token) also sees where it lives. */
export async function getAccount(env: WorkerEnv, accountId: string, operator = false): Promise<Account> {
  return toAccount(env, await readAccountRow(env, accountId), operator);
}

export type AccountPatch = {
  name?: string;
  /** null resets every limit to the default; a null member resets that one. */
  rate_limits?: { per_token?: number | null; per_inbox?: number | null } | null;
};

/** The operator renames an account or sets its own rate limits; the limits apply from the next request. */
export async function updateAccount(env: WorkerEnv, accountId: string, patch: AccountPatch): Promise<Account> {
  const db = controlDatabase(env);
  const current = await readAccountRow(env, accountId);
  const set: Partial<typeof controlAccounts.$inferInsert> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.rate_limits !== undefined) {
    const merged: Record<string, number | null | undefined> = { ...parseOverrides(current.rateLimits), ...patch.rate_limits };
    const kept = Object.fromEntries(Object.entries(merged).filter(([, value]) => typeof value === "number"));
    set.rateLimits = patch.rate_limits === null || Object.keys(kept).length === 0 ? null : kept;
  }
  if (Object.keys(set).length === 0) return toAccount(env, current, true);
  const [row] = await db.update(controlAccounts).set({ ...set, updatedAt: Date.now() }).where(eq(controlAccounts.id, accountId)).returning();
  if (!row) throw new ApiError("account_not_found", `No account with id '${accountId}' exists.`);
  if (patch.name !== undefined) forgetAccountName(accountId);
  if (patch.rate_limits !== undefined) await limitsChanged(env, accountId);
  return toAccount(env, row, true);
}

/**
 * The operator moves an account to another shard (docs/scaling.md): the move runs in the background in
 * bounded steps; the account shows `moving` until it is done. Asking again for the same target while it
 * runs changes nothing; another target, or a move while one runs, is 409 invalid_state.
 */
export async function moveAccount(env: WorkerEnv, accountId: string, to: string): Promise<Account> {
  if (!isShard(env, to)) throw new ApiError("shard_not_found", `No shard is called '${to}'; the shards are ${shardNames(env).join(", ")} (GET /v1/shards).`);
  const row = await readAccountRow(env, accountId);
  if (row.moveState) {
    if (row.moveTo === to) return toAccount(env, row, true);
    throw new ApiError("invalid_state", `The account is already moving to ${row.moveTo}; wait until it is done (GET /v1/accounts/${accountId}).`);
  }
  if (row.shard === to) throw new ApiError("invalid_state", `The account is on ${to} already.`);
  await checkShardVersion(shardEnv(env, to));
  await beginMove(env, row, to);
  await moveObject(env, accountId).start(accountId);
  return getAccount(env, accountId, true);
}

export type Shard = { name: string; accounts: number; size_bytes: number; migration: string | null };

/** Every shard: its accounts, the size of its database and the last migration applied to it. */
export async function listShards(env: WorkerEnv): Promise<Shard[]> {
  const counts = await accountsPerShard(env);
  return Promise.all(
    shardNames(env).map(async (name) => {
      const db = shardEnv(env, name).DB;
      const [probe, migration] = await Promise.all([db.prepare("SELECT 1").run(), shardVersion(db)]);
      return { name, accounts: counts.get(name) ?? 0, size_bytes: probe.meta.size_after ?? 0, migration };
    }),
  );
}
