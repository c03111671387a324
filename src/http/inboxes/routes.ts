import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { listMembers, setMembers } from "../../domain/inbox-members";
import { createInboxToken, revokeInboxToken } from "../../domain/inbox-tokens";
import { createInbox, deleteInbox, listInboxes, requireVisibleInbox, rotateSecret, sendTestPing, toInbox, updateInbox } from "../../domain/inboxes";
import { accountUser } from "../auth";
import type { AppContext, AppEnv } from "../context";
import { idempotent } from "../idempotency";
import {
  bearerSecurity,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  listOf,
  PaginationQuery,
} from "../openapi";
import { AccountParams, IssuedTokenSchema } from "../users/schemas";
import {
  AttemptResultSchema,
  InboxParams,
  InboxPatchSchema,
  InboxSchema,
  InboxTokenParams,
  InboxWithSecretSchema,
  MembersBodySchema,
  MembersSchema,
  NewInboxSchema,
} from "./schemas";

const tags = ["Inboxes"];

/** Before a stored answer about an inbox is replayed: the inbox still exists (and the caller may see it). */
const liveInbox = (c: AppContext) => requireVisibleInbox(c.env, c.req.param("account_id") ?? "", c.req.param("inbox_id") ?? "", c.get("user"));
const base = "/v1/accounts/{account_id}/inboxes";

const createInboxRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"))] as const,
  method: "post",
  path: base,
  operationId: "createInbox",
  tags,
  summary: "Create an API inbox (administrators only); the response carries its webhook secret, shown only here",
  description: "Administrators only. An API inbox is where one integration's conversations arrive. The response carries the inbox's `identifier` (the `{inbox_identifier}` of the integrator routes) and the webhook signing `secret`, shown only here. Webhooks go to `webhook_url` once it is set; loopback and private addresses are refused.",
  security: bearerSecurity,
  request: { params: AccountParams, headers: IdempotencyKeyHeader, body: jsonBody(NewInboxSchema) },
  responses: {
    201: jsonResponse(InboxWithSecretSchema, "The new inbox and its webhook signing secret"),
    ...errorResponses(400, 403, 404, 413, 415, 422),
  },
});

const listInboxesRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "get",
  path: base,
  operationId: "listInboxes",
  tags,
  summary: "List inboxes (agents see only those they are members of)",
  description: "Administrators see every inbox of the account, agents only those they are members of. Never includes the webhook secret. Page with `cursor`.",
  security: bearerSecurity,
  request: { params: AccountParams, query: PaginationQuery },
  responses: { 200: jsonResponse(listOf(InboxSchema, "InboxList"), "A page of inboxes"), ...errorResponses(400, 403, 404, 422) },
});

const getInboxRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "get",
  path: `${base}/{inbox_id}`,
  operationId: "getInbox",
  tags,
  summary: "Get an inbox (never its secret)",
  description: "The inbox's settings, webhook URL and `webhook_status` (disabled after the endpoint answered 410 Gone). The secret is never shown again; rotate it if it is lost.",
  security: bearerSecurity,
  request: { params: InboxParams },
  responses: { 200: jsonResponse(InboxSchema, "The inbox"), ...errorResponses(403, 404, 422) },
});

const updateInboxRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "patch",
  path: `${base}/{inbox_id}`,
  operationId: "updateInbox",
  tags,
  summary: "Change an inbox's name, webhook URL or settings (administrators only)",
  description: "Administrators only. Fields you leave out keep their value. PATCHing a new `webhook_url`, or `webhook_enabled: true`, enables an endpoint again that was disabled (it answered 410 Gone).",
  security: bearerSecurity,
  request: { params: InboxParams, body: jsonBody(InboxPatchSchema) },
  responses: { 200: jsonResponse(InboxSchema, "The updated inbox"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const deleteInboxRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "delete",
  path: `${base}/{inbox_id}`,
  operationId: "deleteInbox",
  tags,
  summary: "Delete an inbox: its identifier and tokens stop working, webhooks stop; conversations stay readable",
  description: "Administrators only. The identifier answers 404 at once, its inbox tokens are revoked, pending webhook deliveries end `failed` and no new events are delivered. Its conversations stay readable by the account's agents (`inbox_deleted: true`).",
  security: bearerSecurity,
  request: { params: InboxParams },
  responses: { 204: { description: "Deleted" }, ...errorResponses(403, 404) },
});

const rotateSecretRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"), { beforeReplay: liveInbox })] as const,
  method: "post",
  path: `${base}/{inbox_id}/secret/rotate`,
  operationId: "rotateInboxSecret",
  tags,
  summary: "Issue a new webhook secret; for 24 h deliveries are signed with both the old and the new one",
  description: "Administrators only. Returns the new secret, shown only here. For 24 h deliveries carry two signatures (old and new, space-separated), so you can deploy the new secret without losing a webhook.",
  security: bearerSecurity,
  request: { params: InboxParams, headers: IdempotencyKeyHeader },
  responses: {
    200: jsonResponse(InboxWithSecretSchema, "The inbox with its new secret, shown only here"),
    ...errorResponses(400, 403, 404),
  },
});

const setMembersRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "put",
  path: `${base}/{inbox_id}/members`,
  operationId: "setInboxMembers",
  tags,
  summary: "Replace the set of users who work this inbox (administrators only)",
  description: "Administrators only. Replaces the whole set of users who work this inbox: they see its conversations and can be assigned to them.",
  security: bearerSecurity,
  request: { params: InboxParams, body: jsonBody(MembersBodySchema) },
  responses: { 200: jsonResponse(MembersSchema, "The inbox's members now"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const listMembersRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "get",
  path: `${base}/{inbox_id}/members`,
  operationId: "listInboxMembers",
  tags,
  summary: "The users who work this inbox",
  description: "The users who work this inbox, for assignment pickers. Administrators see every inbox; an agent only an inbox they are a member of.",
  security: bearerSecurity,
  request: { params: InboxParams },
  responses: { 200: jsonResponse(MembersSchema, "The inbox's members"), ...errorResponses(403, 404, 422) },
});

const testWebhookRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"), { beforeReplay: liveInbox })] as const,
  method: "post",
  path: `${base}/{inbox_id}/webhook/test`,
  operationId: "testInboxWebhook",
  tags,
  summary: "Send a signed webhook.test event to the webhook URL now and report how the endpoint answered",
  description:
    "Answers 200 whatever the endpoint did: read `ok`, `status_code` and `error`. A 2xx within the timeout is a success; redirects are not followed.",
  security: bearerSecurity,
  request: { params: InboxParams, headers: IdempotencyKeyHeader },
  responses: { 200: jsonResponse(AttemptResultSchema, "The attempt"), ...errorResponses(400, 403, 404, 422) },
});

const createTokenRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"), { beforeReplay: liveInbox })] as const,
  method: "post",
  path: `${base}/{inbox_id}/tokens`,
  operationId: "createInboxToken",
  tags,
  summary: "Issue a token limited to this inbox's integrator API (administrators only)",
  description: "Administrators only. An inbox token may call only the integrator routes under `/v1/inboxes/{identifier}` of this inbox: give it to the integration's server. The value is shown only in this response.",
  security: bearerSecurity,
  request: { params: InboxParams, headers: IdempotencyKeyHeader },
  responses: { 201: jsonResponse(IssuedTokenSchema, "The token, shown only here"), ...errorResponses(400, 403, 404) },
});

const revokeTokenRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "delete",
  path: `${base}/{inbox_id}/tokens/{token_id}`,
  operationId: "revokeInboxToken",
  tags,
  summary: "Revoke an inbox token; it stops working on the next request",
  description: "Administrators only. Requests with the token get 401 from the next one on; the inbox's other tokens keep working.",
  security: bearerSecurity,
  request: { params: InboxTokenParams },
  responses: { 204: { description: "Revoked" }, ...errorResponses(403, 404) },
});

export const inboxRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createInboxRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    return c.json(await createInbox(c.env, account_id, c.req.valid("json")), 201);
  })
  .openapi(listInboxesRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    return c.json(await listInboxes(c.env, account_id, c.get("user"), c.req.valid("query")), 200);
  })
  .openapi(getInboxRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(toInbox(await requireVisibleInbox(c.env, account_id, inbox_id, c.get("user"))), 200);
  })
  .openapi(updateInboxRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await updateInbox(c.env, account_id, inbox_id, c.req.valid("json")), 200);
  })
  .openapi(deleteInboxRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    await deleteInbox(c.env, account_id, inbox_id);
    return c.body(null, 204);
  })
  .openapi(rotateSecretRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await rotateSecret(c.env, account_id, inbox_id), 200);
  })
  .openapi(setMembersRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    const members = await setMembers(c.env, account_id, inbox_id, c.req.valid("json").user_ids);
    return c.json({ data: members, next_cursor: null }, 200);
  })
  .openapi(listMembersRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    await requireVisibleInbox(c.env, account_id, inbox_id, c.get("user"));
    return c.json({ data: await listMembers(c.env, account_id, inbox_id), next_cursor: null }, 200);
  })
  .openapi(testWebhookRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await sendTestPing(c.env, account_id, inbox_id, c.get("user").userId), 200);
  })
  .openapi(createTokenRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await createInboxToken(c.env, account_id, inbox_id), 201);
  })
  .openapi(revokeTokenRoute, async (c) => {
    const { account_id, inbox_id, token_id } = c.req.valid("param");
    await revokeInboxToken(c.env, account_id, inbox_id, token_id);
    return c.body(null, 204);
  });
