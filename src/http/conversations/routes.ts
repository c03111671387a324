import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  actorFor,
  assignConversation,
  changeConversationStatus,
  getConversationDetail,
  labelConversation,
  listConversations,
  listLabels,
  postAgentMessage,
  requireVisibleConversation,
  type UserViewer,
} from "../../domain/agent";
import { originOf } from "../../domain/events";
import { listMessages, type MessagePage } from "../../domain/messages";
import { jsonText } from "../json-text";
import { unreadCounts } from "../../domain/realtime";
import { accountUser } from "../auth";
import { agentOwner, jsonOrMultipartBody, multipartMessage } from "../attachments/multipart";
import type { AppContext, AppEnv } from "../context";
import { idempotent } from "../idempotency";
import { AccountParams } from "../users/schemas";
import { AttachmentIds, ContactSchema, ConversationSchema, HistoryQuery, MAX_ATTACHMENTS, MessageSchema, SourceId } from "../integrator/schemas";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, listOf, PaginationQuery, pathParam } from "../openapi";

const tags = ["Agent"];
const guard = { middleware: [accountUser()], security: bearerSecurity, tags };

const ConversationParams = AccountParams.extend({
  conversation_id: pathParam("conversation_id"),
});

export const LabelName = z
  .string()
  .regex(/^[a-z0-9_-]{1,50}$/, "labels are 1–50 characters of a–z, 0–9, '_' and '-'")
  .openapi({ example: "refund" });

const ConversationDetailSchema = ConversationSchema.extend({
  inbox_deleted: z.boolean(),
  contact: ContactSchema,
  assignee: z.object({ id: z.string(), name: z.string(), email: z.string() }).nullable(),
  last_message: MessageSchema.nullable(),
}).openapi("ConversationDetail");

const StatusCounts = z.object({
  open: z.number().int(),
  pending: z.number().int(),
  snoozed: z.number().int(),
  resolved: z.number().int(),
  all: z.number().int(),
});

function viewer(c: AppContext): UserViewer {
  const user = c.get("user");
  return { kind: "user", accountId: user.accountId, userId: user.userId, role: user.role };
}

/** Before a stored answer about a conversation is replayed: the caller may still see it (an agent still a member of its inbox). */
const visibleConversation = (c: AppContext) => requireVisibleConversation(c.env, viewer(c), c.req.param("conversation_id") ?? "");

async function actor(c: AppContext) {
  return actorFor(c.env, viewer(c), originOf(c.get("user")));
}

const listRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/accounts/{account_id}/conversations",
  operationId: "listConversations",
  summary: "Conversations the caller can see, newest activity first, with counts per status",
  description: "The conversations in the inboxes the caller works (administrators: all inboxes), newest activity first. Filter by `status`, `inbox_id`, `contact_id`, `assignee` (`me`, `unassigned` or a user id), `label`, and `q` (words in the messages' text, SQLite FTS5); `meta.counts` gives the number per status. Page with `cursor`.",
  request: {
    params: AccountParams,
    query: PaginationQuery.extend({
      status: z.enum(["open", "pending", "snoozed", "resolved"]).optional(),
      inbox_id: z.string().max(64).optional(),
      contact_id: z.string().max(64).optional().openapi({ description: "Only this contact's conversations" }),
      assignee: z.string().max(64).optional().openapi({ description: "me, unassigned, or a user id" }),
      label: LabelName.optional(),
      q: z.string().trim().min(1).max(200).optional().openapi({
        description: "Full-text search: conversations with a message containing every word (prefixes match; case and accents ignored; private notes included)",
        example: "pedido 1042",
      }),
    }),
  },
  responses: {
    200: jsonResponse(
      listOf(
        ConversationSchema.extend({
          unread_count: z.number().int().openapi({ description: "The contact's messages since you last marked the conversation seen (POST …/last_seen)" }),
          contact: z
            .object({
              id: z.string(),
              source_id: z.string().openapi({ description: "The contact's id in this conversation's inbox" }),
              name: z.string().nullable(),
              email: z.string().nullable(),
              phone: z.string().nullable(),
            })
            .openapi("ConversationContactSummary", { description: "Who the conversation is with (the whole contact: GET …/contacts/{contact_id})" }),
        }),
        "AgentConversationList",
      ).extend({ meta: z.object({ counts: StatusCounts }) }),
      "A page of conversations",
    ),
    ...errorResponses(400, 403, 404, 422),
  },
});

const getRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}",
  operationId: "getConversation",
  summary: "A conversation with its contact, assignee, labels and last message",
  description: "One conversation with its contact, assignee, labels and last message. A conversation of an inbox the agent does not work is a 404; a deleted inbox's conversations stay readable with `inbox_deleted: true`.",
  request: { params: ConversationParams },
  responses: { 200: jsonResponse(ConversationDetailSchema, "The conversation"), ...errorResponses(403, 404, 422) },
});

const messagesRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}/messages",
  operationId: "listAgentMessages",
  summary: "Everything in the conversation, private notes and activity included, in seq order",
  description: "The whole history in `seq` order: the contact's messages, replies, private notes and activity lines (\"Assigned to Ana by Bruno\"). Page with `cursor` = the previous page's `next_cursor`.",
  request: { params: ConversationParams, query: HistoryQuery },
  responses: { 200: jsonResponse(listOf(MessageSchema, "AgentMessageList"), "A page of messages"), ...errorResponses(400, 403, 404, 422) },
});

const replyRoute = createRoute({
  ...guard,
  middleware: [idempotent(accountUser(), { beforeReplay: visibleConversation }), multipartMessage(agentOwner)],
  method: "post",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}/messages",
  operationId: "postAgentMessage",
  summary: "Reply to the contact (sent to the integrator's webhook) or write a private note",
  description: `\`{content}\` is a reply: an outgoing message delivered to the integrator's webhook as \`message_created\`. \`{content, private: true}\` is a private note for colleagues: it never leaves the platform. A deleted inbox's conversation answers 409 \`inbox_deleted\`. Files: \`attachment_ids\` of the account's uploads (POST /v1/accounts/{account_id}/uploads), or \`multipart/form-data\` with the fields (or the JSON as a \`payload\` part) and the files as \`attachments[]\` parts; at most ${MAX_ATTACHMENTS}, each within ATTACHMENT_MAX_BYTES (413) and of its declared type (415).`,
  request: {
    params: ConversationParams,
    headers: IdempotencyKeyHeader,
    body: jsonOrMultipartBody(
      z
        .strictObject({
          content: z.string().trim().max(150_000).optional().openapi({ example: "Thanks, I'm looking into it." }),
          attachment_ids: AttachmentIds.optional(),
          private: z.boolean().optional().openapi({ description: "A private note: never leaves the platform" }),
          source_id: SourceId.optional().openapi({
            description:
              "Your id for this reply (a console sends one per compose): a message with this source_id is created once, ever, so a retry after a lost answer or a 503 `outcome_unknown` returns it (200) instead of sending a second reply. Unique per inbox, shared with the integrator's message ids.",
          }),
          content_attributes: z
            .strictObject({ in_reply_to: z.string().max(64).optional().openapi({ description: "Id of the message this replies to" }) })
            .optional(),
        })
        .refine((body) => (body.content?.length ?? 0) > 0 || (body.attachment_ids?.length ?? 0) > 0, {
          message: "content must not be empty unless attachments are sent",
          path: ["content"],
        })
        .openapi("NewAgentMessage"),
    ),
  },
  responses: {
    200: jsonResponse(MessageSchema, "A message with this source_id already existed; it is returned and nothing is sent"),
    201: jsonResponse(MessageSchema, "Created"),
    ...errorResponses(400, 403, 404, 409, 413, 415, 422),
  },
});

const assignRoute = createRoute({
  ...guard,
  middleware: [idempotent(accountUser(), { beforeReplay: visibleConversation })],
  method: "post",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}/assignment",
  operationId: "assignConversation",
  summary: "Assign to a member of the inbox, or unassign with null",
  description: "Sets `assignee_id` to a member of the conversation's inbox, or `null` to unassign. Adds an activity line and emits `conversation_updated` with `changed_attributes`.",
  request: {
    params: ConversationParams,
    headers: IdempotencyKeyHeader,
    body: jsonBody(z.strictObject({ assignee_id: z.string().max(64).nullable() }).openapi("Assignment")),
  },
  responses: { 200: jsonResponse(ConversationSchema, "The conversation"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

const labelsRoute = createRoute({
  ...guard,
  middleware: [idempotent(accountUser(), { beforeReplay: visibleConversation })],
  method: "post",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}/labels",
  operationId: "setConversationLabels",
  summary: "Replace the conversation's labels",
  description: "Replaces the whole set of labels (`[a-z0-9_-]{1,50}`); a label that does not exist yet is created for the account. Emits `conversation_updated`.",
  request: {
    params: ConversationParams,
    headers: IdempotencyKeyHeader,
    body: jsonBody(z.strictObject({ labels: z.array(LabelName).max(20) }).openapi("LabelSet")),
  },
  responses: { 200: jsonResponse(ConversationSchema, "The conversation"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

const StatusChange = z
  .strictObject({
    status: z.enum(["open", "pending", "snoozed", "resolved"]),
    snoozed_until: z.iso.datetime({ offset: true }).optional().openapi({ description: "Required with snoozed; a future time" }),
  })
  .superRefine((value, ctx) => {
    if (value.status === "snoozed") {
      if (value.snoozed_until === undefined) {
        ctx.addIssue({ code: "custom", path: ["snoozed_until"], message: "required when status is snoozed" });
      } else if (Date.parse(value.snoozed_until) <= Date.now()) {
        ctx.addIssue({ code: "custom", path: ["snoozed_until"], message: "must be in the future" });
      }
    } else if (value.snoozed_until !== undefined) {
      ctx.addIssue({ code: "custom", path: ["snoozed_until"], message: "only allowed when status is snoozed" });
    }
  })
  .openapi("StatusChange");

const statusRoute = createRoute({
  ...guard,
  middleware: [idempotent(accountUser(), { beforeReplay: visibleConversation })],
  method: "post",
  path: "/v1/accounts/{account_id}/conversations/{conversation_id}/status",
  operationId: "changeConversationStatus",
  summary: "open, pending, snoozed (reopens at snoozed_until) or resolved",
  description: "Sets `open`, `pending`, `resolved`, or `snoozed` with a future `snoozed_until`: the conversation reopens by itself then, or earlier when the contact writes. Adds an activity line (\"Resolved by Bruno\") and emits `conversation_status_changed`.",
  request: { params: ConversationParams, headers: IdempotencyKeyHeader, body: jsonBody(StatusChange) },
  responses: { 200: jsonResponse(ConversationSchema, "The conversation"), ...errorResponses(400, 403, 404, 409, 413, 415, 422) },
});

const listLabelsRoute = createRoute({
  ...guard,
  method: "get",
  path: "/v1/accounts/{account_id}/labels",
  operationId: "listLabels",
  summary: "The account's labels (created on first use)",
  description: "Every label used in the account, for filters and pickers. Labels are created the first time a conversation gets them; there is nothing to create beforehand.",
  request: { params: AccountParams },
  responses: {
    200: jsonResponse(listOf(z.object({ name: z.string(), created_at: z.string() }), "LabelList"), "All labels"),
    ...errorResponses(403, 404, 422),
  },
});

export const conversationRoutes = new OpenAPIHono<AppEnv>()
  .openapi(listRoute, async (c) => {
    const list = await listConversations(c.env, viewer(c), c.req.valid("query"));
    const unread = await unreadCounts(c.env, c.get("user").userId, list.data.map((conversation) => conversation.id));
    return c.json({ ...list, data: list.data.map((conversation) => ({ ...conversation, unread_count: unread.get(conversation.id) ?? 0 })) }, 200);
  })
  .openapi(getRoute, async (c) => c.json(await getConversationDetail(c.env, viewer(c), c.req.valid("param").conversation_id), 200))
  .openapi(messagesRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    await requireVisibleConversation(c.env, viewer(c), conversation_id);
    const query = c.req.valid("query");
    // Serialised by the domain (the same bytes c.json would send, without the round trip through objects).
    const page = await listMessages(c.env, conversation_id, { afterSeq: query.after_seq, cursor: query.cursor, limit: query.limit, includePrivate: true });
    return jsonText<MessagePage>(c, page);
  })
  .openapi(replyRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    const appended = await postAgentMessage(c.env, viewer(c), await actor(c), conversation_id, c.req.valid("json"), c.get("idempotency"));
    return c.json(appended.message, appended.created ? 201 : 200);
  })
  .openapi(assignRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    return c.json(await assignConversation(c.env, viewer(c), await actor(c), conversation_id, c.req.valid("json").assignee_id), 200);
  })
  .openapi(labelsRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    return c.json(await labelConversation(c.env, viewer(c), await actor(c), conversation_id, c.req.valid("json").labels), 200);
  })
  .openapi(statusRoute, async (c) => {
    const { conversation_id } = c.req.valid("param");
    return c.json(await changeConversationStatus(c.env, viewer(c), await actor(c), conversation_id, c.req.valid("json")), 200);
  })
  .openapi(listLabelsRoute, async (c) => c.json(await listLabels(c.env, c.req.valid("param").account_id), 200));
