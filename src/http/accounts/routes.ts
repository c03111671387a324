import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { createAccount, getAccount, listShards, moveAccount, updateAccount } from "../../domain/accounts";
import { authenticated, checkAccountUser, platformOnly } from "../auth";
import type { AppEnv } from "../context";
import { idempotent } from "../idempotency";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, platformSecurity } from "../openapi";
import { AccountParams, IssuedTokenSchema, UserSchema } from "../users/schemas";

const NewAccountSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(255).openapi({ example: "Acme Support" }),
    administrator: z.strictObject({
      name: z.string().trim().min(1).max(255).openapi({ example: "Bruno Lima" }),
      email: z.email().max(320).openapi({ example: "bruno@acme.example" }),
    }),
    shard: z.string().min(1).max(64).optional().openapi({
      example: "SHARD_2",
      description: "The shard to place the account on (GET /v1/shards). Left out: the shard with the fewest accounts.",
    }),
  })
  .openapi("NewAccount");

const CreatedAccountSchema = z
  .object({
    account: z.object({
      id: z.string(),
      name: z.string(),
      created_at: z.string(),
      shard: z.string().openapi({ example: "SHARD_1", description: "The shard database that holds the account's rows" }),
    }),
    user: UserSchema,
    token: IssuedTokenSchema,
  })
  .openapi("CreatedAccount");

const createAccountRoute = createRoute({
  middleware: [idempotent(platformOnly)] as const,
  method: "post",
  path: "/v1/accounts",
  operationId: "createAccount",
  tags: ["Accounts"],
  summary: "Create an account with its first administrator (platform token)",
  description: "Operator only: call it with the deployment's PLATFORM_TOKEN. Creates the account, its first administrator, and a user token for that administrator; the token is in this response only, so store it. Safe to retry with an `Idempotency-Key`.",
  security: platformSecurity,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(NewAccountSchema) },
  responses: {
    201: jsonResponse(CreatedAccountSchema, "The account, its administrator and the administrator's token (shown once)"),
    ...errorResponses(400, 403, 413, 415, 422),
  },
});

const RateLimitsSchema = z
  .object({
    per_token: z.number().int().openapi({ example: 1200, description: "Requests per minute per token" }),
    per_inbox: z.number().int().openapi({
      example: 2400,
      description: "Requests per minute per inbox identifier on the integrator API, from this account's tokens",
    }),
  })
  .openapi("RateLimits", { description: "Token buckets: a full minute's allowance may be used at once, then it refills steadily." });

const AccountSchema = z
  .object({
    id: z.string().openapi({ example: "acc_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
    name: z.string(),
    rate_limits: RateLimitsSchema,
    created_at: z.string(),
    shard: z.string().optional().openapi({ example: "SHARD_1", description: "Operator only: the shard database that holds the account's rows" }),
    moving: z
      .object({
        to: z.string().openapi({ example: "SHARD_2" }),
        state: z.enum(["copying", "switching", "cleaning"]),
        started_at: z.string(),
      })
      .nullable()
      .optional()
      .openapi({ description: "Operator only: the move to another shard in progress, or null" }),
  })
  .openapi("Account");

const limitValue = z.number().int().min(1).max(1_000_000).nullable().optional();

const AccountPatchSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(255).optional(),
    rate_limits: z
      .strictObject({ per_token: limitValue, per_inbox: limitValue })
      .nullable()
      .optional()
      .openapi({ description: "This account's own limits; null (or a null member) goes back to the deployment's default." }),
  })
  .openapi("AccountPatch");


/** The operator, or any user of the account. */
const platformOrAccountUser: MiddlewareHandler<AppEnv> = async (c, next) => {
  const caller = authenticated(c);
  if (caller.kind !== "platform") c.set("user", checkAccountUser(caller, c.req.param("account_id") ?? "", "agent"));
  return next();
};

const getAccountRoute = createRoute({
  middleware: [platformOrAccountUser] as const,
  method: "get",
  path: "/v1/accounts/{account_id}",
  operationId: "getAccount",
  tags: ["Accounts"],
  summary: "Get an account and the rate limits in force for it",
  description: "Any user of the account, or the operator, may read it. `rate_limits` are the limits in force now: this account's own if the operator set them, else the deployment's defaults.",
  security: [...bearerSecurity, ...platformSecurity],
  request: { params: AccountParams },
  responses: { 200: jsonResponse(AccountSchema, "The account"), ...errorResponses(403, 404, 422) },
});

const updateAccountRoute = createRoute({
  middleware: [platformOnly] as const,
  method: "patch",
  path: "/v1/accounts/{account_id}",
  operationId: "updateAccount",
  tags: ["Accounts"],
  summary: "Rename an account or set its own rate limits (platform token)",
  description: "Operator only (PLATFORM_TOKEN). Fields you leave out keep their value; `rate_limits: null`, or a null member, returns to the deployment's default. New limits apply from the next request.",
  security: platformSecurity,
  request: { params: AccountParams, body: jsonBody(AccountPatchSchema) },
  responses: { 200: jsonResponse(AccountSchema, "The updated account"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const ShardSchema = z
  .object({
    name: z.string().openapi({ example: "SHARD_1", description: "The D1 binding of the shard database" }),
    accounts: z.number().int().openapi({ example: 1200 }),
    size_bytes: z.number().int().openapi({ example: 73400320, description: "The database's size as D1 reports it" }),
    migration: z.string().nullable().openapi({ example: "0014_shard_account_state.sql", description: "The last migration applied to it" }),
  })
  .openapi("Shard");

const listShardsRoute = createRoute({
  middleware: [platformOnly] as const,
  method: "get",
  path: "/v1/shards",
  operationId: "listShards",
  tags: ["Accounts"],
  summary: "List the shard databases (platform token)",
  description: "Operator only (PLATFORM_TOKEN). Each shard database with its account count, size and last migration (docs/scaling.md).",
  security: platformSecurity,
  responses: { 200: jsonResponse(z.object({ data: z.array(ShardSchema) }).openapi("ShardList"), "Every shard"), ...errorResponses(403) },
});

const moveAccountRoute = createRoute({
  middleware: [idempotent(platformOnly)] as const,
  method: "post",
  path: "/v1/accounts/{account_id}/move",
  operationId: "moveAccount",
  tags: ["Accounts"],
  summary: "Move an account to another shard (platform token)",
  description:
    "Operator only (PLATFORM_TOKEN). Copies the account's rows to the shard, switches the directory and deletes the old rows, in bounded steps in the background (docs/scaling.md). " +
    "The account shows `moving` until it is done. Reads keep working throughout; writes answer 503 `account_moving` with Retry-After only during the switch itself.",
  security: platformSecurity,
  request: {
    headers: IdempotencyKeyHeader,
    params: AccountParams,
    body: jsonBody(z.strictObject({ shard: z.string().min(1).max(64).openapi({ example: "SHARD_2" }) }).openapi("AccountMove")),
  },
  responses: { 202: jsonResponse(AccountSchema, "The move started (or was already running to that shard)"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

export const accountRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createAccountRoute, async (c) => {
    const created = await createAccount(c.env, c.req.valid("json"));
    return c.json(created, 201);
  })
  .openapi(getAccountRoute, async (c) => {
    return c.json(await getAccount(c.env, c.req.valid("param").account_id, authenticated(c).kind === "platform"), 200);
  })
  .openapi(listShardsRoute, async (c) => c.json({ data: await listShards(c.env) }, 200))
  .openapi(moveAccountRoute, async (c) => c.json(await moveAccount(c.env, c.req.valid("param").account_id, c.req.valid("json").shard), 202))
  .openapi(updateAccountRoute, async (c) => {
    return c.json(await updateAccount(c.env, c.req.valid("param").account_id, c.req.valid("json")), 200);
  });
