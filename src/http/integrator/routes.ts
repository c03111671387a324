import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { findContactBySource, toContact, upsertContact } from "../../domain/contacts";
import { latestErasureOfSource, requestErasure, sourceHash } from "../../domain/erasure";
import { ContactErasureSchema } from "../contacts/schemas";
import { pullEvents } from "../../domain/deliveries";
import { getInboxConversation, listContactConversations, openConversation, toConversation } from "../../domain/conversations";
import { originOf } from "../../domain/events";
import { appendIncoming, receiveMessage, reportMessageStatus } from "../../domain/incoming";
import { listInboxMessages, type MessagePage } from "../../domain/messages";
import { ensurePubsubToken } from "../../domain/realtime";
import { ApiError } from "../../errors/problem";
import { integratorCaller } from "../auth";
import type { AppContext, AppEnv } from "../context";
import { idempotent } from "../idempotency";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, listOf, PaginationQuery } from "../openapi";
import { inboxAccess } from "./access";
import { oneCallHook, receiveFromCache, receiveOnCallerFromCache, rememberReceived } from "./ingest";
import { jsonText } from "../json-text";
import { integratorOwner, jsonOrMultipartBody as messageBody, multipartMessage } from "../attachments/multipart";
import {
  ContactAttributesSchema,
  ContactParams,
  ContactSchema,
  ConversationParams,
  ConversationSchema,
  HistoryQuery,
  InboxParams,
  MessageParams,
  MessageSchema,
  MessageStatusSchema,
  NewConversationSchema,
  NewMessageSchema,
  OneCallMessageSchema,
  OneCallResultSchema,
} from "./schemas";

const tags = ["Integrator"];
const guard = { middleware: [inboxAccess], security: bearerSecurity, tags };

async function contactOr404(c: AppContext, sourceId: string) {
  const found = await findContactBySource(c.env, c.get("inbox"), sourceId);
  if (!found) {
    throw new ApiError("contact_not_found", `No contact with source_id '${sourceId}' exists in this inbox; create it with PUT …/contacts/${sourceId}.`);
  }
  return found;
}

const UpsertedContactSchema = ContactSchema.extend({
  pubsub_token: z.string().openapi({ description: "Opens this contact's realtime stream (GET …/contacts/{source_id}/realtime); rotatable" }),
}).openapi("UpsertedContact");

const upsertContactRoute = createRoute({
  ...guard,
  method: "put",
  path: "/v1/inboxes/{inbox_identifier}/contacts/{source_id}",
  operationId: "upsertContact",
  summary: "Create or update the contact behind your source id",
  description: "`source_id` is your id for the person in this inbox. The first call creates the contact (201), later calls update it (200); `custom_attributes` are merged key by key. A known `identifier` links a new source id to the same contact across inboxes. Emits `contact_created` or `contact_updated`.",
  request: { params: ContactParams, body: jsonBody(ContactAttributesSchema) },
  responses: {
    200: jsonResponse(UpsertedContactSchema, "Updated (or unchanged)"),
    201: jsonResponse(UpsertedContactSchema, "Created"),
    ...errorResponses(400, 403, 404, 409, 413, 415, 422),
  },
});

const getContactRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/inboxes/{inbox_identifier}/contacts/{source_id}",
  operationId: "getContact",
  summary: "Get the contact behind a source id",
  description: "Reads the contact you created with PUT under this source id. A source id never sent to this inbox is a 404 `contact_not_found`.",
  request: { params: ContactParams },
  responses: { 200: jsonResponse(UpsertedContactSchema, "The contact, with its pubsub_token"), ...errorResponses(403, 404, 422) },
});

const eraseContactRoute = createRoute({
  ...guard,
  method: "delete",
  path: "/v1/inboxes/{inbox_identifier}/contacts/{source_id}",
  operationId: "eraseInboxContact",
  summary: "Erase the person behind a source id (GDPR / LGPD): what this inbox reached of them, and the contact itself unless another inbox still reaches it",
  description:
    "The inbox token or an administrator. Idempotent (a repeat answers the same erasure). The source id is free at once: using it again is a new person. A long history finishes in the background (202; repeat the call to see the status).",
  request: { params: ContactParams },
  responses: {
    200: jsonResponse(ContactErasureSchema, "Erased completely"),
    202: jsonResponse(ContactErasureSchema, "Accepted; the rest of the history is being erased in the background"),
    ...errorResponses(403, 404, 422),
  },
});

const openConversationRoute = createRoute({
  ...guard,
  middleware: [idempotent(inboxAccess)],
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/contacts/{source_id}/conversations",
  operationId: "openConversation",
  summary: "Open a conversation (find-or-create by your thread source_id)",
  description: "With a `source_id` (your thread id) this is find-or-create by that id: 201 when opened, 200 when it existed. Without one, an inbox with `lock_to_single_conversation` (the default) returns the contact's unresolved conversation (200) instead of opening another. Emits `conversation_created` when one opens.",
  request: { params: ContactParams, headers: IdempotencyKeyHeader, body: jsonBody(NewConversationSchema) },
  responses: {
    200: jsonResponse(ConversationSchema, "An existing conversation was returned"),
    201: jsonResponse(ConversationSchema, "Opened"),
    ...errorResponses(400, 403, 404, 409, 413, 415, 422),
  },
});

const listContactConversationsRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/inboxes/{inbox_identifier}/contacts/{source_id}/conversations",
  operationId: "listContactConversations",
  summary: "The contact's conversations in this inbox, newest first",
  description: "The conversations of the contact behind this source id in this inbox, newest first, one page at a time (`cursor` = the previous page's `next_cursor`).",
  request: { params: ContactParams, query: PaginationQuery },
  responses: {
    200: jsonResponse(listOf(ConversationSchema, "ConversationList"), "A page of conversations"),
    ...errorResponses(400, 403, 404, 422),
  },
});

const getConversationRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/inboxes/{inbox_identifier}/conversations/{conversation_id}",
  operationId: "getInboxConversation",
  summary: "Get a conversation of this inbox",
  description: "A conversation of this inbox with its status, assignee and labels. A conversation of another inbox is a 404, as if it did not exist.",
  request: { params: ConversationParams },
  responses: { 200: jsonResponse(ConversationSchema, "The conversation"), ...errorResponses(403, 404, 422) },
});

/** The message routes take files too: JSON, or multipart/form-data with the files as attachments[]. */
const messageGuard = { ...guard, middleware: [idempotent(inboxAccess), multipartMessage(integratorOwner)] };
const FILES =
  " Files: send `multipart/form-data` with the same fields (or the JSON as a `payload` part) and the files as `attachments[]` parts, or reference earlier uploads (POST …/uploads) in `attachment_ids`; at most 10 per message, each within ATTACHMENT_MAX_BYTES (413) and of the type it declares (415). A rejected message keeps none of its files.";

const postMessageRoute = createRoute({
  ...messageGuard,
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/conversations/{conversation_id}/messages",
  operationId: "postIncomingMessage",
  summary: "Send a message from the contact into a conversation",
  description: "Appends the contact's message to this conversation. Your message `source_id` dedupes forever within the inbox: sending it again returns the stored message with 200, nothing is written twice. A resolved or snoozed conversation reopens, unless the contact meanwhile has another unresolved one (409 `invalid_state`). Emits `message_created`." + FILES,
  request: { params: ConversationParams, headers: IdempotencyKeyHeader, body: messageBody(NewMessageSchema) },
  responses: {
    200: jsonResponse(MessageSchema, "A message with this source_id already existed; it is returned"),
    201: jsonResponse(MessageSchema, "Created"),
    ...errorResponses(400, 403, 404, 409, 413, 415, 422),
  },
});

const historyRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/inboxes/{inbox_identifier}/conversations/{conversation_id}/messages",
  operationId: "listConversationHistory",
  summary: "The conversation's messages in seq order (private notes excluded)",
  description: "Messages in `seq` order, as the contact's side sees them: never private notes (their seq numbers are simply absent). Page with `cursor` = the previous page's `next_cursor`.",
  request: { params: ConversationParams, query: HistoryQuery },
  responses: {
    200: jsonResponse(listOf(MessageSchema, "MessageList"), "A page of messages; pass next_cursor as cursor"),
    ...errorResponses(400, 403, 404, 422),
  },
});

const oneCallRoute = createRoute({
  ...messageGuard,
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/messages",
  operationId: "receiveMessage",
  summary: "One call: upsert the contact, find or open its conversation, append the message",
  description: "The simplest integration: one request per message from your users. Upserts the contact, continues its unresolved conversation (or the thread named by `conversation.source_id`), or opens one, and appends the message. Dedupes on the message `source_id` (200 with nothing written). Emits the events of every step." + FILES,
  request: { params: InboxParams, headers: IdempotencyKeyHeader, body: messageBody(OneCallMessageSchema) },
  responses: {
    200: jsonResponse(OneCallResultSchema, "The message existed already (same source_id); nothing was written"),
    201: jsonResponse(OneCallResultSchema, "Created"),
    ...errorResponses(400, 403, 404, 409, 413, 415, 422),
  },
});

const messageStatusRoute = createRoute({
  ...guard,
  middleware: [idempotent(inboxAccess)],
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/messages/{message_id}/status",
  operationId: "reportMessageStatus",
  summary: "Delivery receipt for one of our replies: delivered, read or failed",
  description: "Tell us what happened to a reply we sent you: `delivered`, `read` or `failed` (with an optional `reason`). Each change of status emits `message_updated`.",
  request: { params: MessageParams, headers: IdempotencyKeyHeader, body: jsonBody(MessageStatusSchema) },
  responses: { 200: jsonResponse(MessageSchema, "The message with its new status"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

const EventSchema = z
  .object({
    id: z.string().openapi({ description: "Event id; the webhook-id header of its deliveries" }),
    event: z.string().openapi({ example: "message_created" }),
    sequence: z.number().int().nullable().openapi({ description: "Per conversation, increasing" }),
    created_at: z.string(),
    account: z.object({ id: z.string() }),
    inbox: z.object({ id: z.string(), name: z.string() }),
    conversation_id: z.string().nullable(),
    origin: z.object({ type: z.string(), id: z.string().nullable() }).passthrough(),
  })
  .passthrough()
  .openapi("Event", { description: "Plus the snapshot objects: message, conversation, contact, changed_attributes" });

const pullEventsRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/inboxes/{inbox_identifier}/events",
  operationId: "pullEvents",
  summary: "The events the webhook carries, in commit order (pull fallback)",
  description: "The same events the webhook delivers, in commit order, for integrators that cannot receive webhooks or want to catch up. Start without `after`, then keep polling with `after` = the `next_cursor` of the last page. An event's `id` is the `webhook-id` of its deliveries, so one dedupe store serves both paths. " +
    "Events are kept for the retention window (RETENTION_DAYS, 30 days by default). A cursor from before events this inbox " +
    "has lost to retention answers 410 `cursor_expired`: re-read state through the API, then poll again without `after`.",
  request: {
    params: InboxParams,
    query: z.object({
      after: z.string().max(20).optional().openapi({ description: "next_cursor of the previous page" }),
      limit: z.coerce.number().int().min(1).max(100).default(50),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({ data: z.array(EventSchema), next_cursor: z.string() }).openapi("EventPage"),
      "A page of events; poll again with after=next_cursor",
    ),
    ...errorResponses(400, 403, 404, 410, 422),
  },
});

export const integratorRoutes = new OpenAPIHono<AppEnv>()
  .openapi(upsertContactRoute, async (c) => {
    const { source_id } = c.req.valid("param");
    const caller = integratorCaller(c);
    const result = await upsertContact(c.env, c.get("inbox"), source_id, c.req.valid("json"), caller, originOf(caller));
    const pubsub_token = await ensurePubsubToken(c.env, result.contactInbox);
    return c.json({ ...toContact(result.contact, result.contactInbox.sourceId), pubsub_token }, result.created ? 201 : 200);
  })
  .openapi(getContactRoute, async (c) => {
    const found = await contactOr404(c, c.req.valid("param").source_id);
    const pubsub_token = await ensurePubsubToken(c.env, found.contactInbox);
    return c.json({ ...toContact(found.contact, found.contactInbox.sourceId), pubsub_token }, 200);
  })
  .openapi(eraseContactRoute, async (c) => {
    const caller = integratorCaller(c);
    if (caller.kind === "user" && caller.role !== "administrator") {
      throw new ApiError("forbidden", "Erasing a contact needs the inbox's token or an administrator's.");
    }
    const inbox = c.get("inbox");
    const { source_id } = c.req.valid("param");
    const found = await findContactBySource(c.env, inbox, source_id);
    const erasure = found
      ? await requestErasure(c.env, {
          accountId: inbox.accountId,
          contactId: found.contact.id,
          scope: inbox.id,
          sourceHash: await sourceHash(inbox.id, source_id),
          origin: originOf(caller),
        })
      : await latestErasureOfSource(c.env, inbox.accountId, inbox.id, source_id);
    if (!erasure) {
      throw new ApiError("contact_not_found", `No contact with source_id '${source_id}' exists in this inbox.`);
    }
    return c.json(erasure, erasure.status === "completed" ? 200 : 202);
  })
  .openapi(openConversationRoute, async (c) => {
    const contact = await contactOr404(c, c.req.valid("param").source_id);
    const body = c.req.valid("json");
    const opened = await openConversation(
      c.env,
      c.get("inbox"),
      contact,
      { sourceId: body.source_id, customAttributes: body.custom_attributes },
      originOf(integratorCaller(c)),
    );
    return c.json(toConversation(opened.conversation), opened.created ? 201 : 200);
  })
  .openapi(listContactConversationsRoute, async (c) => {
    const contact = await contactOr404(c, c.req.valid("param").source_id);
    return c.json(await listContactConversations(c.env, contact.contactInbox.id, c.req.valid("query")), 200);
  })
  .openapi(getConversationRoute, async (c) => {
    const found = await getInboxConversation(c.env, c.get("inbox").id, c.req.valid("param").conversation_id);
    return c.json(toConversation(found.conversation), 200);
  })
  .openapi(postMessageRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    const target = await getInboxConversation(c.env, c.get("inbox").id, conversation_id);
    const appended = await appendIncoming(
      c.env,
      { conversationId: conversation_id, contact: target.contact, contactInbox: target.contactInbox, conversation: target.conversation },
      c.req.valid("json"),
      originOf(integratorCaller(c)),
      c.get("idempotency"),
    );
    return c.json(appended.message, appended.created ? 201 : 200);
  })
  .openapi(historyRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    const query = c.req.valid("query");
    // Serialised by the domain (the same bytes c.json would send, without the round trip through objects).
    const page = await listInboxMessages(
      c.env,
      c.get("inbox").id,
      conversation_id,
      { afterSeq: query.after_seq, cursor: query.cursor, limit: query.limit, includePrivate: false },
      c.get("history"), // read with the token (authenticate); used only for the inbox admitted above
    );
    return jsonText<MessagePage>(c, page);
  })
  .openapi(
    oneCallRoute,
    async (c) => {
      const input = c.req.valid("json");
      // A contact this isolate remembers: straight to its conversation (one D1 round trip), else the slow path.
      const cached = await receiveFromCache(c, input);
      if (cached) {
        const { created, ...body } = cached;
        return c.json(body, created ? 201 : 200);
      }
      // A new contact on a remembered caller: the message's batch re-checks the caller (no token round trip).
      const fresh = await receiveOnCallerFromCache(c, input);
      if (fresh) {
        const { created, remember, ...body } = fresh;
        rememberReceived(c, integratorCaller(c), remember);
        return c.json(body, created ? 201 : 200);
      }
      // Authenticated by now (again, if a cached try fell back).
      const caller = integratorCaller(c);
      const { created, remember, ...body } = await receiveMessage(c.env, c.get("inbox"), input, caller, originOf(caller), c.get("idempotency"), c.get("contactLookup"));
      rememberReceived(c, caller, remember);
      return c.json(body, created ? 201 : 200);
    },
    // The default hook's 422, after re-authenticating a request that skipped it (typed as the app's defaultHook is).
    oneCallHook as never,
  )
  .openapi(pullEventsRoute, async (c) => {
    return c.json(await pullEvents(c.env, c.get("inbox"), c.req.valid("query")), 200);
  })
  .openapi(messageStatusRoute, async (c) => {
    const { message_id } = c.req.valid("param");
    const body = c.req.valid("json");
    const message = await reportMessageStatus(c.env, c.get("inbox").id, message_id, body, originOf(integratorCaller(c)));
    return c.json(message, 200);
  });

