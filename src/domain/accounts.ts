import { eq } from "drizzle-orm";
import { database, sentWrite } from "../db/client";
import { accounts, apiTokens, users } from "../db/schema";
import { config, type Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { parseOverrides, limitsChanged, type RateLimits } from "../rate-limit/object";
import { newId } from "../core/ids";
import { iso } from "../core/time";
import { mintToken, type IssuedToken } from "./tokens";
import { toUser, type User } from "./users";

export type NewAccount = { name: string; administrator: { name: string; email: string } };

export type CreatedAccount = {
  account: { id: string; name: string; created_at: string };
  user: User;
  token: IssuedToken;
};

/** An account, its first administrator and that administrator's token, written together. */
export async function createAccount(env: Bindings, input: NewAccount): Promise<CreatedAccount> {
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
  const db = database(env);
  await sentWrite(db.batch([
    db.insert(accounts).values({ id: accountId, name: input.name, createdAt: now }),
    db.insert(users).values(user),
    db.insert(apiTokens).values(row),
  ]));
  return {
    account: { id: accountId, name: input.name, created_at: new Date(now).toISOString() },
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
};

function toAccount(env: Bindings, row: typeof accounts.$inferSelect): Account {
  const defaults = config(env).rateLimits;
  return {
    id: row.id,
    name: row.name,
    rate_limits: { per_token: defaults.perToken, per_inbox: defaults.perInbox, ...parseOverrides(row.rateLimits) },
    created_at: iso(row.createdAt),
  };
}

export async function getAccount(env: Bindings, accountId: string): Promise<Account> {
  const row = await database(env).select().from(accounts).where(eq(accounts.id, accountId)).get();
  if (!row) throw new ApiError("account_not_found", `No account with id '${accountId}' exists.`);
  return toAccount(env, row);
}

export type AccountPatch = {
  name?: string;
  /** null resets every limit to the default; a null member resets that one. */
  rate_limits?: { per_token?: number | null; per_inbox?: number | null } | null;
};

/** The operator renames an account or sets its own rate limits; the limits apply from the next request. */
export async function updateAccount(env: Bindings, accountId: string, patch: AccountPatch): Promise<Account> {
  const db = database(env);
  const current = await db.select().from(accounts).where(eq(accounts.id, accountId)).get();
  if (!current) throw new ApiError("account_not_found", `No account with id '${accountId}' exists.`);
  const set: Partial<typeof accounts.$inferInsert> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.rate_limits !== undefined) {
    const merged: Record<string, number | null | undefined> = { ...parseOverrides(current.rateLimits), ...patch.rate_limits };
    const kept = Object.fromEntries(Object.entries(merged).filter(([, value]) => typeof value === "number"));
    set.rateLimits = patch.rate_limits === null || Object.keys(kept).length === 0 ? null : kept;
  }
  if (Object.keys(set).length === 0) return toAccount(env, current);
  const [row] = await db.update(accounts).set(set).where(eq(accounts.id, accountId)).returning();
  if (!row) throw new ApiError("account_not_found", `No account with id '${accountId}' exists.`);
  if (patch.rate_limits !== undefined) await limitsChanged(env, accountId);
  return toAccount(env, row);
}
