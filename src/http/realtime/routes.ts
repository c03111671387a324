import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { findContactBySource } from "../../domain/contacts";
import { getInboxConversation } from "../../domain/conversations";
import { originOf } from "../../domain/events";
import {
  agentLastSeen,
  agentSubscriber,
  agentTyping,
  contactLastSeen,
  contactSubscriber,
  contactSubscriberOf,
  contactTyping,
  issueTicket,
  openStream,
  redeemTicket,
  rotatePubsubToken,
} from "../../domain/realtime";
import { ApiError } from "../../errors/problem";
import { requireVisibleConversation } from "../../domain/agent";
import { accountUser, authenticated, checkAccountUser, integratorCaller } from "../auth";
import { requireSameOrigin } from "../session/cookie";
import { idempotent } from "../idempotency";
import type { AppContext, AppEnv } from "../context";
import { inboxAccess } from "../integrator/access";
import { ContactParams, ConversationParams as InboxConversationParams } from "../integrator/schemas";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, pathParam } from "../openapi";
import { AccountParams } from "../users/schemas";

const tags = ["Realtime"];
// Every POST takes an Idempotency-Key behind its own guard (src/http/idempotency.ts).
const agentGuard = { middleware: [idempotent(accountUser())], security: bearerSecurity, tags };
const conversationGuard = {
  middleware: [idempotent(accountUser(), { beforeReplay: (c: AppContext) => requireVisibleConversation(c.env, userViewer(c), c.req.param("conversation_id") ?? "") })],
  security: bearerSecurity,
  tags,
};
const integratorGuard = { middleware: [idempotent(inboxAccess)], security: bearerSecurity, tags };

const AgentConversationParams = AccountParams.extend({ conversation_id: pathParam("conversation_id") });

const Position = z
  .string()
  .regex(/^\d{1,15}$/, "a position from an event you received (its `position`)")
  .optional()
  .openapi({ description: "Resume: the `position` of the last event you received; what you missed is replayed first (or `resync_required`)." });

const upgradeResponses = {
  101: { description: "Switching Protocols: the WebSocket. Frames are JSON (docs/realtime.md)." },
  ...errorResponses(422, 426),
};

/** Security alternatives (one of the schemes suffices), typed so route inference is not confused by their differing keys. */
const either = (...schemes: string[]): Record<string, string[]>[] => schemes.map((scheme) => ({ [scheme]: [] }));

const noCredentials = (what: string) => new ApiError("unauthorized", `Open this stream with ${what}.`);

/** Browsers cannot set headers on a WebSocket: credentials come in the query, checked before the upgrade. */
function requireUpgrade(c: AppContext) {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError("upgrade_required", "This URL opens a WebSocket: connect with a WebSocket client (Upgrade: websocket).", {
      headers: { upgrade: "websocket" },
    });
  }
}

const ticketRoute = createRoute({
  ...agentGuard,
  method: "post",
  path: "/v1/accounts/{account_id}/realtime/tickets",
  operationId: "createRealtimeTicket",
  summary: "A single-use ticket that opens your realtime stream",
  description: "Returns a ticket valid once, for 60 seconds, for the user behind the token. Open `GET /v1/accounts/{account_id}/realtime?ticket=…` with it from the browser (a WebSocket cannot carry an Authorization header). Revoking the token closes the streams it opened.",
  request: { params: AccountParams, headers: IdempotencyKeyHeader },
  responses: {
    201: jsonResponse(
      z.object({ ticket: z.string().openapi({ example: "rtk_3q2…" }), expires_at: z.string() }).openapi("RealtimeTicket"),
      "The ticket; use it within expires_at",
    ),
    ...errorResponses(403, 404, 422),
  },
});

const agentStreamRoute = createRoute({
  method: "get",
  path: "/v1/accounts/{account_id}/realtime",
  operationId: "openAgentStream",
  tags,
  security: either("realtimeTicket", "bearerAuth"),
  summary: "The agent's live stream (WebSocket)",
  description: "Upgrades to a WebSocket carrying every event the user may see, as the webhook JSON plus `position`, in commit order (so in `sequence` order per conversation): administrators every inbox, agents the inboxes they work; private notes and activity included. Pass `after` to resume. A bad, expired or used ticket is a 401 before the upgrade. Server-side clients may send their user token as a bearer token instead of a ticket.",
  request: {
    params: AccountParams,
    query: z.object({ ticket: z.string().max(200).optional().openapi({ description: "From POST …/realtime/tickets; single use" }), after: Position }),
  },
  responses: upgradeResponses,
});

const contactStreamRoute = createRoute({
  method: "get",
  path: "/v1/inboxes/{inbox_identifier}/contacts/{source_id}/realtime",
  operationId: "openContactStream",
  tags,
  security: either("pubsubToken", "bearerAuth"),
  summary: "One contact's live stream (WebSocket), for your live chat UI",
  description: "Upgrades to a WebSocket carrying this contact's public events in this inbox: messages (never private notes, never activity lines), status changes and agents typing — never another contact's. Authenticated by the contact's `pubsub_token` (returned by the contact upsert), or server-side by a token that may use the inbox. Pass `after` to resume.",
  request: {
    params: ContactParams,
    query: z.object({ pubsub_token: z.string().max(200).optional().openapi({ description: "The contact's pubsub_token" }), after: Position }),
  },
  responses: upgradeResponses,
});

const rotateRoute = createRoute({
  ...integratorGuard,
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/contacts/{source_id}/pubsub_token/rotate",
  operationId: "rotatePubsubToken",
  summary: "Replace the contact's pubsub_token",
  description: "Issues a new pubsub_token for the contact in this inbox; streams opened with the old one close (code 4001) within moments.",
  request: { params: ContactParams, headers: IdempotencyKeyHeader },
  responses: {
    200: jsonResponse(z.object({ pubsub_token: z.string() }).openapi("PubsubToken"), "The new token"),
    ...errorResponses(403, 404, 422),
  },
});

const TypingBody = z.strictObject({ status: z.enum(["on", "off"]) }).openapi("Typing");
const TypingResult = z.object({ conversation_id: z.string(), status: z.enum(["on", "off"]) }).openapi("TypingResult");

const agentTypingRoute = createRoute({
  ...conversationGuard,
  method: "post",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}/typing",
  operationId: "agentTyping",
  summary: "The agent started or stopped typing",
  description: "Emits `conversation_typing_on` or `conversation_typing_off` on the realtime streams (the contact's too) and to the webhook. Send it when typing starts and stops, not per keystroke.",
  request: { params: AgentConversationParams, headers: IdempotencyKeyHeader, body: jsonBody(TypingBody) },
  responses: { 200: jsonResponse(TypingResult, "Announced"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const contactTypingRoute = createRoute({
  ...integratorGuard,
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/conversations/{conversation_id}/typing",
  operationId: "contactTyping",
  summary: "The contact started or stopped typing",
  description: "Shows `conversation_typing_on` / `conversation_typing_off` to the agents' streams while it happens. Not stored, not replayed on resume, not sent to your webhook.",
  request: { params: InboxConversationParams, headers: IdempotencyKeyHeader, body: jsonBody(TypingBody) },
  responses: { 200: jsonResponse(TypingResult, "Announced"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const contactLastSeenRoute = createRoute({
  ...integratorGuard,
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/conversations/{conversation_id}/last_seen",
  operationId: "contactLastSeen",
  summary: "The contact has seen the conversation",
  description: "Marks every earlier outgoing reply that is not read yet as `read` (at most the latest 100), each with a `message_updated`, in sequence order.",
  request: { params: InboxConversationParams, headers: IdempotencyKeyHeader },
  responses: {
    200: jsonResponse(
      z.object({ conversation_id: z.string(), read_message_ids: z.array(z.string()) }).openapi("ContactLastSeen"),
      "The replies that became read",
    ),
    ...errorResponses(403, 404, 422),
  },
});

const agentLastSeenRoute = createRoute({
  ...conversationGuard,
  method: "post",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}/last_seen",
  operationId: "agentLastSeen",
  summary: "You have seen the conversation (its unread count drops to 0)",
  description: "Records that the caller has read the conversation up to its latest message; the conversation list's `unread_count` counts the contact's messages after that, per agent.",
  request: { params: AgentConversationParams, headers: IdempotencyKeyHeader },
  responses: {
    200: jsonResponse(
      z.object({ conversation_id: z.string(), last_seen_at: z.string(), unread_count: z.number().int() }).openapi("AgentLastSeen"),
      "Recorded",
    ),
    ...errorResponses(403, 404, 422),
  },
});

function userViewer(c: AppContext) {
  const user = c.get("user");
  return { kind: "user" as const, accountId: user.accountId, userId: user.userId, role: user.role };
}

export const realtimeRoutes = new OpenAPIHono<AppEnv>()
  .openapi(ticketRoute, async (c) => {
    const user = c.get("user");
    return c.json(await issueTicket(c.env, user), 201);
  })
  .openapi(agentStreamRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    const { ticket, after } = c.req.valid("query");
    // A server-side client may use its bearer token instead of a ticket.
    if (c.get("caller")) {
      const user = checkAccountUser(authenticated(c), account_id, "agent");
      // The console's cookie rides along on any WebSocket to this host: only this origin's pages may use it.
      if (c.get("session")) requireSameOrigin(c);
      requireUpgrade(c);
      const subscriber = await agentSubscriber(c.env, account_id, user);
      if (!subscriber) throw new ApiError("invalid_token", "The token is unknown or has been revoked.");
      return (await openStream(c.env, subscriber, after)) as never;
    }
    if (!ticket) throw noCredentials("a `ticket` (POST …/realtime/tickets) or a bearer token");
    // Not an upgrade: refused before the ticket is spent.
    requireUpgrade(c);
    return (await openStream(c.env, await redeemTicket(c.env, account_id, ticket), after)) as never;
  })
  .openapi(contactStreamRoute, async (c) => {
    const { inbox_identifier, source_id } = c.req.valid("param");
    const { pubsub_token, after } = c.req.valid("query");
    if (c.get("caller")) {
      // The integrator's server, with the inbox's token or a user token that may use the inbox.
      await inboxAccess(c, async () => {});
      const found = await findContactBySource(c.env, c.get("inbox"), source_id);
      if (!found) throw new ApiError("contact_not_found", `No contact with source_id '${source_id}' exists in this inbox.`);
      requireUpgrade(c);
      return (await openStream(c.env, contactSubscriberOf(c.get("inbox"), found.contactInbox), after)) as never;
    }
    if (!pubsub_token) throw noCredentials("the contact's `pubsub_token` or a bearer token");
    requireUpgrade(c);
    return (await openStream(c.env, await contactSubscriber(c.env, inbox_identifier, source_id, pubsub_token), after)) as never;
  })
  .openapi(rotateRoute, async (c) => {
    const { source_id } = c.req.valid("param");
    const found = await findContactBySource(c.env, c.get("inbox"), source_id);
    if (!found) throw new ApiError("contact_not_found", `No contact with source_id '${source_id}' exists in this inbox.`);
    return c.json({ pubsub_token: await rotatePubsubToken(c.env, c.get("inbox").accountId, found.contactInbox.id) }, 200);
  })
  .openapi(agentTypingRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    return c.json(await agentTyping(c.env, userViewer(c), originOf(c.get("user")), conversation_id, c.req.valid("json").status), 200);
  })
  .openapi(contactTypingRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    const inbox = c.get("inbox");
    const target = await getInboxConversation(c.env, inbox.id, conversation_id);
    const result = await contactTyping(c.env, inbox, conversation_id, originOf(integratorCaller(c)), c.req.valid("json").status, {
      conversation: target.conversation,
      contact: target.contact,
      sourceId: target.contactInbox.sourceId,
    });
    return c.json(result, 200);
  })
  .openapi(contactLastSeenRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    await getInboxConversation(c.env, c.get("inbox").id, conversation_id);
    return c.json(await contactLastSeen(c.env, conversation_id, originOf(integratorCaller(c))), 200);
  })
  .openapi(agentLastSeenRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    return c.json(await agentLastSeen(c.env, userViewer(c), conversation_id), 200);
  });
