// One-time links into the console: an invite (the person sets their password, then is signed in) and a
// sign-in link (signs its user in once; `npm start` prints one for the dev administrator as SIGN_IN_URL).
// Links are random, stored as SHA-256, expire, and are spent by one UPDATE … WHERE used_at IS NULL, so a
// link works once even under concurrent use.
import { and, eq, gt, isNull, sql } from "drizzle-orm";
import { database } from "../db/client";
import { signInLinks, users, type SignInLinkPurpose } from "../db/schema";
import type { Bindings, WorkerEnv } from "../env";
import { accountOfSecret, accountSecret } from "../core/account-secret";
import { shardForAccount } from "./routing";
import { ApiError, notFound } from "../errors/problem";
import { sha256Hex } from "../core/crypto";
import { iso } from "../core/time";
import { hashPassword, verifyPassword } from "./passwords";
import { requireUser } from "./users";
import { endUserSessionsStatement, openSession, type OpenedSession } from "./sessions";
import { disconnectRealtime } from "../realtime/forward";

export const LINK_TTL_MS: Record<SignInLinkPurpose, number> = { invite: 7 * 24 * 60 * 60 * 1000, sign_in: 15 * 60 * 1000 };
const LINK_PREFIX = "eil_";

/** The console page each kind of link opens; the token travels in the fragment, so it stays out of logs. */
export function linkPath(purpose: SignInLinkPurpose, token: string): string {
  return `/app/${purpose === "invite" ? "invite" : "sign-in"}#token=${token}`;
}

export async function issueLink(env: Bindings, accountId: string, userId: string, purpose: SignInLinkPurpose, now = Date.now()) {
  await requireUser(env, accountId, userId);
  const db = database(env);
  const token = accountSecret(LINK_PREFIX, accountId);
  const expiresAt = now + LINK_TTL_MS[purpose];
  await db.batch([
    db.insert(signInLinks).values({ tokenHash: await sha256Hex(token), accountId, userId, purpose, expiresAt, createdAt: now }),
    db.delete(signInLinks).where(sql`${signInLinks.expiresAt} < ${now}`),
  ]);
  return { token, path: linkPath(purpose, token), expires_at: iso(expiresAt) };
}

const invalidLink = () =>
  new ApiError("invalid_link", "This link is unknown, expired or already used. Ask an administrator for a new invite (Settings → Users).");

/** Spends a link of this purpose; returns its live user and the bindings of its account's shard (the link names it). */
async function spendLink(workerEnv: WorkerEnv, token: string, purpose: SignInLinkPurpose, now: number) {
  if (!token.startsWith(LINK_PREFIX) || token.length > 200) throw invalidLink();
  const env = await shardForAccount(workerEnv, accountOfSecret(LINK_PREFIX, token));
  const db = database(env);
  const [spent] = await db
    .update(signInLinks)
    .set({ usedAt: now })
    .where(and(eq(signInLinks.tokenHash, await sha256Hex(token)), eq(signInLinks.purpose, purpose), isNull(signInLinks.usedAt), gt(signInLinks.expiresAt, now)))
    .returning({ accountId: signInLinks.accountId, userId: signInLinks.userId });
  if (!spent) throw invalidLink();
  const user = await db
    .select()
    .from(users)
    .where(and(eq(users.accountId, spent.accountId), eq(users.id, spent.userId), isNull(users.deletedAt)))
    .get();
  if (!user) throw invalidLink();
  return { user, env };
}

/** A sign-in link: one session, once. */
export async function redeemSignInLink(workerEnv: WorkerEnv, token: string, now = Date.now()): Promise<OpenedSession> {
  const { user, env } = await spendLink(workerEnv, token, "sign_in", now);
  return openSession(env, user, now);
}

/** An invite: sets the password (ending any earlier sessions of the user), then signs in. */
export async function acceptInvite(workerEnv: WorkerEnv, token: string, password: string, now = Date.now()): Promise<OpenedSession> {
  const passwordHash = await hashPassword(password);
  const { user, env } = await spendLink(workerEnv, token, "invite", now);
  await setPasswordHash(env, user.accountId, user.id, passwordHash, now);
  return openSession(env, { ...user, passwordHash }, now);
}

async function setPasswordHash(env: Bindings, accountId: string, userId: string, passwordHash: string, now: number) {
  const db = database(env);
  await db.batch([
    db.update(users).set({ passwordHash }).where(and(eq(users.accountId, accountId), eq(users.id, userId))),
    endUserSessionsStatement(env, accountId, userId, now),
  ]);
  await disconnectRealtime(env, accountId, { userIds: [userId] }, "revoked");
}

/** A signed-in user changes their own password: every session ends, and a new one is opened for this browser. */
export async function changePassword(
  env: Bindings,
  user: { accountId: string; userId: string },
  input: { current_password: string; new_password: string },
  now = Date.now(),
): Promise<OpenedSession> {
  const row = await database(env)
    .select()
    .from(users)
    .where(and(eq(users.accountId, user.accountId), eq(users.id, user.userId), isNull(users.deletedAt)))
    .get();
  if (!row) throw notFound("user_not_found", "user", user.userId);
  if (!(await verifyPassword(input.current_password, row.passwordHash))) {
    throw new ApiError("invalid_credentials", "The current password is wrong.");
  }
  const passwordHash = await hashPassword(input.new_password);
  await setPasswordHash(env, user.accountId, user.userId, passwordHash, now);
  return openSession(env, { ...row, passwordHash }, now);
}
