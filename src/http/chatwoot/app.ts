// A subset of Chatwoot's Application API: /api/v1/profile and /api/v1/accounts/{account_id}/… (docs/chatwoot.md).
// A user token in `api_access_token` (or `Authorization: Bearer`), Chatwoot's numeric ids, bodies as JSON,
// multipart or form fields alike, Chatwoot's `{ error }` bodies. Each route parses, calls one domain function.
import { z } from "@hono/zod-openapi";
import { Hono, type MiddlewareHandler } from "hono";
import {
  appLabels,
  assignApp,
  createAppContact,
  createAppContactInbox,
  createAppConversation,
  createAppMessage,
  deleteAppMessage,
  getAppContact,
  getAppConversation,
  getAppInbox,
  listAppConversations,
  listAppInboxes,
  listAppMessages,
  profile,
  requireAppAccount,
  searchAppContacts,
  setAppLabels,
  toggleAppStatus,
  updateAppMessageStatus,
  type AppUser,
} from "../../domain/chatwoot-app";
import { resolveCaller } from "../../domain/tokens";
import { config } from "../../env";
import { ApiError } from "../../errors/problem";
import type { AppEnv } from "../context";
import { rateLimit } from "../rate-limit";
import { CustomAttributes } from "../integrator/schemas";
import { discardUnused, readBody, readMessageBody } from "./body";
import { chatwootError } from "./errors";
import { FormBoolean, NumericId, parseInput } from "./validate";

type ChatwootAppEnv = { Bindings: AppEnv["Bindings"]; Variables: AppEnv["Variables"] & { appUser: AppUser } };

/** Chatwoot's token header, or a bearer token; only user tokens (an inbox token is for our integrator API). */
const appAuth: MiddlewareHandler<ChatwootAppEnv> = async (c, next) => {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
  const token = c.req.header("api_access_token") ?? bearer;
  const invalid = new ApiError("invalid_token", "Invalid Access Token");
  if (!token) throw invalid;
  const { caller, env, moving } = await resolveCaller(c.env, token, config(c.env).platformToken);
  if (!caller || caller.kind !== "user" || !env) throw invalid;
  // The token's account's shard serves the request (docs/scaling.md); its switch to another shard refuses writes.
  c.env = env;
  if (moving && c.req.method !== "GET" && c.req.method !== "HEAD") {
    throw new ApiError("account_moving", "The account is being switched to another shard; writes resume within seconds.", { headers: { "retry-after": "2" } });
  }
  c.set("caller", caller);
  c.set("appUser", { kind: "user", accountId: caller.accountId, userId: caller.userId, role: caller.role, tokenId: caller.tokenId });
  await next();
};

const inAccount: MiddlewareHandler<ChatwootAppEnv> = async (c, next) => {
  await requireAppAccount(c.env, c.get("appUser"), c.req.param("account_id") ?? "");
  await next();
};

const Status = z.enum(["open", "resolved", "pending", "snoozed"]);
const ConversationQuery = z.object({
  assignee_type: z.enum(["me", "unassigned", "assigned", "all"]).optional(),
  status: z.enum(["open", "resolved", "pending", "snoozed", "all"]).optional(),
  inbox_id: NumericId.optional(),
  labels: z.array(z.string().min(1).max(255)).max(20).optional(),
  page: z.coerce.number().int().min(1).max(10_000).optional(),
});
const ConversationInput = z.object({
  source_id: z.string().min(1).max(255).optional(),
  inbox_id: NumericId,
  contact_id: NumericId.optional(),
  status: Status.optional(),
  assignee_id: NumericId.optional(),
  custom_attributes: CustomAttributes.optional(),
  additional_attributes: z.record(z.string(), z.unknown()).optional(),
  message: z.object({ content: z.string().max(150_000).optional() }).optional(),
});
const ToggleInput = z.object({ status: Status.optional(), snoozed_until: z.coerce.number().int().positive().optional() });
const AssignInput = z.object({ assignee_id: NumericId.nullable().optional() });
const LabelsInput = z.object({ labels: z.array(z.string().min(1).max(255)).max(100) });
const MessageInput = z.object({
  content: z.string().max(150_000).optional(),
  message_type: z.enum(["incoming", "outgoing"]).optional(),
  private: FormBoolean.optional(),
  source_id: z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, "visible ASCII characters only").optional(),
  echo_id: z.string().min(1).max(255).optional(),
  content_type: z.literal("text").optional(),
  content_attributes: CustomAttributes.optional(),
  attachment_ids: z.array(z.string().min(1).max(64)).max(10).optional(),
});
const MessageStatusInput = z.object({ status: z.enum(["delivered", "read", "failed"]), external_error: z.string().max(1000).optional() });
const ContactInput = z.object({
  inbox_id: NumericId.optional(),
  source_id: z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, "visible ASCII characters only").optional(),
  name: z.string().trim().max(255).nullable().optional(),
  email: z.email().max(320).nullable().optional(),
  phone_number: z.string().regex(/^\+?[0-9 ().-]{3,32}$/, "a phone number such as +5511999990000").nullable().optional(),
  identifier: z.string().min(1).max(255).nullable().optional(),
  custom_attributes: CustomAttributes.optional(),
  additional_attributes: z.record(z.string(), z.unknown()).optional(),
});
const ContactInboxInput = z.object({ inbox_id: NumericId, source_id: z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/).optional() });

const ACCOUNT = "/api/v1/accounts/:account_id";
const CONVERSATION = `${ACCOUNT}/conversations/:conversation_id`;

export const chatwootAppRoutes = new Hono<ChatwootAppEnv>()
  .use("/api/v1/*", appAuth, rateLimit as unknown as MiddlewareHandler<ChatwootAppEnv>)
  .use(`${ACCOUNT}/*`, inAccount)
  .get("/api/v1/profile", async (c) => c.json(await profile(c.env, c.get("appUser"))))
  .get(`${ACCOUNT}/conversations`, async (c) => {
    const query = parseInput(ConversationQuery, { ...c.req.query(), labels: c.req.queries("labels[]") ?? c.req.queries("labels") }, "query");
    return c.json(await listAppConversations(c.env, c.get("appUser"), query));
  })
  .post(`${ACCOUNT}/conversations`, async (c) => {
    const input = parseInput(ConversationInput, await readBody(c));
    return c.json((await createAppConversation(c.env, c.get("appUser"), input)).body);
  })
  .get(CONVERSATION, async (c) => c.json(await getAppConversation(c.env, c.get("appUser"), c.req.param("conversation_id"))))
  .post(`${CONVERSATION}/toggle_status`, async (c) => {
    const input = parseInput(ToggleInput, await readBody(c));
    return c.json(await toggleAppStatus(c.env, c.get("appUser"), c.req.param("conversation_id"), input));
  })
  .post(`${CONVERSATION}/assignments`, async (c) => {
    const input = parseInput(AssignInput, await readBody(c));
    return c.json(await assignApp(c.env, c.get("appUser"), c.req.param("conversation_id"), input.assignee_id ?? null));
  })
  .get(`${CONVERSATION}/labels`, async (c) => c.json(await appLabels(c.env, c.get("appUser"), c.req.param("conversation_id"))))
  .post(`${CONVERSATION}/labels`, async (c) => {
    const input = parseInput(LabelsInput, await readBody(c));
    return c.json(await setAppLabels(c.env, c.get("appUser"), c.req.param("conversation_id"), input.labels));
  })
  .get(`${CONVERSATION}/messages`, async (c) =>
    c.json(await listAppMessages(c.env, c.get("appUser"), c.req.param("conversation_id"), c.req.query("before"))),
  )
  .post(`${CONVERSATION}/messages`, async (c) => {
    const user = c.get("appUser");
    const { fields, uploaded } = await readMessageBody(c, { accountId: user.accountId, inboxId: null });
    try {
      const input = parseInput(MessageInput, fields);
      const { created, body } = await createAppMessage(c.env, user, c.req.param("conversation_id"), input);
      await discardUnused(c, uploaded, () => created);
      return c.json(body);
    } catch (error) {
      await discardUnused(c, uploaded, () => false);
      throw error;
    }
  })
  .patch(`${CONVERSATION}/messages/:message_id`, async (c) => {
    const input = parseInput(MessageStatusInput, await readBody(c));
    return c.json(await updateAppMessageStatus(c.env, c.get("appUser"), c.req.param("conversation_id"), c.req.param("message_id"), input));
  })
  .delete(`${CONVERSATION}/messages/:message_id`, async (c) =>
    c.json(await deleteAppMessage(c.env, c.get("appUser"), c.req.param("conversation_id"), c.req.param("message_id"))),
  )
  .post(`${ACCOUNT}/contacts`, async (c) => {
    const input = parseInput(ContactInput, await readBody(c));
    return c.json((await createAppContact(c.env, c.get("appUser"), input)).body);
  })
  .get(`${ACCOUNT}/contacts/search`, async (c) => {
    const query = parseInput(z.object({ q: z.string().min(1).max(255), page: z.coerce.number().int().min(1).max(100).optional() }), c.req.query(), "query");
    return c.json(await searchAppContacts(c.env, c.get("appUser"), query.q, query.page ?? 1));
  })
  .get(`${ACCOUNT}/contacts/:contact_id`, async (c) => c.json(await getAppContact(c.env, c.get("appUser"), c.req.param("contact_id"))))
  .post(`${ACCOUNT}/contacts/:contact_id/contact_inboxes`, async (c) => {
    const input = parseInput(ContactInboxInput, await readBody(c));
    return c.json(await createAppContactInbox(c.env, c.get("appUser"), c.req.param("contact_id"), input));
  })
  .get(`${ACCOUNT}/inboxes`, async (c) => c.json(await listAppInboxes(c.env, c.get("appUser"))))
  // Chatwoot's clients ask for an inbox with and without a trailing slash.
  .get(`${ACCOUNT}/inboxes/:inbox_id`, async (c) => c.json(await getAppInbox(c.env, c.get("appUser"), c.req.param("inbox_id"))))
  .get(`${ACCOUNT}/inboxes/:inbox_id/`, async (c) => c.json(await getAppInbox(c.env, c.get("appUser"), c.req.param("inbox_id"))))
  .onError(chatwootError);
