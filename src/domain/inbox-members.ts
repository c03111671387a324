// Who works an inbox: its members, the agents who see its conversations and can be assigned them.
import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { chunks } from "../core/chunks";
import { database, sentWrite } from "../db/client";
import { inboxMembers, users } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { disconnectRealtime } from "../realtime/forward";
import { requireInbox } from "./inboxes";
import { toUser, type User } from "./users";

export const MAX_MEMBERS = 500;

export async function listMembers(env: Bindings, accountId: string, inboxId: string): Promise<User[]> {
  const rows = await database(env)
    .select({ user: users })
    .from(inboxMembers)
    .innerJoin(users, and(eq(users.id, inboxMembers.userId), isNull(users.deletedAt)))
    .where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.inboxId, inboxId)))
    .orderBy(asc(users.id));
  return rows.map((row) => toUser(row.user));
}

/**
 * Replaces the inbox's members with `userIds`. Every id must be a live user of this account; otherwise a
 * 422 names each offending id and nothing changes. The insert selects from users itself, so a user removed
 * between the check and the write never becomes a member.
 */
export async function setMembers(env: Bindings, accountId: string, inboxId: string, userIds: string[]): Promise<User[]> {
  await requireInbox(env, accountId, inboxId);
  const db = database(env);
  const wanted = [...new Set(userIds)];
  const found = new Set<string>();
  for (const chunk of chunks(wanted)) {
    const rows = await db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.accountId, accountId), inArray(users.id, chunk), isNull(users.deletedAt)));
    for (const row of rows) found.add(row.id);
  }
  const unknown = userIds.flatMap((id, index) => (found.has(id) ? [] : [{ id, index }]));
  if (unknown.length > 0) {
    const first = unknown[0]!;
    throw new ApiError(
      "validation_failed",
      `user_ids[${first.index}] '${first.id}' is not a user of this account${unknown.length > 1 ? ` (and ${unknown.length - 1} more)` : ""}; list only ids from GET /v1/accounts/${accountId}/users.`,
      {
        errors: unknown.map(({ id, index }) => ({
          location: "body" as const,
          pointer: `/user_ids/${index}`,
          detail: `'${id}' is not a user of this account.`,
        })),
      },
    );
  }
  const before = await db
    .select({ userId: inboxMembers.userId })
    .from(inboxMembers)
    .where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.inboxId, inboxId)));
  const now = Date.now();
  const writes: BatchItem<"sqlite">[] = chunks(wanted).map((chunk) =>
    db.insert(inboxMembers).select(
      db
        .select({
          inboxId: sql<string>`${inboxId}`.as("inbox_id"),
          userId: users.id,
          accountId: users.accountId,
          createdAt: sql<number>`${now}`.as("created_at"),
        })
        .from(users)
        .where(and(eq(users.accountId, accountId), inArray(users.id, chunk), isNull(users.deletedAt))),
    ),
  );
  await sentWrite(db.batch([
    db.delete(inboxMembers).where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.inboxId, inboxId))),
    ...writes,
  ]));
  // Whoever joined or left sees other inboxes now: their realtime streams reconnect with a fresh ticket.
  const previous = new Set(before.map((row) => row.userId));
  const changed = [...wanted.filter((id) => !previous.has(id)), ...[...previous].filter((id) => !wanted.includes(id))];
  if (changed.length > 0) await disconnectRealtime(env, accountId, { userIds: changed }, "accessChanged");
  return listMembers(env, accountId, inboxId);
}

export async function isInboxMember(env: Bindings, accountId: string, inboxId: string, userId: string): Promise<boolean> {
  const row = await database(env)
    .select({ userId: inboxMembers.userId })
    .from(inboxMembers)
    .where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.inboxId, inboxId), eq(inboxMembers.userId, userId)))
    .get();
  return row !== undefined;
}
