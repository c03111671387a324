// Chatwoot's Client API: /public/api/v1/inboxes/{inbox_identifier}/… (docs/chatwoot.md). No credentials, as in
// Chatwoot: served only for inboxes with public_client_api on (else 404), rate limited per identifier.
// Routes parse, call one domain function and answer Chatwoot's shapes; errors are Chatwoot's `{ error }`.
import { z } from "@hono/zod-openapi";
import { Hono, type MiddlewareHandler } from "hono";
import {
  createPublicContact,
  createPublicConversation,
  createPublicMessage,
  getPublicContact,
  getPublicConversation,
  listPublicConversations,
  listPublicMessages,
  publicClientInbox,
  publicLastSeen,
  publicRateKeys,
  publicTyping,
  resolvePublicConversation,
  showPublicInbox,
  submitPublicMessage,
  updatePublicContact,
} from "../../domain/chatwoot-client";
import type { InboxRow } from "../../domain/inboxes";
import { ApiError } from "../../errors/problem";
import type { AppContext, AppEnv } from "../context";
import { admit, rateLimitHeaders, setRateLimitHeaders } from "../rate-limit";
import { discardUnused, readBody, readMessageBody } from "./body";
import { chatwootError } from "./errors";
import { parseInput } from "./validate";
import { CustomAttributes } from "../integrator/schemas";
import { setAnswerHeader } from "../answer-headers";
import { shardForInbox } from "../../domain/routing";

type ClientEnv = { Bindings: AppEnv["Bindings"]; Variables: AppEnv["Variables"] & { publicInbox: InboxRow } };

const ContactInput = z.object({
  source_id: z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, "visible ASCII characters only").optional(),
  identifier: z.string().min(1).max(255).nullable().optional(),
  identifier_hash: z.string().regex(/^[0-9a-fA-F]{64}$/, "64 hex characters: HMAC-SHA256 of the identifier").optional(),
  name: z.string().trim().max(255).nullable().optional(),
  email: z.email().max(320).nullable().optional(),
  phone_number: z.string().regex(/^\+?[0-9 ().-]{3,32}$/, "a phone number such as +5511999990000").nullable().optional(),
  custom_attributes: CustomAttributes.optional(),
});

const ConversationInput = z.object({ custom_attributes: CustomAttributes.optional() });
const MessageInput = z.object({
  content: z.string().max(150_000).optional(),
  echo_id: z.string().min(1).max(255).optional(),
  attachment_ids: z.array(z.string().min(1).max(64)).max(10).optional(),
});
// Chatwoot permits [{ name, title, value }] (input_select, form) or { csat_survey_response: { rating, feedback_message } }.
const SubmissionInput = z.object({ submitted_values: z.union([CustomAttributes, z.array(CustomAttributes).max(20)]) });
const TypingInput = z.object({ typing_status: z.enum(["on", "off"]) });

/** Resolves the inbox (404 unless it serves the Client API) and counts the request against its identifier. */
const publicInbox: MiddlewareHandler<ClientEnv> = async (c, next) => {
  // No credentials: the inbox identifier names the account, whose shard serves the request (docs/scaling.md).
  c.env = await shardForInbox(c.env, c.req.param("inbox_identifier") ?? "");
  const inbox = await publicClientInbox(c.env, c.req.param("inbox_identifier") ?? "");
  const keys = publicRateKeys(inbox);
  // The same buckets, leases and fail-open as every other request (http/rate-limit.ts), keyed by the identifier.
  const decision = await admit(c as unknown as AppContext, inbox.accountId, keys.accountId, { token: keys.token, inbox: keys.inbox });
  if (decision && !decision.allowed) {
    throw new ApiError("rate_limited", `Too many requests for inbox '${inbox.identifier}'. Retry after ${decision.retryAfterSeconds} s.`, {
      headers: { ...rateLimitHeaders(decision), "retry-after": String(decision.retryAfterSeconds) },
    });
  }
  c.set("publicInbox", inbox);
  await next();
  setAnswerHeader(c, "cache-control", "no-store");
  if (decision) setRateLimitHeaders(c, decision);
};

const BASE = "/public/api/v1/inboxes/:inbox_identifier";
const CONVERSATION = `${BASE}/contacts/:contact_identifier/conversations/:conversation_id`;
const contactId = (c: { req: { param(name: string): string | undefined } }) => c.req.param("contact_identifier") ?? "";

export const chatwootClientRoutes = new Hono<ClientEnv>()
  // Matches BASE itself too (Hono's wildcard matches the empty rest): one count per request.
  .use(`${BASE}/*`, publicInbox)
  .get(BASE, (c) => c.json(showPublicInbox(c.get("publicInbox"))))
  .post(`${BASE}/contacts`, async (c) => {
    const input = parseInput(ContactInput, await readBody(c));
    const { body } = await createPublicContact(c.env, c.get("publicInbox"), input);
    return c.json(body, 200);
  })
  .get(`${BASE}/contacts/:contact_identifier`, async (c) => c.json(await getPublicContact(c.env, c.get("publicInbox"), contactId(c))))
  .patch(`${BASE}/contacts/:contact_identifier`, async (c) => {
    const input = parseInput(ContactInput, await readBody(c));
    return c.json(await updatePublicContact(c.env, c.get("publicInbox"), contactId(c), input));
  })
  .post(`${BASE}/contacts/:contact_identifier/conversations`, async (c) => {
    const input = parseInput(ConversationInput, await readBody(c));
    const { body } = await createPublicConversation(c.env, c.get("publicInbox"), contactId(c), input);
    return c.json(body, 200);
  })
  .get(`${BASE}/contacts/:contact_identifier/conversations`, async (c) => c.json(await listPublicConversations(c.env, c.get("publicInbox"), contactId(c))))
  .get(CONVERSATION, async (c) =>
    c.json(await getPublicConversation(c.env, c.get("publicInbox"), contactId(c), c.req.param("conversation_id"))),
  )
  .post(`${CONVERSATION}/toggle_status`, async (c) =>
    c.json(await resolvePublicConversation(c.env, c.get("publicInbox"), contactId(c), c.req.param("conversation_id"))),
  )
  .post(`${CONVERSATION}/toggle_typing`, async (c) => {
    const body = await readBody(c);
    const input = parseInput(TypingInput, { typing_status: body.typing_status ?? c.req.query("typing_status") });
    await publicTyping(c.env, c.get("publicInbox"), contactId(c), c.req.param("conversation_id"), input.typing_status);
    return c.body(null, 200);
  })
  .post(`${CONVERSATION}/update_last_seen`, async (c) => {
    await publicLastSeen(c.env, c.get("publicInbox"), contactId(c), c.req.param("conversation_id"));
    return c.body(null, 200);
  })
  .post(`${CONVERSATION}/messages`, async (c) => {
    const inbox = c.get("publicInbox");
    const { fields, uploaded } = await readMessageBody(c, { accountId: inbox.accountId, inboxId: inbox.id });
    try {
      const input = parseInput(MessageInput, fields);
      const { created, body } = await createPublicMessage(c.env, inbox, contactId(c), c.req.param("conversation_id"), input);
      // A repeat (same echo_id) answers the first message: the files this request brought are not part of it.
      await discardUnused(c, uploaded, () => created);
      return c.json(body, 200);
    } catch (error) {
      await discardUnused(c, uploaded, () => false);
      throw error;
    }
  })
  .get(`${CONVERSATION}/messages`, async (c) =>
    c.json(await listPublicMessages(c.env, c.get("publicInbox"), contactId(c), c.req.param("conversation_id"), c.req.query("before"))),
  )
  .patch(`${CONVERSATION}/messages/:message_id`, async (c) => {
    // The answers to an interactive message or a CSAT survey, kept in content_attributes.submitted_values.
    const input = parseInput(SubmissionInput, await readBody(c));
    const inbox = c.get("publicInbox");
    return c.json(await submitPublicMessage(c.env, inbox, contactId(c), c.req.param("conversation_id"), c.req.param("message_id"), input.submitted_values));
  })
  .onError(chatwootError);
