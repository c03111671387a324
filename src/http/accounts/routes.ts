import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { createAccount } from "../../domain/accounts";
import { platformOnly } from "../auth";
import type { AppEnv } from "../context";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse } from "../openapi";
import { IssuedTokenSchema, UserSchema } from "../users/schemas";

const NewAccountSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(255).openapi({ example: "Acme Support" }),
    administrator: z.strictObject({
      name: z.string().trim().min(1).max(255).openapi({ example: "Bruno Lima" }),
      email: z.email().max(320).openapi({ example: "bruno@acme.example" }),
    }),
  })
  .openapi("NewAccount");

const CreatedAccountSchema = z
  .object({
    account: z.object({ id: z.string(), name: z.string(), created_at: z.string() }),
    user: UserSchema,
    token: IssuedTokenSchema,
  })
  .openapi("CreatedAccount");

const createAccountRoute = createRoute({
  middleware: [platformOnly] as const,
  method: "post",
  path: "/v1/accounts",
  operationId: "createAccount",
  tags: ["Accounts"],
  summary: "Create an account with its first administrator (platform token)",
  security: bearerSecurity,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(NewAccountSchema) },
  responses: {
    201: jsonResponse(CreatedAccountSchema, "The account, its administrator and the administrator's token (shown once)"),
    ...errorResponses(400, 403, 413, 415, 422),
  },
});

export const accountRoutes = new OpenAPIHono<AppEnv>().openapi(createAccountRoute, async (c) => {
  const created = await createAccount(c.env, c.req.valid("json"));
  return c.json(created, 201);
});
