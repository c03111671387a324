// Account-level webhook endpoints: CRUD, secret rotation, test ping, and each endpoint's delivery log,
// retry and replay. Administrators only. The domain is domain/webhook-endpoints.ts and domain/deliveries.ts.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { PAYLOAD_FORMATS, SIGNATURE_SCHEMES } from "../../domain/inboxes";
import { listEndpointDeliveries, replayEndpoint, retryEndpointDelivery } from "../../domain/deliveries";
import {
  createEndpoint,
  deleteEndpoint,
  ENDPOINT_EVENT_TYPES,
  listEndpoints,
  MAX_ENDPOINT_INBOXES,
  MAX_ENDPOINTS,
  pingAccountEndpoint,
  requireEndpoint,
  rotateEndpointSecret,
  toEndpoint,
  updateEndpoint,
} from "../../domain/webhook-endpoints";
import { accountUser } from "../auth";
import type { AppContext, AppEnv } from "../context";
import { DeliverySchema, ReplayRequestSchema, ReplayResultSchema } from "../deliveries/routes";
import { idempotent } from "../idempotency";
import { AttemptResultSchema } from "../inboxes/schemas";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, listOf, PaginationQuery, pathParam } from "../openapi";
import { AccountParams } from "../users/schemas";

const tags = ["Webhooks"];
const base = "/v1/accounts/{account_id}/webhooks";
const EndpointParams = AccountParams.extend({ webhook_id: pathParam("webhook_id") });

const url = z.string().max(2048).openapi({
  description:
    "Where events are POSTed: an absolute https URL with a public host (no credentials, no private, loopback, link-local or metadata addresses).",
  example: "https://integrator.example.com/webhooks/edge-inbox",
  // The platform POSTs to it: the generated SSRF suite (test/hardening/ssrf.test.ts) finds it by this mark.
  "x-called-by-platform": true,
});
const description = z.string().trim().max(500).nullable().openapi({ description: "For your own reference.", example: "CRM sync" });
const events = z
  .array(z.enum(ENDPOINT_EVENT_TYPES))
  .min(1)
  .max(ENDPOINT_EVENT_TYPES.length * 2)
  .nullable()
  .openapi({ description: "The event types sent to this endpoint; null or left out for all of them.", example: ["message_created", "conversation_status_changed"] });
const inboxIds = z
  .array(z.string().min(1).max(64))
  .min(1)
  .max(MAX_ENDPOINT_INBOXES)
  .nullable()
  .openapi({ description: "Only the events of these inboxes; null or left out for all of the account's inboxes, present and future." });

const payloadFormat = z
  .enum(PAYLOAD_FORMATS)
  .openapi({ description: "The body: edge-inbox's envelope (default), or Chatwoot's webhook payloads (docs/chatwoot.md)." });
const signatureScheme = z.enum(SIGNATURE_SCHEMES).openapi({
  description: "standard (default): Standard Webhooks headers; chatwoot: X-Chatwoot-Signature, X-Chatwoot-Timestamp, X-Chatwoot-Delivery; both.",
});

const EndpointSchema = z
  .object({
    id: z.string().openapi({ example: "whe_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()).nullable().openapi({ description: "null: every event type" }),
    inbox_ids: z.array(z.string()).nullable().openapi({ description: "null: every inbox of the account" }),
    status: z
      .object({
        enabled: z.boolean(),
        disabled_at: z.string().nullable(),
        disabled_reason: z.string().nullable().openapi({ description: "e.g. the endpoint answered 410 Gone." }),
      })
      .openapi({ description: "No deliveries are made while disabled; PATCH a new url or enabled: true re-enables." }),
    payload_format: payloadFormat,
    signature: signatureScheme,
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("WebhookEndpoint");

const EndpointWithSecretSchema = EndpointSchema.extend({
  secret: z.string().openapi({
    description: "The endpoint's signing secret (Standard Webhooks). Shown only in this response; store it now.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("WebhookEndpointWithSecret");

const NewEndpointSchema = z
  .strictObject({
    url,
    description: description.optional(),
    events: events.optional(),
    inbox_ids: inboxIds.optional(),
    payload_format: payloadFormat.optional(),
    signature: signatureScheme.optional(),
  })
  .openapi("NewWebhookEndpoint");

const EndpointPatchSchema = z
  .strictObject({
    url: url.optional(),
    description: description.optional(),
    events: events.optional(),
    inbox_ids: inboxIds.optional(),
    payload_format: payloadFormat.optional(),
    signature: signatureScheme.optional(),
    enabled: z.boolean().optional().openapi({ description: "true re-enables a disabled endpoint (e.g. after a 410); false pauses it." }),
  })
  .openapi("WebhookEndpointPatch");

/** Before a stored answer about an endpoint is replayed: the endpoint still exists. */
const liveEndpoint = (c: AppContext) => requireEndpoint(c.env, c.req.param("account_id") ?? "", c.req.param("webhook_id") ?? "");

const admin = accountUser("administrator");

const createEndpointRoute = createRoute({
  middleware: [idempotent(admin)] as const,
  method: "post",
  path: base,
  operationId: "createWebhookEndpoint",
  tags,
  summary: "Add an account-level webhook endpoint; the response carries its signing secret, shown only here",
  description: `Administrators only. The endpoint receives the account's events — every type, or those in \`events\`; of every inbox, or those in \`inbox_ids\` — signed with its own secret (Standard Webhooks), retried on the same schedule, in order per conversation (and per contact), like an inbox's \`webhook_url\`, which stays as it is. At most ${MAX_ENDPOINTS} per account (409 \`webhook_endpoint_limit\`). Loopback and private addresses are refused (422 \`webhook_url_not_allowed\`).`,
  security: bearerSecurity,
  request: { params: AccountParams, headers: IdempotencyKeyHeader, body: jsonBody(NewEndpointSchema) },
  responses: {
    201: jsonResponse(EndpointWithSecretSchema, "The new endpoint and its signing secret"),
    ...errorResponses(400, 403, 404, 409, 413, 415, 422),
  },
});

const listEndpointsRoute = createRoute({
  middleware: [admin] as const,
  method: "get",
  path: base,
  operationId: "listWebhookEndpoints",
  tags,
  summary: "List the account's webhook endpoints (never their secrets)",
  description: "Administrators only. The account-level endpoints, oldest first, with their filters and status. Page with `cursor`.",
  security: bearerSecurity,
  request: { params: AccountParams, query: PaginationQuery },
  responses: { 200: jsonResponse(listOf(EndpointSchema, "WebhookEndpointList"), "A page of endpoints"), ...errorResponses(400, 403, 404, 422) },
});

const getEndpointRoute = createRoute({
  middleware: [admin] as const,
  method: "get",
  path: `${base}/{webhook_id}`,
  operationId: "getWebhookEndpoint",
  tags,
  summary: "Get a webhook endpoint (never its secret)",
  description: "Administrators only. The endpoint's URL, filters and `status` (disabled after it answered 410 Gone). The secret is never shown again; rotate it if it is lost.",
  security: bearerSecurity,
  request: { params: EndpointParams },
  responses: { 200: jsonResponse(EndpointSchema, "The endpoint"), ...errorResponses(403, 404, 422) },
});

const updateEndpointRoute = createRoute({
  middleware: [admin] as const,
  method: "patch",
  path: `${base}/{webhook_id}`,
  operationId: "updateWebhookEndpoint",
  tags,
  summary: "Change a webhook endpoint's URL, filters or description, or pause and re-enable it",
  description: "Administrators only. Fields you leave out keep their value; `null` for `events` or `inbox_ids` means all. A new `url`, or `enabled: true`, enables an endpoint again that was disabled (it answered 410 Gone); replay then sends what it missed.",
  security: bearerSecurity,
  request: { params: EndpointParams, body: jsonBody(EndpointPatchSchema) },
  responses: { 200: jsonResponse(EndpointSchema, "The updated endpoint"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const deleteEndpointRoute = createRoute({
  middleware: [admin] as const,
  method: "delete",
  path: `${base}/{webhook_id}`,
  operationId: "deleteWebhookEndpoint",
  tags,
  summary: "Delete a webhook endpoint: nothing more is sent to it",
  description: "Administrators only. No new deliveries are made for it, its pending deliveries end `failed`, and its secret stops signing. The inboxes' own webhooks are not affected.",
  security: bearerSecurity,
  request: { params: EndpointParams },
  responses: { 204: { description: "Deleted" }, ...errorResponses(403, 404) },
});

const rotateSecretRoute = createRoute({
  middleware: [idempotent(admin, { beforeReplay: liveEndpoint })] as const,
  method: "post",
  path: `${base}/{webhook_id}/secret/rotate`,
  operationId: "rotateWebhookEndpointSecret",
  tags,
  summary: "Issue a new signing secret; for 24 h deliveries are signed with both the old and the new one",
  description: "Administrators only. Returns the new secret, shown only here. For 24 h the endpoint's deliveries carry two signatures (new and old, space-separated), so you can deploy the new secret without losing a webhook.",
  security: bearerSecurity,
  request: { params: EndpointParams, headers: IdempotencyKeyHeader },
  responses: { 200: jsonResponse(EndpointWithSecretSchema, "The endpoint with its new secret, shown only here"), ...errorResponses(400, 403, 404) },
});

const testEndpointRoute = createRoute({
  middleware: [idempotent(admin, { beforeReplay: liveEndpoint })] as const,
  method: "post",
  path: `${base}/{webhook_id}/test`,
  operationId: "testWebhookEndpoint",
  tags,
  summary: "Send a signed webhook.test event to the endpoint now and report how it answered",
  description: "Administrators only. Answers 200 whatever the endpoint did: read `ok`, `status_code` and `error`. Also reaches a disabled endpoint, to check a fix before re-enabling it. A 2xx within the timeout is a success; redirects are not followed.",
  security: bearerSecurity,
  request: { params: EndpointParams, headers: IdempotencyKeyHeader },
  responses: { 200: jsonResponse(AttemptResultSchema, "The attempt"), ...errorResponses(400, 403, 404, 422) },
});

const listDeliveriesRoute = createRoute({
  middleware: [admin] as const,
  method: "get",
  path: `${base}/{webhook_id}/deliveries`,
  operationId: "listWebhookEndpointDeliveries",
  tags,
  summary: "The endpoint's delivery log, newest first, with every attempt",
  description: "Administrators only. Every delivery to this endpoint (of every inbox it takes), newest first, with each attempt: time, status code, duration, error and the first 1 KiB of your endpoint's answer. Filter by `state` or `event_type`. Deliveries and attempts are kept for the retention window (RETENTION_DAYS, 30 days by default).",
  security: bearerSecurity,
  request: {
    params: EndpointParams,
    query: PaginationQuery.extend({
      state: z.enum(["pending", "succeeded", "failed"]).optional(),
      event_type: z.string().max(64).optional(),
    }),
  },
  responses: { 200: jsonResponse(listOf(DeliverySchema, "WebhookEndpointDeliveryList"), "A page of deliveries"), ...errorResponses(400, 403, 404, 422) },
});

const retryDeliveryRoute = createRoute({
  middleware: [idempotent(admin)] as const,
  method: "post",
  path: `${base}/{webhook_id}/deliveries/{delivery_id}/retry`,
  operationId: "retryWebhookEndpointDelivery",
  tags,
  summary: "Send a failed delivery to the endpoint again (same webhook-id, fresh retry schedule)",
  description: "Administrators only. Queues a `failed` delivery of this endpoint again on a fresh retry schedule, with the same `webhook-id`. Any other state, or a disabled endpoint, is 409 `invalid_state`.",
  security: bearerSecurity,
  request: { params: EndpointParams.extend({ delivery_id: pathParam("delivery_id") }), headers: IdempotencyKeyHeader },
  responses: { 202: jsonResponse(DeliverySchema, "Queued again"), ...errorResponses(400, 403, 404, 409, 422) },
});

const replayRoute = createRoute({
  middleware: [idempotent(admin)] as const,
  method: "post",
  path: `${base}/{webhook_id}/replay`,
  operationId: "replayWebhookEndpoint",
  tags,
  summary: "Re-send every event the endpoint takes since a time, in order, with the same webhook-ids",
  description: "Administrators only. Re-sends the account's events since `since` that this endpoint takes now (its `events` and `inbox_ids`), in order per conversation, with the same `webhook-id`s, in bounded resumable steps. Deliveries still pending are left as they are. 409 `invalid_state` when the endpoint is disabled. Events are kept for the retention window (RETENTION_DAYS, 30 days by default): an older `since` is 422 `beyond_retention`.",
  security: bearerSecurity,
  request: { params: EndpointParams, headers: IdempotencyKeyHeader, body: jsonBody(ReplayRequestSchema) },
  responses: { 202: jsonResponse(ReplayResultSchema, "Queued"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

export const webhookEndpointRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createEndpointRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    return c.json(await createEndpoint(c.env, account_id, c.req.valid("json")), 201);
  })
  .openapi(listEndpointsRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    return c.json(await listEndpoints(c.env, account_id, c.req.valid("query")), 200);
  })
  .openapi(getEndpointRoute, async (c) => {
    const { account_id, webhook_id } = c.req.valid("param");
    return c.json(toEndpoint(await requireEndpoint(c.env, account_id, webhook_id)), 200);
  })
  .openapi(updateEndpointRoute, async (c) => {
    const { account_id, webhook_id } = c.req.valid("param");
    return c.json(await updateEndpoint(c.env, account_id, webhook_id, c.req.valid("json")), 200);
  })
  .openapi(deleteEndpointRoute, async (c) => {
    const { account_id, webhook_id } = c.req.valid("param");
    await deleteEndpoint(c.env, account_id, webhook_id);
    return c.body(null, 204);
  })
  .openapi(rotateSecretRoute, async (c) => {
    const { account_id, webhook_id } = c.req.valid("param");
    return c.json(await rotateEndpointSecret(c.env, account_id, webhook_id), 200);
  })
  .openapi(testEndpointRoute, async (c) => {
    const { account_id, webhook_id } = c.req.valid("param");
    return c.json(await pingAccountEndpoint(c.env, account_id, webhook_id, c.get("user").userId), 200);
  })
  .openapi(listDeliveriesRoute, async (c) => {
    const { account_id, webhook_id } = c.req.valid("param");
    return c.json(await listEndpointDeliveries(c.env, account_id, webhook_id, c.req.valid("query")), 200);
  })
  .openapi(retryDeliveryRoute, async (c) => {
    const { account_id, webhook_id, delivery_id } = c.req.valid("param");
    return c.json(await retryEndpointDelivery(c.env, account_id, webhook_id, delivery_id), 202);
  })
  .openapi(replayRoute, async (c) => {
    const { account_id, webhook_id } = c.req.valid("param");
    return c.json(await replayEndpoint(c.env, account_id, webhook_id, Date.parse(c.req.valid("json").since)), 202);
  });
