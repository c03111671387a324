import { and, asc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { database } from "../db/client";
import { apiTokens, inboxes, inboxMembers, users, webhookDeliveries, type Role } from "../db/schema";
import { attemptDelivery, type AttemptResult } from "../delivery/attempt";
import { activeSecrets, SECRET_PREFIX, webhookHeaders } from "../delivery/signing";
import { config, type Bindings } from "../env";
import { disconnectRealtime } from "../realtime/forward";
import { ApiError, notFound } from "../errors/problem";
import { base64, newId, newInboxIdentifier, randomBytes } from "./ids";
import { decodeCursor, page } from "./pagination";
import { iso } from "./time";
import { mintToken, revokeToken, type IssuedToken } from "./tokens";
import { toUser, type User } from "./users";
import { checkWebhookUrl, judgeWebhookUrl } from "./webhook-url";

export type InboxRow = typeof inboxes.$inferSelect;

/** How long the previous secret keeps signing after a rotation. */
export const SECRET_GRACE_MS = 24 * 60 * 60 * 1000;
/** D1 binds at most 100 parameters per statement; id lists are split into chunks below that. */
const ID_CHUNK = 90;
export const MAX_MEMBERS = 500;

export type Inbox = {
  id: string;
  identifier: string;
  name: string;
  channel_type: "api";
  webhook_url: string | null;
  webhook_status: { enabled: boolean; disabled_at: string | null; disabled_reason: string | null };
  lock_to_single_conversation: boolean;
  auto_assignment: boolean;
  max_assignment_limit: number | null;
  created_at: string;
  updated_at: string;
};

export type InboxWithSecret = Inbox & { secret: string };

export function toInbox(row: InboxRow): Inbox {
  return {
    id: row.id,
    identifier: row.identifier,
    name: row.name,
    channel_type: "api",
    webhook_url: row.webhookUrl,
    webhook_status: {
      enabled: row.webhookUrl !== null && row.webhookDisabledAt === null,
      disabled_at: iso(row.webhookDisabledAt),
      disabled_reason: row.webhookDisabledReason,
    },
    lock_to_single_conversation: row.lockToSingleConversation,
    auto_assignment: row.autoAssignment,
    max_assignment_limit: row.maxAssignmentLimit,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/** `whsec_` + base64 of 32 random bytes: the Standard Webhooks secret format. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + base64(randomBytes(32));
}

function webhookUrl(env: Bindings, raw: string): string {
  return checkWebhookUrl(raw, { allowLoopback: config(env).allowLoopbackWebhooks });
}

export type NewInbox = {
  name: string;
  webhook_url?: string | null;
  lock_to_single_conversation?: boolean;
  auto_assignment?: boolean;
  max_assignment_limit?: number | null;
};

export async function createInbox(env: Bindings, accountId: string, input: NewInbox): Promise<InboxWithSecret> {
  const now = Date.now();
  const row: InboxRow = {
    id: newId("inb", now),
    accountId,
    identifier: newInboxIdentifier(),
    name: input.name,
    webhookUrl: input.webhook_url == null ? null : webhookUrl(env, input.webhook_url),
    webhookSecret: newWebhookSecret(),
    previousWebhookSecret: null,
    previousSecretExpiresAt: null,
    webhookDisabledAt: null,
    webhookDisabledReason: null,
    lockToSingleConversation: input.lock_to_single_conversation ?? true,
    autoAssignment: input.auto_assignment ?? false,
    maxAssignmentLimit: input.max_assignment_limit ?? null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  await database(env).insert(inboxes).values(row);
  return { ...toInbox(row), secret: row.webhookSecret };
}

/** Who is looking: administrators see every inbox of the account, agents only those they are members of. */
export type Viewer = { userId: string; role: Role };

export async function listInboxes(
  env: Bindings,
  accountId: string,
  viewer: Viewer,
  options: { limit: number; cursor?: string },
): Promise<{ data: Inbox[]; next_cursor: string | null }> {
  const after = decodeCursor(options.cursor, { id: "string" });
  const db = database(env);
  const conditions = and(eq(inboxes.accountId, accountId), isNull(inboxes.deletedAt), after ? gt(inboxes.id, after.id) : undefined);
  const rows =
    viewer.role === "administrator"
      ? await db.select().from(inboxes).where(conditions).orderBy(asc(inboxes.id)).limit(options.limit + 1)
      : (
          await db
            .select({ inbox: inboxes })
            .from(inboxes)
            .innerJoin(inboxMembers, and(eq(inboxMembers.inboxId, inboxes.id), eq(inboxMembers.userId, viewer.userId)))
            .where(conditions)
            .orderBy(asc(inboxes.id))
            .limit(options.limit + 1)
        ).map((row) => row.inbox);
  const result = page(rows, options.limit, (row) => ({ id: row.id }));
  return { data: result.data.map(toInbox), next_cursor: result.next_cursor };
}

/** A live (not deleted) inbox of the account, or null. */
export async function findInbox(env: Bindings, accountId: string, inboxId: string): Promise<InboxRow | null> {
  const row = await database(env)
    .select()
    .from(inboxes)
    .where(and(eq(inboxes.accountId, accountId), eq(inboxes.id, inboxId), isNull(inboxes.deletedAt)))
    .get();
  return row ?? null;
}

export async function requireInbox(env: Bindings, accountId: string, inboxId: string): Promise<InboxRow> {
  const row = await findInbox(env, accountId, inboxId);
  if (!row) throw notFound("inbox_not_found", "inbox", inboxId);
  return row;
}

/** The inbox if the viewer may see it; an agent who is not a member gets the same 404 as a missing inbox. */
export async function requireVisibleInbox(env: Bindings, accountId: string, inboxId: string, viewer: Viewer): Promise<InboxRow> {
  if (viewer.role === "administrator") return requireInbox(env, accountId, inboxId);
  const row = await database(env)
    .select({ inbox: inboxes })
    .from(inboxes)
    .innerJoin(inboxMembers, and(eq(inboxMembers.inboxId, inboxes.id), eq(inboxMembers.userId, viewer.userId)))
    .where(and(eq(inboxes.accountId, accountId), eq(inboxes.id, inboxId), isNull(inboxes.deletedAt)))
    .get();
  if (!row) throw notFound("inbox_not_found", "inbox", inboxId);
  return row.inbox;
}

/** The live inbox behind a public identifier (integrator URLs), or null; deleted inboxes answer null. */
export async function findInboxByIdentifier(env: Bindings, identifier: string): Promise<InboxRow | null> {
  const row = await database(env)
    .select()
    .from(inboxes)
    .where(and(eq(inboxes.identifier, identifier), isNull(inboxes.deletedAt)))
    .get();
  return row ?? null;
}

export type InboxPatch = {
  name?: string;
  webhook_url?: string | null;
  webhook_enabled?: boolean;
  lock_to_single_conversation?: boolean;
  auto_assignment?: boolean;
  max_assignment_limit?: number | null;
};

export async function updateInbox(env: Bindings, accountId: string, inboxId: string, patch: InboxPatch): Promise<Inbox> {
  const now = Date.now();
  const set: Partial<InboxRow> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.lock_to_single_conversation !== undefined) set.lockToSingleConversation = patch.lock_to_single_conversation;
  if (patch.auto_assignment !== undefined) set.autoAssignment = patch.auto_assignment;
  if (patch.max_assignment_limit !== undefined) set.maxAssignmentLimit = patch.max_assignment_limit;
  if (patch.webhook_url !== undefined) {
    set.webhookUrl = patch.webhook_url === null ? null : webhookUrl(env, patch.webhook_url);
    // A new URL (or none) starts over: an endpoint disabled by a 410 is enabled again.
    set.webhookDisabledAt = null;
    set.webhookDisabledReason = null;
  }
  if (patch.webhook_enabled === true) {
    set.webhookDisabledAt = null;
    set.webhookDisabledReason = null;
  } else if (patch.webhook_enabled === false) {
    set.webhookDisabledAt = now;
    set.webhookDisabledReason = "Disabled by an administrator.";
  }
  if (Object.keys(set).length === 0) return toInbox(await requireInbox(env, accountId, inboxId));
  const [row] = await database(env)
    .update(inboxes)
    .set({ ...set, updatedAt: now })
    .where(and(eq(inboxes.accountId, accountId), eq(inboxes.id, inboxId), isNull(inboxes.deletedAt)))
    .returning();
  if (!row) throw notFound("inbox_not_found", "inbox", inboxId);
  return toInbox(row);
}

/**
 * Soft-deletes an inbox in one batch: the row is kept (its conversations and messages stay readable in the
 * account), its identifier stops resolving, its inbox tokens are revoked and its pending webhook
 * deliveries end as failed, so nothing more is sent. Members are kept so agents still see the history.
 */
export async function deleteInbox(env: Bindings, accountId: string, inboxId: string): Promise<void> {
  const now = Date.now();
  const db = database(env);
  const [deleted] = await db.batch([
    db
      .update(inboxes)
      .set({ deletedAt: now, updatedAt: now })
      .where(and(eq(inboxes.accountId, accountId), eq(inboxes.id, inboxId), isNull(inboxes.deletedAt)))
      .returning({ id: inboxes.id }),
    db
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.accountId, accountId), eq(apiTokens.inboxId, inboxId), isNull(apiTokens.revokedAt))),
    db
      .update(webhookDeliveries)
      .set({ state: "failed", lastError: "The inbox was deleted.", completedAt: now, updatedAt: now })
      .where(
        and(
          eq(webhookDeliveries.accountId, accountId),
          eq(webhookDeliveries.inboxId, inboxId),
          eq(webhookDeliveries.state, "pending"),
        ),
      ),
  ]);
  if (deleted.length === 0) throw notFound("inbox_not_found", "inbox", inboxId);
}

/** A new current secret; the old one becomes the previous and keeps signing for 24 h. A third secret never signs. */
export async function rotateSecret(env: Bindings, accountId: string, inboxId: string): Promise<InboxWithSecret> {
  const now = Date.now();
  const secret = newWebhookSecret();
  const [row] = await database(env)
    .update(inboxes)
    .set({
      previousWebhookSecret: sql`${inboxes.webhookSecret}`,
      previousSecretExpiresAt: now + SECRET_GRACE_MS,
      webhookSecret: secret,
      updatedAt: now,
    })
    .where(and(eq(inboxes.accountId, accountId), eq(inboxes.id, inboxId), isNull(inboxes.deletedAt)))
    .returning();
  if (!row) throw notFound("inbox_not_found", "inbox", inboxId);
  return { ...toInbox(row), secret };
}

function chunks<T>(items: T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

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
  for (const chunk of chunks(wanted, ID_CHUNK)) {
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
  const writes: BatchItem<"sqlite">[] = chunks(wanted, ID_CHUNK).map((chunk) =>
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
  await db.batch([
    db.delete(inboxMembers).where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.inboxId, inboxId))),
    ...writes,
  ]);
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

/** A token that can use the integrator API of this one inbox and nothing else. */
export async function createInboxToken(env: Bindings, accountId: string, inboxId: string): Promise<IssuedToken> {
  await requireInbox(env, accountId, inboxId);
  const { issued, row } = await mintToken({ accountId, kind: "inbox", inboxId });
  await database(env).insert(apiTokens).values(row);
  return issued;
}

export async function revokeInboxToken(env: Bindings, accountId: string, inboxId: string, tokenId: string): Promise<void> {
  await requireInbox(env, accountId, inboxId);
  await revokeToken(env, accountId, tokenId, { inboxId });
}

/**
 * Sends a signed `webhook.test` event to the inbox's webhook URL now and reports the attempt, whatever the
 * endpoint answered. Not recorded as an event or delivery: it is a probe, and it also reaches an endpoint
 * that a 410 disabled, so an integrator can check a fix before re-enabling it.
 */
export async function sendTestPing(env: Bindings, accountId: string, inboxId: string, userId: string): Promise<AttemptResult> {
  const inbox = await requireInbox(env, accountId, inboxId);
  if (!inbox.webhookUrl) {
    throw new ApiError("no_webhook_url", `Inbox '${inboxId}' has no webhook_url; set one with PATCH first.`);
  }
  // Checked again: the policy (ALLOW_LOOPBACK_WEBHOOKS) may have changed since the URL was stored.
  const verdict = judgeWebhookUrl(inbox.webhookUrl, { allowLoopback: config(env).allowLoopbackWebhooks });
  if (!verdict.ok) {
    throw new ApiError(
      "webhook_url_not_allowed",
      `The inbox's webhook_url is no longer allowed (rule '${verdict.rule}'): ${verdict.reason}. Set a public https URL with PATCH.`,
      { extensions: { rule: verdict.rule } },
    );
  }
  const url = verdict.url;
  const now = Date.now();
  const id = newId("evt", now);
  const body = JSON.stringify({
    id,
    event: "webhook.test",
    sequence: null,
    created_at: iso(now),
    account: { id: accountId },
    inbox: { id: inbox.id, name: inbox.name },
    origin: { type: "user", id: userId },
  });
  const headers = await webhookHeaders({ secrets: activeSecrets(inbox, now), id, timestamp: Math.floor(now / 1000), body });
  return attemptDelivery({ url, headers, body, timeoutMs: config(env).webhookTimeoutMs });
}
