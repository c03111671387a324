import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import { database, isUniqueViolation, sentWrite } from "../db/client";
import { apiTokens, inboxMembers, users, type Role } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { newId } from "../core/ids";
import { decodeCursor, page } from "../core/pagination";
import { iso } from "../core/time";

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
  };
  try {
    await database(env).insert(users).values(row);
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ApiError("email_taken", `A user with email '${row.email}' already exists in this account.`);
    }
    throw error;
  }
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

export async function findUser(env: Bindings, accountId: string, userId: string) {
  return database(env)
    .select()
    .from(users)
    .where(and(eq(users.accountId, accountId), eq(users.id, userId), isNull(users.deletedAt)))
    .get();
}

export async function updateUser(
  env: Bindings,
  accountId: string,
  userId: string,
  patch: { name?: string; role?: Role; available?: boolean },
): Promise<User> {
  if (Object.values(patch).every((value) => value === undefined)) {
    // Nothing to change (drizzle refuses an empty SET): answer with the user as it is.
    const current = await findUser(env, accountId, userId);
    if (!current) throw notFound("user_not_found", "user", userId);
    return toUser(current);
  }
  const [row] = await database(env)
    .update(users)
    .set(patch)
    .where(and(eq(users.accountId, accountId), eq(users.id, userId), isNull(users.deletedAt)))
    .returning();
  if (!row) throw notFound("user_not_found", "user", userId);
  return toUser(row);
}

/**
 * Removes a user: their tokens stop working and their inbox memberships end, in one batch. Their name
 * stays on history (messages, activity). The last administrator cannot be removed: nobody could manage
 * the account afterwards.
 */
export async function deleteUser(env: Bindings, accountId: string, userId: string): Promise<void> {
  const db = database(env);
  const user = await findUser(env, accountId, userId);
  if (!user) throw notFound("user_not_found", "user", userId);
  if (user.role === "administrator") {
    const admins = await db
      .select({ count: sql<number>`count(*)` })
      .from(users)
      .where(and(eq(users.accountId, accountId), eq(users.role, "administrator"), isNull(users.deletedAt)))
      .get();
    if ((admins?.count ?? 0) <= 1) {
      throw new ApiError("invalid_state", "This is the account's last administrator; make another user administrator first.");
    }
  }
  const now = Date.now();
  await sentWrite(db.batch([
    db.update(users).set({ deletedAt: now }).where(and(eq(users.accountId, accountId), eq(users.id, userId))),
    db
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.accountId, accountId), eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt))),
    db.delete(inboxMembers).where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.userId, userId))),
  ]));
}
