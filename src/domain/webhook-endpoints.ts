// Account-level webhook endpoints (docs/delivery.md): each receives the account's events — all types or
// `events`, all inboxes or `inbox_ids` — signed with its own secret (rotatable, the old one signing 24 h
// more), with the same schedule, 410-disable and ordered lines as the inbox's own endpoint. The fan-out
// is in delivery/outbox.ts; this module is their CRUD, the secret and the test ping.
import { and, asc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { newWebhookSecret } from "../core/crypto";
import { newId } from "../core/ids";
import { decodeCursor, page } from "../core/pagination";
import { iso } from "../core/time";
import { checkWebhookUrl } from "../core/webhook-url";
import { database, sentWrite } from "../db/client";
import { inboxes, webhookDeliveries, webhookEndpoints, type PayloadFormat, type SignatureScheme } from "../db/schema";
import type { AttemptResult } from "../delivery/attempt";
import { pingEndpoint } from "../delivery/ping";
import { config, type Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { SECRET_GRACE_MS } from "./inboxes";

export type EndpointRow = typeof webhookEndpoints.$inferSelect;

/** The event types an endpoint can ask for (the ping, webhook.test, is sent only on request). */
export const ENDPOINT_EVENT_TYPES = [
  "message_created",
  "message_updated",
  "conversation_created",
  "conversation_status_changed",
  "conversation_updated",
  "contact_created",
  "contact_updated",
  "contact_deleted",
] as const;
export type EndpointEventType = (typeof ENDPOINT_EVENT_TYPES)[number];

/** An account has at most this many live endpoints: every event is matched against each of them. */
export const MAX_ENDPOINTS = 20;
/** An endpoint names at most this many inboxes (more: leave `inbox_ids` out for all of them). */
export const MAX_ENDPOINT_INBOXES = 100;

export type WebhookEndpoint = {
  id: string;
  url: string;
  description: string | null;
  events: string[] | null;
  inbox_ids: string[] | null;
  status: { enabled: boolean; disabled_at: string | null; disabled_reason: string | null };
  payload_format: PayloadFormat;
  signature: SignatureScheme;
  created_at: string;
  updated_at: string;
};

export function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: row.events,
    inbox_ids: row.inboxIds,
    status: { enabled: row.disabledAt === null, disabled_at: iso(row.disabledAt), disabled_reason: row.disabledReason },
    payload_format: row.payloadFormat,
    signature: row.signature,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

export type EndpointInput = {
  url: string;
  description?: string | null;
  events?: EndpointEventType[] | null;
  inbox_ids?: string[] | null;
  payload_format?: PayloadFormat;
  signature?: SignatureScheme;
};

export type EndpointPatch = Partial<EndpointInput> & { enabled?: boolean };

/** Every listed inbox must be a live inbox of the account: 422 naming the first that is not. */
async function checkInboxes(env: Bindings, accountId: string, inboxIds: string[]): Promise<void> {
  const found = new Set(
    (
      await database(env)
        .select({ id: inboxes.id })
        .from(inboxes)
        .where(and(eq(inboxes.accountId, accountId), inArray(inboxes.id, inboxIds), isNull(inboxes.deletedAt)))
    ).map((row) => row.id),
  );
  const unknown = inboxIds.flatMap((id, index) => (found.has(id) ? [] : [{ id, index }]));
  if (unknown.length === 0) return;
  const first = unknown[0]!;
  throw new ApiError(
    "validation_failed",
    `inbox_ids[${first.index}] '${first.id}' is not an inbox of this account; list only ids from GET /v1/accounts/${accountId}/inboxes.`,
    { errors: unknown.map(({ id, index }) => ({ location: "body" as const, pointer: `/inbox_ids/${index}`, detail: `'${id}' is not an inbox of this account.` })) },
  );
}

/** Duplicates removed, order kept; an empty list would send nothing — refused rather than stored. */
function distinct(values: string[] | null | undefined, field: string): string[] | null {
  if (values == null) return null;
  if (values.length === 0) {
    throw new ApiError("validation_failed", `${field} is empty: nothing would be sent. Leave it out (or null) for all.`, {
      errors: [{ location: "body", pointer: `/${field}`, detail: "Must not be empty; null for all." }],
    });
  }
  return [...new Set(values)];
}

export async function createEndpoint(env: Bindings, accountId: string, input: EndpointInput): Promise<WebhookEndpoint & { secret: string }> {
  const url = checkWebhookUrl(input.url, { allowLoopback: config(env).allowLoopbackWebhooks, field: "url" });
  const events = distinct(input.events, "events");
  const inboxIds = distinct(input.inbox_ids, "inbox_ids");
  if (inboxIds) await checkInboxes(env, accountId, inboxIds);
  const now = Date.now();
  const row: EndpointRow = {
    id: newId("whe", now),
    accountId,
    url,
    description: input.description ?? null,
    events,
    inboxIds,
    webhookSecret: newWebhookSecret(),
    previousWebhookSecret: null,
    previousSecretExpiresAt: null,
    disabledAt: null,
    disabledReason: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    payloadFormat: input.payload_format ?? "edge-inbox",
    signature: input.signature ?? "standard",
  };
  // The limit is checked in the insert itself, so concurrent creates cannot pass it together.
  const inserted = await database(env).run(sql`INSERT INTO webhook_endpoints
      (id, account_id, url, description, events, inbox_ids, webhook_secret, created_at, updated_at, payload_format, signature)
    SELECT ${row.id}, ${accountId}, ${url}, ${row.description}, ${events ? JSON.stringify(events) : null},
           ${inboxIds ? JSON.stringify(inboxIds) : null}, ${row.webhookSecret}, ${now}, ${now}, ${row.payloadFormat}, ${row.signature}
    WHERE (SELECT count(*) FROM webhook_endpoints WHERE account_id = ${accountId} AND deleted_at IS NULL) < ${MAX_ENDPOINTS}`);
  if ((inserted.meta.changes ?? 0) === 0) {
    throw new ApiError("webhook_endpoint_limit", `An account has at most ${MAX_ENDPOINTS} webhook endpoints; delete one first.`);
  }
  return { ...toEndpoint(row), secret: row.webhookSecret };
}

export async function listEndpoints(env: Bindings, accountId: string, options: { limit: number; cursor?: string }) {
  const after = decodeCursor(options.cursor, { id: "string" });
  const rows = await database(env)
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.accountId, accountId), isNull(webhookEndpoints.deletedAt), after ? gt(webhookEndpoints.id, after.id) : undefined))
    .orderBy(asc(webhookEndpoints.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ id: row.id }));
  return { data: result.data.map(toEndpoint), next_cursor: result.next_cursor };
}

/** A live endpoint of the account, or 404 `webhook_endpoint_not_found`. */
export async function requireEndpoint(env: Bindings, accountId: string, endpointId: string): Promise<EndpointRow> {
  const row = await database(env)
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.accountId, accountId), eq(webhookEndpoints.id, endpointId), isNull(webhookEndpoints.deletedAt)))
    .get();
  if (!row) throw notFound("webhook_endpoint_not_found", "webhook endpoint", endpointId);
  return row;
}

export async function updateEndpoint(env: Bindings, accountId: string, endpointId: string, patch: EndpointPatch): Promise<WebhookEndpoint> {
  const now = Date.now();
  const set: Partial<EndpointRow> = {};
  if (patch.url !== undefined) {
    set.url = checkWebhookUrl(patch.url, { allowLoopback: config(env).allowLoopbackWebhooks, field: "url" });
    // A new URL starts over: an endpoint disabled by a 410 is enabled again.
    set.disabledAt = null;
    set.disabledReason = null;
  }
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.payload_format !== undefined) set.payloadFormat = patch.payload_format;
  if (patch.signature !== undefined) set.signature = patch.signature;
  if (patch.events !== undefined) set.events = distinct(patch.events, "events");
  if (patch.inbox_ids !== undefined) {
    set.inboxIds = distinct(patch.inbox_ids, "inbox_ids");
    if (set.inboxIds) await checkInboxes(env, accountId, set.inboxIds);
  }
  if (patch.enabled === true) {
    set.disabledAt = null;
    set.disabledReason = null;
  } else if (patch.enabled === false) {
    set.disabledAt = now;
    set.disabledReason = "Disabled by an administrator.";
  }
  if (Object.keys(set).length === 0) return toEndpoint(await requireEndpoint(env, accountId, endpointId));
  const [row] = await database(env)
    .update(webhookEndpoints)
    .set({ ...set, updatedAt: now })
    .where(and(eq(webhookEndpoints.accountId, accountId), eq(webhookEndpoints.id, endpointId), isNull(webhookEndpoints.deletedAt)))
    .returning();
  if (!row) throw notFound("webhook_endpoint_not_found", "webhook endpoint", endpointId);
  return toEndpoint(row);
}

/**
 * Soft-deletes an endpoint in one batch: no new deliveries are made for it, its pending ones end failed
 * (a message already on its way finds it deleted: "nowhere to send"), and its secret stops being shown.
 */
export async function deleteEndpoint(env: Bindings, accountId: string, endpointId: string): Promise<void> {
  const now = Date.now();
  const db = database(env);
  const [deleted] = await sentWrite(
    db.batch([
      db
        .update(webhookEndpoints)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(webhookEndpoints.accountId, accountId), eq(webhookEndpoints.id, endpointId), isNull(webhookEndpoints.deletedAt)))
        .returning({ id: webhookEndpoints.id }),
      db
        .update(webhookDeliveries)
        .set({ state: "failed", lastError: "The webhook endpoint was deleted.", completedAt: now, updatedAt: now })
        .where(
          and(
            eq(webhookDeliveries.accountId, accountId),
            eq(webhookDeliveries.endpoint, endpointId),
            eq(webhookDeliveries.state, "pending"),
            sql`EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = ${endpointId} AND w.account_id = ${accountId} AND w.deleted_at = ${now})`,
          ),
        ),
    ]),
  );
  if (deleted.length === 0) throw notFound("webhook_endpoint_not_found", "webhook endpoint", endpointId);
}

/** A new current secret; the old one becomes the previous and keeps signing for 24 h. A third secret never signs. */
export async function rotateEndpointSecret(env: Bindings, accountId: string, endpointId: string): Promise<WebhookEndpoint & { secret: string }> {
  const now = Date.now();
  const secret = newWebhookSecret();
  const [row] = await database(env)
    .update(webhookEndpoints)
    .set({
      previousWebhookSecret: sql`${webhookEndpoints.webhookSecret}`,
      previousSecretExpiresAt: now + SECRET_GRACE_MS,
      webhookSecret: secret,
      updatedAt: now,
    })
    .where(and(eq(webhookEndpoints.accountId, accountId), eq(webhookEndpoints.id, endpointId), isNull(webhookEndpoints.deletedAt)))
    .returning();
  if (!row) throw notFound("webhook_endpoint_not_found", "webhook endpoint", endpointId);
  return { ...toEndpoint(row), secret };
}

/** Sends a signed `webhook.test` probe to the endpoint now (delivery/ping.ts) and reports the attempt. */
export async function pingAccountEndpoint(env: Bindings, accountId: string, endpointId: string, userId: string): Promise<AttemptResult> {
  return pingEndpoint(env, await requireEndpoint(env, accountId, endpointId), userId);
}
