import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { getInboxIdentity, updateInboxIdentity } from "../../domain/identity";
import { accountUser } from "../auth";
import type { AppEnv } from "../context";
import { idempotent } from "../idempotency";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse } from "../openapi";
import { InboxParams } from "./schemas";

const tags = ["Inboxes"];
const path = "/v1/accounts/{account_id}/inboxes/{inbox_id}/identity";

const IdentitySchema = z
  .object({
    hmac_mandatory: z.boolean().openapi({ description: "An identifier without a valid identifier_hash is refused (422)" }),
    identity_secret: z.string().openapi({
      description: "Key of identifier_hash = HMAC-SHA256(identity_secret, identifier), hex. Keep it on your server.",
    }),
  })
  .openapi("InboxIdentity");

const IdentityPatchSchema = z
  .strictObject({ hmac_mandatory: z.boolean().openapi({ example: true }) })
  .openapi("InboxIdentityPatch");

const getIdentityRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "get",
  path,
  operationId: "getInboxIdentity",
  tags,
  summary: "Get the inbox's identity secret and whether identifier verification is mandatory",
  description:
    "Administrators only. identifier_hash = HMAC-SHA256(identity_secret, identifier), hex, proves a contact identifier: with it an identifier links the same person across inboxes; without it the identifier stays scoped to this inbox (docs/contacts.md).",
  security: bearerSecurity,
  request: { params: InboxParams },
  responses: { 200: jsonResponse(IdentitySchema, "The identity settings"), ...errorResponses(403, 404, 422) },
});

const updateIdentityRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "patch",
  path,
  operationId: "updateInboxIdentity",
  tags,
  summary: "Make identifier verification mandatory for the inbox, or optional again",
  description:
    "Administrators only. With hmac_mandatory an integrator request that sends an identifier without a valid identifier_hash is refused with 422 identifier_hash_required (Chatwoot's hmac_mandatory).",
  security: bearerSecurity,
  request: { params: InboxParams, body: jsonBody(IdentityPatchSchema) },
  responses: { 200: jsonResponse(IdentitySchema, "The identity settings now"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const rotateIdentityRoute = createRoute({
  // A replayed answer whose secret was rotated again since is withdrawn (domain/credentials.ts).
  middleware: [idempotent(accountUser("administrator"))] as const,
  method: "post",
  path: `${path}/rotate`,
  operationId: "rotateInboxIdentitySecret",
  tags,
  summary: "Replace the inbox's identity secret",
  description: "Administrators only. Hashes made with the old secret stop verifying at once: compute identifier_hash on your server at request time.",
  security: bearerSecurity,
  request: { params: InboxParams, headers: IdempotencyKeyHeader },
  responses: { 200: jsonResponse(IdentitySchema, "The identity settings with the new secret"), ...errorResponses(400, 403, 404) },
});

export const inboxIdentityRoutes = new OpenAPIHono<AppEnv>()
  .openapi(getIdentityRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await getInboxIdentity(c.env, account_id, inbox_id), 200);
  })
  .openapi(updateIdentityRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await updateInboxIdentity(c.env, account_id, inbox_id, c.req.valid("json")), 200);
  })
  .openapi(rotateIdentityRoute, async (c) => {
    const { account_id, inbox_id } = c.req.valid("param");
    return c.json(await updateInboxIdentity(c.env, account_id, inbox_id, { rotate: true }), 200);
  });
