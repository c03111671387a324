// An account's inboxes: create, list, read, change, delete, rotate the webhook secret. Their members are in
// inbox-members.ts, their tokens in inbox-tokens.ts.
import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import type { UserViewer } from "../conversation/access";
import { newWebhookSecret } from "../core/crypto";
import { newId, newInboxIdentifier } from "../core/ids";
import { decodeCursor, page } from "../core/pagination";
import { iso } from "../core/time";
import { checkWebhookUrl } from "../core/webhook-url";
import { inboxDirectory } from "../db/control/schema";
import { controlDatabase } from "../db/shards";
import { database, sentWrite } from "../db/client";
import { apiTokens, inboxes, inboxMembers, webhookDeliveries, type PayloadFormat, type SignatureScheme } from "../db/schema";
export { PAYLOAD_FORMATS, SIGNATURE_SCHEMES } from "../db/schema";
import type { AttemptResult } from "../delivery/attempt";
import { pingWebhook } from "../delivery/ping";
import { config, type Bindings } from "../env";
import { notFound } from "../errors/problem";
import { newIdentitySecret } from "./identity";

export type InboxRow = typeof inboxes.$inferSelect;

/** How long the previous secret keeps signing after a rotation. */
export const SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

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
  public_client_api: boolean;
  webhook_payload_format: PayloadFormat;
  webhook_signature: SignatureScheme;
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
    public_client_api: row.publicClientApi,
    webhook_payload_format: row.webhookPayloadFormat,
    webhook_signature: row.webhookSignature,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
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
  public_client_api?: boolean;
  webhook_payload_format?: PayloadFormat;
  webhook_signature?: SignatureScheme;
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
    publicClientApi: input.public_client_api ?? false,
    webhookPayloadFormat: input.webhook_payload_format ?? "edge-inbox",
    webhookSignature: input.webhook_signature ?? "standard",
    maxAssignmentLimit: input.max_assignment_limit ?? null,
    eventsPrunedThrough: null,
    identitySecret: newIdentitySecret(),
    hmacMandatory: false,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  // The directory first: an identifier it knows whose inbox never got written is found nowhere (a 404).
  await controlDatabase(env).insert(inboxDirectory).values({ identifier: row.identifier, accountId: row.accountId });
  await database(env).insert(inboxes).values(row);
  return { ...toInbox(row), secret: row.webhookSecret };
}

/** Administrators see every inbox of the account, agents only those they are members of. */
export async function listInboxes(
  env: Bindings,
  accountId: string,
  viewer: UserViewer,
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
export async function requireVisibleInbox(env: Bindings, accountId: string, inboxId: string, viewer: UserViewer): Promise<InboxRow> {
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
  public_client_api?: boolean;
  webhook_payload_format?: PayloadFormat;
  webhook_signature?: SignatureScheme;
};

export async function updateInbox(env: Bindings, accountId: string, inboxId: string, patch: InboxPatch): Promise<Inbox> {
  const now = Date.now();
  const set: Partial<InboxRow> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.lock_to_single_conversation !== undefined) set.lockToSingleConversation = patch.lock_to_single_conversation;
  if (patch.auto_assignment !== undefined) set.autoAssignment = patch.auto_assignment;
  if (patch.max_assignment_limit !== undefined) set.maxAssignmentLimit = patch.max_assignment_limit;
  if (patch.public_client_api !== undefined) set.publicClientApi = patch.public_client_api;
  if (patch.webhook_payload_format !== undefined) set.webhookPayloadFormat = patch.webhook_payload_format;
  if (patch.webhook_signature !== undefined) set.webhookSignature = patch.webhook_signature;
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
  const [deleted] = await sentWrite(db.batch([
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
  ]));
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

/** Sends a signed `webhook.test` probe to the inbox's webhook now (delivery/ping.ts) and reports the attempt. */
export async function sendTestPing(env: Bindings, accountId: string, inboxId: string, userId: string): Promise<AttemptResult> {
  return pingWebhook(env, await requireInbox(env, accountId, inboxId), userId);
}
