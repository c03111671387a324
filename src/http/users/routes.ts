import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { issueUserToken, revokeToken } from "../../domain/tokens";
import { createUser, deleteUser, listUsers, requireUser, toUser, updateUser } from "../../domain/users";
import { accountUser, authenticated, checkAccountUser } from "../auth";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { idempotent } from "../idempotency";
import {
  bearerSecurity,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  listOf,
  PaginationQuery,
  pathParam,
} from "../openapi";
import { AccountParams, AccountUserParams, IssuedTokenSchema, NewUserSchema, UserPatchSchema, UserSchema } from "./schemas";

const tags = ["Users"];

/** Administrators manage everyone's tokens; a user may manage their own. */
const selfOrAdministrator: MiddlewareHandler<AppEnv> = async (c, next) => {
  const caller = checkAccountUser(authenticated(c), c.req.param("account_id") ?? "", "agent");
  if (caller.userId !== c.req.param("user_id")) checkAccountUser(caller, caller.accountId, "administrator");
  c.set("user", caller);
  return next();
};

const createUserRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"))] as const,
  method: "post",
  path: "/v1/accounts/{account_id}/users",
  operationId: "createUser",
  tags,
  summary: "Add an administrator or agent (administrators only)",
  description: "Administrators add people who work conversations. The email must be unique in the account (409 `email_taken`). The user cannot call the API until a token is issued for them with `POST …/users/{user_id}/tokens`.",
  security: bearerSecurity,
  request: { params: AccountParams, headers: IdempotencyKeyHeader, body: jsonBody(NewUserSchema) },
  responses: { 201: jsonResponse(UserSchema, "The new user"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

const listUsersRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "get",
  path: "/v1/accounts/{account_id}/users",
  operationId: "listUsers",
  tags,
  summary: "List the account's users",
  description: "Every user of the account, administrators and agents, one page at a time: pass the `next_cursor` of a page as `cursor` to get the next. Any user of the account may list.",
  security: bearerSecurity,
  request: { params: AccountParams, query: PaginationQuery },
  responses: { 200: jsonResponse(listOf(UserSchema, "UserList"), "A page of users"), ...errorResponses(400, 403, 404, 422) },
});

const getUserRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "get",
  path: "/v1/accounts/{account_id}/users/{user_id}",
  operationId: "getUser",
  tags,
  summary: "Get a user",
  description: "Any user of the account may read another's profile: name, email, role and availability. An id from another account is a 404, as if it did not exist.",
  security: bearerSecurity,
  request: { params: AccountUserParams },
  responses: { 200: jsonResponse(UserSchema, "The user"), ...errorResponses(403, 404, 422) },
});

const updateUserRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "patch",
  path: "/v1/accounts/{account_id}/users/{user_id}",
  operationId: "updateUser",
  tags,
  summary: "Rename a user, change their role or availability (administrators only)",
  description: "Administrators only. Fields you leave out keep their value. The account's last administrator cannot be demoted (409 `invalid_state`); availability counts for round-robin assignment.",
  security: bearerSecurity,
  request: { params: AccountUserParams, body: jsonBody(UserPatchSchema) },
  responses: { 200: jsonResponse(UserSchema, "The updated user"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const deleteUserRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "delete",
  path: "/v1/accounts/{account_id}/users/{user_id}",
  operationId: "deleteUser",
  tags,
  summary: "Remove a user; their tokens stop working (administrators only)",
  description: "Administrators only. The user's tokens stop working at once. The account's last administrator cannot be removed (409 `invalid_state`).",
  security: bearerSecurity,
  request: { params: AccountUserParams },
  responses: { 204: { description: "Removed" }, ...errorResponses(403, 404, 409) },
});

const createTokenRoute = createRoute({
  middleware: [idempotent(selfOrAdministrator)] as const,
  method: "post",
  path: "/v1/accounts/{account_id}/users/{user_id}/tokens",
  operationId: "createUserToken",
  tags,
  summary: "Issue a token for a user (administrators, or the user themself)",
  description: "An administrator may issue a token for any user, a user for themself. The token value is shown only in this response; send it as `Authorization: Bearer …`.",
  security: bearerSecurity,
  request: { params: AccountUserParams, headers: IdempotencyKeyHeader },
  responses: { 201: jsonResponse(IssuedTokenSchema, "The token, shown only here"), ...errorResponses(400, 403, 404) },
});

const revokeTokenRoute = createRoute({
  middleware: [selfOrAdministrator] as const,
  method: "delete",
  path: "/v1/accounts/{account_id}/users/{user_id}/tokens/{token_id}",
  operationId: "revokeUserToken",
  tags,
  summary: "Revoke a user's token; it stops working on the next request",
  description: "An administrator may revoke any user's token, a user their own. Requests with the token get 401 from the next one on; other tokens of the user keep working.",
  security: bearerSecurity,
  request: {
    params: AccountUserParams.extend({
      token_id: pathParam("token_id"),
    }),
  },
  responses: { 204: { description: "Revoked" }, ...errorResponses(403, 404) },
});


export const userRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createUserRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    return c.json(await createUser(c.env, account_id, c.req.valid("json")), 201);
  })
  .openapi(listUsersRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    return c.json(await listUsers(c.env, account_id, c.req.valid("query")), 200);
  })
  .openapi(getUserRoute, async (c) => {
    const { account_id, user_id } = c.req.valid("param");
    return c.json(toUser(await requireUser(c.env, account_id, user_id)), 200);
  })
  .openapi(updateUserRoute, async (c) => {
    const { account_id, user_id } = c.req.valid("param");
    return c.json(await updateUser(c.env, account_id, user_id, c.req.valid("json")), 200);
  })
  .openapi(deleteUserRoute, async (c) => {
    const { account_id, user_id } = c.req.valid("param");
    await deleteUser(c.env, account_id, user_id);
    return c.body(null, 204);
  })
  .openapi(createTokenRoute, async (c) => {
    const { account_id, user_id } = c.req.valid("param");
    return c.json(await issueUserToken(c.env, account_id, user_id), 201);
  })
  .openapi(revokeTokenRoute, async (c) => {
    const { account_id, user_id, token_id } = c.req.valid("param");
    await revokeToken(c.env, account_id, token_id, { userId: user_id });
    return c.body(null, 204);
  });
