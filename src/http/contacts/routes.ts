import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { originOf } from "../../domain/events";
import { contactExists, latestErasureOfContact, listErasures, requestErasure } from "../../domain/erasure";
import { ACCOUNT_ERASURE } from "../../erasure/steps";
import { notFound } from "../../errors/problem";
import { accountUser } from "../auth";
import type { AppEnv } from "../context";
import { bearerSecurity, errorResponses, jsonResponse, listOf, PaginationQuery } from "../openapi";
import { AccountParams } from "../users/schemas";
import { AccountContactParams, ContactErasureSchema } from "./schemas";

const tags = ["Contacts"];

const eraseContactRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "delete",
  path: "/v1/accounts/{account_id}/contacts/{contact_id}",
  operationId: "eraseContact",
  tags,
  summary: "Erase a contact (GDPR / LGPD): the person, their conversations, messages, events and pending webhooks (administrators only)",
  description:
    "Idempotent. What identifies the person is gone when this answers; a long history finishes in the background (202, then repeat the call or list …/contact_erasures to see the status). Emits contact_deleted (ids only) on every inbox that reached the contact.",
  security: bearerSecurity,
  request: { params: AccountContactParams },
  responses: {
    200: jsonResponse(ContactErasureSchema, "Erased completely"),
    202: jsonResponse(ContactErasureSchema, "Accepted; the rest of the history is being erased in the background"),
    ...errorResponses(403, 404, 422),
  },
});

const listErasuresRoute = createRoute({
  middleware: [accountUser("administrator")] as const,
  method: "get",
  path: "/v1/accounts/{account_id}/contact_erasures",
  operationId: "listContactErasures",
  tags,
  summary: "List contact erasures (the audit log)",
  description: "Administrators only. Every erasure of the account, newest first: who asked, its status and how many rows of each table it deleted. Ids and counts only, never personal data.",
  security: bearerSecurity,
  request: { params: AccountParams, query: PaginationQuery },
  responses: { 200: jsonResponse(listOf(ContactErasureSchema, "ContactErasureList"), "A page of erasures, newest first"), ...errorResponses(400, 403, 404, 422) },
});

export const accountContactRoutes = new OpenAPIHono<AppEnv>()
  .openapi(eraseContactRoute, async (c) => {
    const { account_id, contact_id } = c.req.valid("param");
    const erasure = (await contactExists(c.env, account_id, contact_id))
      ? await requestErasure(c.env, { accountId: account_id, contactId: contact_id, scope: ACCOUNT_ERASURE, sourceHash: null, origin: originOf(c.get("user")) })
      : await latestErasureOfContact(c.env, account_id, contact_id);
    if (!erasure) throw notFound("contact_not_found", "contact", contact_id);
    return c.json(erasure, erasure.status === "completed" ? 200 : 202);
  })
  .openapi(listErasuresRoute, async (c) => {
    return c.json(await listErasures(c.env, c.req.valid("param").account_id, c.req.valid("query")), 200);
  });
