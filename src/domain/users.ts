import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import { database, isUniqueViolation, sentWrite } from "../db/client";
import { apiTokens, inboxMembers, sessions, users, type Role } from "../db/schema";
import type { Bindings, WorkerEnv } from "../env";
import { signInEmails } from "../db/control/schema";
import { controlDatabase } from "../db/shards";
import { ApiError, notFound } from "../errors/problem";
import { newId } from "../core/ids";
import { decodeCursor, page } from "../core/pagination";
import { iso } from "../core/time";
import { disconnectRealtime } from "../realtime/forward";

export type User = { id: string; name: string; email: string; role: Role; available: boolean; created_at: string };

export function toUser(row: typeof users.$inferSelect): User {
  return { id: row.id, name: row.name, email: row.email, role: row.role, available: row.available, created_at: iso(row.createdAt) };
}

export async function createUser(
  env: Bindings,
  accountId: string,
  input: { name: string; email: string; role: Role; available?: boolean },
): Promise<User> {
  const now = Date.now();
  const row = {
    id: newId("usr", now),
    accountId,
    name: input.name,
    email: input.email.toLowerCase(),
    role: input.role,
    available: input.available ?? true,
    createdAt: now,
    deletedAt: null,
    passwordHash: null,
  };
  try {
    await database(env).insert(users).values(row);
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ApiError("email_taken", `A user with email '${row.email}' already exists in this account.`);
    }
    throw error;
  }
  await listSignInEmail(env, accountId, row.email);
  return toUser(row);
}

export async function listUsers(env: Bindings, accountId: string, options: { limit: number; cursor?: string }) {
  const after = decodeCursor(options.cursor, { id: "string" });
  const rows = await database(env)
    .select()
    .from(users)
    .where(and(eq(users.accountId, accountId), isNull(users.deletedAt), after ? gt(users.id, after.id) : undefined))
    .orderBy(asc(users.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ id: row.id }));
  return { data: result.data.map(toUser), next_cursor: result.next_cursor };
}

async function findUser(env: Bindings, accountId: string, userId: string) {
  return database(env)
    .select()
    .from(users)
    .where(and(eq(users.accountId, accountId), eq(users.id, userId), isNull(users.deletedAt)))
    .get();
}

/** The account's user (not deleted), or a 404 `user_not_found` naming the id. */
export async function requireUser(env: Bindings, accountId: string, userId: string) {
  const user = await findUser(env, accountId, userId);
  if (!user) throw notFound("user_not_found", "user", userId);
  return user;
}

/**
 * True while the user is not the account's last administrator: the guard of demoting and removing, put
 * into the one UPDATE that does it, so two concurrent requests cannot each see "another administrator
 * exists" and both go through (D1 runs each statement atomically, one writer at a time).
 */
function notLastAdministrator(accountId: string, userId: string) {
  return sql`(${users.role} <> 'administrator' OR EXISTS (SELECT 1 FROM users other
    WHERE other.account_id = ${accountId} AND other.id <> ${userId} AND other.role = 'administrator' AND other.deleted_at IS NULL))`;
}

const lastAdministrator = () =>
  new ApiError("invalid_state", "This is the account's last administrator; make another user administrator first.");

export async function updateUser(
  env: Bindings,
  accountId: string,
  userId: string,
  patch: { name?: string; role?: Role; available?: boolean },
): Promise<User> {
  if (Object.values(patch).every((value) => value === undefined)) {
    // Nothing to change (drizzle refuses an empty SET): answer with the user as it is.
    return toUser(await requireUser(env, accountId, userId));
  }
  const demoting = patch.role !== undefined && patch.role !== "administrator";
  const [row] = await database(env)
    .update(users)
    .set(patch)
    .where(
      and(
        eq(users.accountId, accountId),
        eq(users.id, userId),
        isNull(users.deletedAt),
        demoting ? notLastAdministrator(accountId, userId) : undefined,
      ),
    )
    .returning();
  if (!row) {
    if (demoting && (await findUser(env, accountId, userId))) throw lastAdministrator();
    throw notFound("user_not_found", "user", userId);
  }
  // A new role changes what their realtime streams may show: they reconnect with a fresh ticket.
  if (patch.role !== undefined) await disconnectRealtime(env, accountId, { userIds: [userId] }, "accessChanged");
  return toUser(row);
}

/**
 * Removes a user: their tokens stop working and their inbox memberships end, in one batch. Their name
 * stays on history (messages, activity). The last administrator cannot be removed: nobody could manage
 * the account afterwards. The guard is part of the removing UPDATE, and the rest of the batch only acts
 * if that UPDATE did (it is recognised by its own deleted_at), so concurrent removals cannot both pass.
 */
export async function deleteUser(env: Bindings, accountId: string, userId: string): Promise<void> {
  const db = database(env);
  const now = Date.now();
  const removedNow = sql`EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND account_id = ${accountId} AND deleted_at = ${now})`;
  const [removed] = await sentWrite(db.batch([
    db
      .update(users)
      .set({ deletedAt: now })
      .where(and(eq(users.accountId, accountId), eq(users.id, userId), isNull(users.deletedAt), notLastAdministrator(accountId, userId)))
      .returning({ id: users.id }),
    db
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.accountId, accountId), eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt), removedNow)),
    db.delete(inboxMembers).where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.userId, userId), removedNow)),
    // Their console sessions end with them (the session look-up also ignores deleted users).
    db
      .update(sessions)
      .set({ revokedAt: now })
      .where(and(eq(sessions.accountId, accountId), eq(sessions.userId, userId), isNull(sessions.revokedAt), removedNow)),
  ]));
  if (removed.length === 0) {
    if (await findUser(env, accountId, userId)) throw lastAdministrator();
    throw notFound("user_not_found", "user", userId);
  }
  await unlistSignInEmail(env, accountId, userId);
  await disconnectRealtime(env, accountId, { userIds: [userId] }, "revoked");
}

/** The control database's note that this account has a live user with the email (console sign-in). */
export async function listSignInEmail(env: WorkerEnv, accountId: string, email: string): Promise<void> {
  await controlDatabase(env).insert(signInEmails).values({ email, accountId }).onConflictDoNothing();
}

async function unlistSignInEmail(env: Bindings, accountId: string, userId: string): Promise<void> {
  const row = await database(env).select({ email: users.email }).from(users).where(and(eq(users.accountId, accountId), eq(users.id, userId))).get();
  if (row) await controlDatabase(env).delete(signInEmails).where(and(eq(signInEmails.accountId, accountId), eq(signInEmails.email, row.email)));
}
