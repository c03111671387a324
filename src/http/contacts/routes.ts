import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { getAccountContact, listAccountContacts, updateAccountContact } from "../../domain/account-contacts";
import type { UserViewer } from "../../domain/agent";
import { originOf } from "../../domain/events";
import { contactExists, latestErasureOfContact, listErasures, requestErasure } from "../../domain/erasure";
import { ACCOUNT_ERASURE } from "../../domain/erasure";
import { notFound } from "../../errors/problem";
import { accountUser } from "../auth";
import type { AppContext, AppEnv } from "../context";
import { ContactSchema } from "../integrator/schemas";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse, listOf, PaginationQuery } from "../openapi";
import { AccountParams } from "../users/schemas";
import { AccountContactParams, AccountContactSchema, ContactErasureSchema, ContactListQuery, ContactPatchSchema } from "./schemas";

const tags = ["Contacts"];

function viewer(c: AppContext): UserViewer {
  const user = c.get("user");
  return { kind: "user", accountId: user.accountId, userId: user.userId, role: user.role };
}

const listContactsRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "get",
  path: "/v1/accounts/{account_id}/contacts",
  operationId: "listContacts",
  tags,
  summary: "List and search the contacts the caller can see",
  description:
    "Administrators see every contact of the account, agents those reached through inboxes they are members of. `q` matches the name, email, phone or a source id (case-insensitive substring). Oldest first; page with `cursor`.",
  security: bearerSecurity,
  request: { params: AccountParams, query: ContactListQuery },
  responses: { 200: jsonResponse(listOf(ContactSchema, "AccountContactList"), "A page of contacts"), ...errorResponses(400, 403, 404, 422) },
});

const getContactRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "get",
  path: "/v1/accounts/{account_id}/contacts/{contact_id}",
  operationId: "getAccountContact",
  tags,
  summary: "Get a contact with the inboxes that reach it",
  description: "A contact the caller can see (agents: reached through one of their inboxes), with the source id of each of those inboxes.",
  security: bearerSecurity,
  request: { params: AccountContactParams },
  responses: { 200: jsonResponse(AccountContactSchema, "The contact"), ...errorResponses(403, 404, 422) },
});

const updateContactRoute = createRoute({
  middleware: [accountUser()] as const,
  method: "patch",
  path: "/v1/accounts/{account_id}/contacts/{contact_id}",
  operationId: "updateAccountContact",
  tags,
  summary: "Correct a contact's name, email, phone, identifier or custom attributes",
  description:
    "Agents (for contacts of their inboxes) and administrators. custom_attributes are merged (null removes a key; at most 100 keys and 16 KiB). An identifier set here is verified. Every inbox reaching the contact gets contact_updated.",
  security: bearerSecurity,
  request: { params: AccountContactParams, body: jsonBody(ContactPatchSchema) },
  responses: { 200: jsonResponse(AccountContactSchema, "The contact now"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

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
  .openapi(listContactsRoute, async (c) => {
    return c.json(await listAccountContacts(c.env, viewer(c), c.req.valid("query")), 200);
  })
  .openapi(getContactRoute, async (c) => {
    return c.json(await getAccountContact(c.env, viewer(c), c.req.valid("param").contact_id), 200);
  })
  .openapi(updateContactRoute, async (c) => {
    const contact = await updateAccountContact(c.env, viewer(c), c.req.valid("param").contact_id, c.req.valid("json"), originOf(c.get("user")));
    return c.json(contact, 200);
  })
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
