// Console sessions: a server-side row per signed-in person behind an HttpOnly cookie (docs/console.md).
// The cookie holds a random secret; the row keeps only its SHA-256, like API tokens. A session acts as its
// user through the same caller shape as a user token, so every API route, guard and visibility rule
// applies unchanged; its id (`ses_…`) stands where a token id would (rate limits, realtime revocation).
import { and, eq, gt, inArray, isNull, isNotNull, or, sql } from "drizzle-orm";
import { database } from "../db/client";
import { accounts, signInEmails, signInFailures } from "../db/control/schema";
import { sessions, users } from "../db/schema";
import { controlDatabase } from "../db/shards";
import { accountOfSecret, accountSecret } from "../core/account-secret";
import { shardForAccount } from "./routing";
import type { Bindings, WorkerEnv } from "../env";
import { ApiError } from "../errors/problem";
import { base64url } from "../core/base64";
import { randomBytes, sha256Hex } from "../core/crypto";
import { newId } from "../core/ids";
import { iso } from "../core/time";
import { disconnectRealtime } from "../realtime/forward";
import type { Caller } from "./tokens";
import { toUser, type User } from "./users";
import { verifyPassword } from "./passwords";
import { signInAllowed, SIGN_IN_WINDOW_MS } from "./sign-in-limits";

/** A session ends this long after sign-in, whatever happens (sign in again). */
export const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Sessions' cookie secrets start with this, so a leaked one is recognisable. */
export const SESSION_PREFIX = "eis_";

export type SessionView = { user: User; account_id: string; account_name: string; csrf_token: string; expires_at: string };
export type OpenedSession = { cookie: string; maxAgeSeconds: number; view: SessionView };
export type ResolvedSession = { caller: Extract<Caller, { kind: "user" }>; csrfToken: string; sessionId: string };

type UserRow = typeof users.$inferSelect;

/** Opens a session for a user who proved who they are (password, one-time link). */
export async function openSession(env: Bindings, user: UserRow, now = Date.now()): Promise<OpenedSession> {
  // The secret names the account: the next request goes to its shard without a look-up.
  const secret = accountSecret(SESSION_PREFIX, user.accountId);
  const csrfToken = base64url(randomBytes(24));
  const db = database(env);
  const account = await controlDatabase(env).select({ name: accounts.name }).from(accounts).where(eq(accounts.id, user.accountId)).get();
  await db.batch([
    db.insert(sessions).values({
      id: newId("ses", now),
      accountId: user.accountId,
      userId: user.id,
      tokenHash: await sha256Hex(secret),
      csrfToken,
      createdAt: now,
      expiresAt: now + SESSION_TTL_MS,
    }),
    // Expired and revoked rows are worthless: keep the table small.
    db.delete(sessions).where(or(sql`${sessions.expiresAt} < ${now}`, isNotNull(sessions.revokedAt))),
  ]);
  return {
    cookie: secret,
    maxAgeSeconds: SESSION_TTL_MS / 1000,
    view: { user: toUser(user), account_id: user.accountId, account_name: account?.name ?? "", csrf_token: csrfToken, expires_at: iso(now + SESSION_TTL_MS) },
  };
}

/** The account a session cookie names (its shard serves the request), or null. */
export function accountOfSession(secret: string): string | null {
  return accountOfSecret(SESSION_PREFIX, secret);
}

/** The live session behind a cookie secret and its user as they are now; null if unknown, expired, revoked or the user is gone. */
export async function resolveSession(env: Bindings, secret: string, now = Date.now()): Promise<ResolvedSession | null> {
  if (!secret.startsWith(SESSION_PREFIX) || secret.length > 200) return null;
  const row = await database(env)
    .select({ id: sessions.id, accountId: sessions.accountId, userId: sessions.userId, csrfToken: sessions.csrfToken, role: users.role })
    .from(sessions)
    .innerJoin(users, and(eq(users.id, sessions.userId), isNull(users.deletedAt)))
    .where(and(eq(sessions.tokenHash, await sha256Hex(secret)), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .get();
  if (!row) return null;
  return {
    caller: { kind: "user", accountId: row.accountId, userId: row.userId, role: row.role, tokenId: row.id },
    csrfToken: row.csrfToken,
    sessionId: row.id,
  };
}

/** What the console reads on load: who is signed in, and the CSRF token to send with every change. */
export async function describeSession(env: Bindings, session: ResolvedSession): Promise<SessionView> {
  const db = database(env);
  const row = await db
    .select({ user: users, expiresAt: sessions.expiresAt })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.id, session.sessionId))
    .get();
  if (!row) throw new ApiError("unauthorized", "Sign in first: the session has ended.");
  const account = await controlDatabase(env).select({ name: accounts.name }).from(accounts).where(eq(accounts.id, row.user.accountId)).get();
  return { user: toUser(row.user), account_id: row.user.accountId, account_name: account?.name ?? "", csrf_token: session.csrfToken, expires_at: iso(row.expiresAt) };
}

/** Sign-out: this session only. */
export async function endSession(env: Bindings, accountId: string, sessionId: string): Promise<void> {
  await database(env).update(sessions).set({ revokedAt: Date.now() }).where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)));
  await disconnectRealtime(env, accountId, { tokenIds: [sessionId] }, "revoked");
}

/** The statement that ends every session of a user (password changed, user removed); run alone or in a batch. */
export function endUserSessionsStatement(env: Bindings, accountId: string, userId: string, now = Date.now()) {
  return database(env)
    .update(sessions)
    .set({ revokedAt: now })
    .where(and(eq(sessions.accountId, accountId), eq(sessions.userId, userId), isNull(sessions.revokedAt)));
}

const invalidCredentials = () =>
  new ApiError("invalid_credentials", "The email or password is wrong. Check both, or ask an administrator for a new invite link.");

/**
 * Email + password sign-in. Failures are counted per email and per account over a window (sign-in-limits.ts);
 * past either limit the answer is 429 without checking the password. An unknown email costs as long as a
 * wrong password, and both answer the same.
 */
export async function signIn(workerEnv: WorkerEnv, input: { email: string; password: string; account_id?: string }, now = Date.now()): Promise<OpenedSession> {
  const email = input.email.trim().toLowerCase();
  const control = controlDatabase(workerEnv);
  const since = now - SIGN_IN_WINDOW_MS;
  // The control database knows which accounts have the email: their users are read from that one shard.
  const listed = await control
    .select({ accountId: signInEmails.accountId })
    .from(signInEmails)
    .where(and(eq(signInEmails.email, email), input.account_id ? eq(signInEmails.accountId, input.account_id) : undefined))
    .limit(10);
  const accountIds = listed.map((row) => row.accountId);
  const [byEmail, byAccount] = await control.batch([
    control.select({ n: sql<number>`count(*)` }).from(signInFailures).where(and(eq(signInFailures.email, email), gt(signInFailures.at, since))),
    control
      .select({ n: sql<number>`count(*)` })
      .from(signInFailures)
      .where(and(accountIds.length ? inArray(signInFailures.accountId, accountIds) : sql`0`, gt(signInFailures.at, since))),
  ]);
  const decision = signInAllowed({ failuresForEmail: byEmail[0]?.n ?? 0, failuresForAccount: byAccount[0]?.n ?? 0 });
  if (!decision.allowed) {
    throw new ApiError("rate_limited", `Too many failed sign-ins ${decision.scope === "email" ? "for this email" : "in this account"}; try again in ${Math.ceil(SIGN_IN_WINDOW_MS / 60000)} minutes.`, {
      headers: { "retry-after": String(SIGN_IN_WINDOW_MS / 1000) },
    });
  }
  // Accounts on different shards: one request reads one shard, so the person names the account.
  const envs = await Promise.all(accountIds.map((accountId) => shardForAccount(workerEnv, accountId)));
  if (new Set(envs.map((env) => env.SHARD)).size > 1) {
    throw new ApiError("account_required", `This email signs in to ${accountIds.length} accounts: send account_id (one of ${accountIds.join(", ")}).`);
  }
  const env = envs[0] ?? (await shardForAccount(workerEnv, null));
  const candidates = accountIds.length
    ? await database(env)
        .select()
        .from(users)
        .where(and(eq(users.email, email), isNull(users.deletedAt), inArray(users.accountId, accountIds)))
        .limit(10)
    : [];
  const matches: UserRow[] = [];
  if (candidates.length === 0) await verifyPassword(input.password, null);
  for (const candidate of candidates) if (await verifyPassword(input.password, candidate.passwordHash)) matches.push(candidate);
  if (matches.length === 0) {
    const failed = accountIds.length ? accountIds : [null];
    await control.insert(signInFailures).values(failed.map((accountId) => ({ email, accountId, at: now })));
    throw invalidCredentials();
  }
  if (matches.length > 1) {
    throw new ApiError("account_required", `This email signs in to ${matches.length} accounts: send account_id (one of ${matches.map((m) => m.accountId).join(", ")}).`);
  }
  return openSession(env, matches[0]!, now);
}
