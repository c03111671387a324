import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { listDeliveries, replayDeliveries, retryDelivery } from "../../domain/deliveries";
import { accountUser } from "../auth";
import type { AppEnv } from "../context";
import { idempotent } from "../idempotency";
import { InboxParams } from "../inboxes/schemas";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, listOf, PaginationQuery, pathParam } from "../openapi";

const AttemptSchema = z
  .object({
    attempt: z.number().int(),
    started_at: z.string(),
    duration_ms: z.number().int(),
    status_code: z.number().int().nullable(),
    error: z.string().nullable(),
    response_excerpt: z.string().nullable().openapi({ description: "The first 1 KiB of the response body" }),
  })
  .openapi("DeliveryAttempt");

export const DeliverySchema = z
  .object({
    id: z.string(),
    event_id: z.string().openapi({ description: "Also the webhook-id header: stable across retries and replays" }),
    event_type: z.string(),
    conversation_id: z.string().nullable(),
    sequence: z.number().int().nullable(),
    endpoint: z.string().openapi({ description: "inbox for the inbox's webhook_url; an automation rule id for its send_webhook_event; an account-level endpoint's id (whe_…)" }),
    url: z.string(),
    state: z.enum(["pending", "succeeded", "failed"]),
    attempts_count: z.number().int(),
    next_attempt_at: z.string().nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
    attempts: z.array(AttemptSchema),
  })
  .openapi("WebhookDelivery");

export const ReplayRequestSchema = z
  .strictObject({ since: z.iso.datetime({ offset: true }).openapi({ example: "2026-11-25T12:00:00Z" }) })
  .openapi("ReplayRequest");

export const ReplayResultSchema = z
  .object({
    replayed: z.number().int().openapi({ description: "Events the replay covers (since the time, up to the last event when it was asked for)" }),
    since: z.string(),
    replay_id: z.string().openapi({ description: "The same replay for an identical request: a retry joins it, a repeat after it finished changes nothing" }),
    state: z.enum(["running", "done"]).openapi({ description: "running: worked through in bounded steps, resumed after any crash" }),
  })
  .openapi("ReplayResult");

const tags = ["Webhook deliveries"];

const listRoute = createRoute({
  middleware: [accountUser("administrator")],
  method: "get",
  path: "/v1/accounts/{account_id}/inboxes/{inbox_id}/deliveries",
  operationId: "listDeliveries",
  tags,
  summary: "The inbox's webhook delivery log, newest first, with every attempt",
  description: "Administrators only. Every webhook delivery of the inbox, newest first, with each attempt: time, status code, duration, error and the first 1 KiB of your endpoint's answer. Filter by `state` or `event_type` to find what your endpoint missed. " +
    "Deliveries and attempts are kept for the retention window (RETENTION_DAYS, 30 days by default); older settled ones are deleted, " +
    "so the log ends there. Pending deliveries are kept whatever their age.",
  security: bearerSecurity,
  request: {
    params: InboxParams,
    query: PaginationQuery.extend({
      state: z.enum(["pending", "succeeded", "failed"]).optional(),
      event_type: z.string().max(64).optional(),
    }),
  },
  responses: { 200: jsonResponse(listOf(DeliverySchema, "DeliveryList"), "A page of deliveries"), ...errorResponses(400, 403, 404, 422) },
});

const retryRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"))],
  method: "post",
  path: "/v1/accounts/{account_id}/inboxes/{inbox_id}/deliveries/{delivery_id}/retry",
  operationId: "retryDelivery",
  tags,
  summary: "Send a failed delivery again (same webhook-id, fresh retry schedule)",
  description: "Administrators only. Queues a `failed` delivery again on a fresh retry schedule, with the same `webhook-id`, so your dedupe absorbs a copy you already had. Any other state is 409 `invalid_state`; an inbox without a webhook URL is 409 `no_webhook_url`.",
  security: bearerSecurity,
  request: {
    params: InboxParams.extend({ delivery_id: pathParam("delivery_id") }),
    headers: IdempotencyKeyHeader,
  },
  responses: { 202: jsonResponse(DeliverySchema, "Queued again"), ...errorResponses(400, 403, 404, 409, 422) },
});

const replayRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"))],
  method: "post",
  path: "/v1/accounts/{account_id}/inboxes/{inbox_id}/deliveries/replay",
  operationId: "replayDeliveries",
  tags,
  summary: "Re-send every event since a time, in order, with the same webhook-ids",
  description: "Administrators only. Re-sends every event of the inbox since `since`, in order, with the same `webhook-id`s: recovers an endpoint that lost data, and your dedupe absorbs what you already had. 409 when the inbox has no webhook URL or its endpoint is disabled (it answered 410 Gone). " +
    "Events are kept for the retention window (RETENTION_DAYS, 30 days by default): a `since` older than that is refused " +
    "with 422 `beyond_retention`, which names the oldest replayable time.",
  security: bearerSecurity,
  request: {
    params: InboxParams,
    headers: IdempotencyKeyHeader,
    body: jsonBody(ReplayRequestSchema),
  },
  responses: {
    202: jsonResponse(ReplayResultSchema, "Queued"),
    ...errorResponses(400, 403, 404, 409, 413, 415, 422),
  },
});

export const deliveryRoutes = new OpenAPIHono<AppEnv>()
  .openapi(listRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await listDeliveries(c.env, account_id, inbox_id, c.req.valid("query")), 200);
  })
  .openapi(retryRoute, async (c) => {
    const { account_id, inbox_id, delivery_id } = c.req.valid("param");
    return c.json(await retryDelivery(c.env, account_id, inbox_id, delivery_id), 202);
  })
  .openapi(replayRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    const since = Date.parse(c.req.valid("json").since);
    return c.json(await replayDeliveries(c.env, account_id, inbox_id, since), 202);
  });
