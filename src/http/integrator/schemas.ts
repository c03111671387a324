import { z } from "@hono/zod-openapi";
import type { Json } from "../../domain/contacts";
import { pathParam } from "../openapi";

const MAX_CONTENT = 150_000;
const MAX_ATTRIBUTES_BYTES = 16 * 1024;

export const SourceId = z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, "visible ASCII characters only, no spaces");

/** Any JSON value (the body was parsed as JSON already). A recursive schema would not fit OpenAPI generation. */
const JsonValue = z.unknown().openapi({ description: "Any JSON value" }) as z.ZodType<Json>;

/** Free-form key/value data the integrator attaches; bounded so one field cannot bloat every event. */
export const CustomAttributes = z
  .record(z.string().min(1).max(100), JsonValue)
  .refine((value) => JSON.stringify(value).length <= MAX_ATTRIBUTES_BYTES, `must be at most ${MAX_ATTRIBUTES_BYTES} bytes as JSON`)
  .openapi({ example: { plan: "pro" } });

export const ContactAttributesSchema = z
  .strictObject({
    name: z.string().trim().max(255).nullable().optional().openapi({ example: "Maria Silva" }),
    email: z.email().max(320).nullable().optional().openapi({ example: "maria@example.com" }),
    phone: z.string().regex(/^\+?[0-9 ().-]{3,32}$/, "a phone number such as +5511999990000").nullable().optional(),
    identifier: z.string().min(1).max(255).nullable().optional().openapi({
      description:
        "Your id for the person. Without identifier_hash it is unique only among this inbox's contacts; with a valid identifier_hash (or from a user token) it links the same contact across inboxes of the account.",
    }),
    identifier_hash: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, "64 hex characters: HMAC-SHA256 of the identifier")
      .optional()
      .openapi({
        description:
          "HMAC-SHA256 (hex) of identifier, keyed with the inbox's identity secret (GET /v1/accounts/{account_id}/inboxes/{inbox_id}/identity). Required when the inbox has hmac_mandatory.",
      }),
    custom_attributes: CustomAttributes.optional(),
  })
  .openapi("ContactAttributes");

export const AttachmentSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
      .max(2048),
    file_type: z.enum(["image", "audio", "video", "file", "location", "contact"]),
    name: z.string().max(255).optional(),
  })
  .openapi("Attachment");

/** Files per message: URL attachments, attachment_ids and multipart files together. */
export const MAX_ATTACHMENTS = 10;

export const AttachmentIds = z
  .array(z.string().min(1).max(64))
  .max(MAX_ATTACHMENTS)
  .openapi({
    description:
      "Ids of files uploaded before (POST …/uploads), or sent in the same multipart request as `attachments[]`. An upload may be referenced by any number of messages of the inbox (integrators) or account (agents). Example: [\"att_01JDQ7Z8X3M4N5P6Q7R8S9T0V1\"].",
  });

const messageFields = {
  message_type: z.enum(["incoming", "outgoing"]).optional().openapi({
    description:
      "incoming (default): from the contact. outgoing: the business sent it from its own system and you record it here (sender: the integration); it is not sent back to your webhook unless echo is true.",
  }),
  echo: z.boolean().optional().openapi({ description: "outgoing only: also deliver its message_created to this inbox's webhook" }),
  external_created_at: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "Importing history: when the message really happened (kept as external_created_at; seq stays the order of arrival)", example: "2024-03-01T12:00:00Z" }),
  content: z.string().max(MAX_CONTENT).optional().openapi({ example: "Hi! My order hasn't arrived." }),
  source_id: SourceId.optional().openapi({ description: "Your message id: a message with this source_id is created once, ever." }),
  content_attributes: CustomAttributes.optional(),
  attachments: z.array(AttachmentSchema).max(MAX_ATTACHMENTS).optional(),
  attachment_ids: AttachmentIds.optional(),
};

const hasContent = (body: { content?: string; attachments?: unknown[]; attachment_ids?: unknown[] }) =>
  (body.content !== undefined && body.content.trim().length > 0) || (body.attachments?.length ?? 0) + (body.attachment_ids?.length ?? 0) > 0;
const contentRequired = { message: "content must not be empty unless attachments are sent", path: ["content"] };
const fewEnoughFiles = (body: { attachments?: unknown[]; attachment_ids?: unknown[] }) =>
  (body.attachments?.length ?? 0) + (body.attachment_ids?.length ?? 0) <= MAX_ATTACHMENTS;
const tooManyFiles = { message: `at most ${MAX_ATTACHMENTS} attachments per message (URLs and files together)`, path: ["attachments"] };

export const NewMessageSchema = z
  .strictObject(messageFields)
  .refine(hasContent, contentRequired)
  .refine(fewEnoughFiles, tooManyFiles)
  .openapi("NewIncomingMessage");

export const NewConversationSchema = z
  .strictObject({
    source_id: SourceId.optional().openapi({ description: "Your thread id: find-or-create by it." }),
    custom_attributes: CustomAttributes.optional(),
  })
  .openapi("NewConversation");

export const OneCallMessageSchema = z
  .strictObject({
    contact: ContactAttributesSchema.extend({ source_id: SourceId.openapi({ example: "user-42" }) }),
    conversation: NewConversationSchema.optional(),
    ...messageFields,
  })
  .refine(hasContent, contentRequired)
  .refine(fewEnoughFiles, tooManyFiles)
  .openapi("OneCallMessage");

export const MessageStatusSchema = z
  .strictObject({
    status: z.enum(["delivered", "read", "failed"]),
    reason: z.string().max(1000).optional().openapi({ description: "Why delivery failed" }),
  })
  .openapi("MessageStatusReport");

export const ContactSchema = z
  .object({
    id: z.string(),
    source_id: z.string().nullable(),
    name: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    identifier: z.string().nullable(),
    identifier_verified: z.boolean().openapi({ description: "The identifier was proven and links the person across inboxes" }),
    custom_attributes: z.record(z.string(), z.unknown()),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Contact");

export const ConversationSchema = z
  .object({
    id: z.string(),
    inbox_id: z.string(),
    contact_id: z.string(),
    source_id: z.string().nullable(),
    status: z.enum(["open", "pending", "snoozed", "resolved"]),
    assignee_id: z.string().nullable(),
    labels: z.array(z.string()),
    custom_attributes: z.record(z.string(), z.unknown()),
    snoozed_until: z.string().nullable(),
    messages_count: z.number().int(),
    last_activity_at: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Conversation");

/** A file we store: what it is, and a signed link to fetch it. */
export const StoredAttachmentSchema = z
  .object({
    id: z.string().openapi({ example: "att_01JDQ7Z8X3M4N5P6Q7R8S9T0V1" }),
    file_type: z.string().openapi({ description: "image, audio, video or file" }),
    file_name: z.string().openapi({ example: "invoice.pdf" }),
    content_type: z.string().openapi({ example: "application/pdf" }),
    byte_size: z.number().int(),
    sha256: z.string().openapi({ description: "Hex SHA-256 of the file's bytes" }),
    data_url: z.string().optional().openapi({
      description:
        "Always present in answers, webhooks and the events feed: a signed link (no token needed) valid for ATTACHMENT_URL_TTL_SECONDS (1 hour by default), made fresh each time the message is shown.",
    }),
  })
  .openapi("StoredAttachment");

export const MessageAttachmentSchema = z
  .union([z.object({ url: z.string(), file_type: z.string(), name: z.string().optional() }).openapi("UrlAttachment"), StoredAttachmentSchema])
  .openapi("MessageAttachment", { description: "A URL you host (url) or a file stored here (id, data_url)." });

export const MessageSchema = z
  .object({
    id: z.string(),
    conversation_id: z.string(),
    inbox_id: z.string(),
    seq: z.number().int().openapi({ description: "1, 2, 3… without gaps within the conversation" }),
    message_type: z.enum(["incoming", "outgoing", "activity"]),
    content: z.string().nullable(),
    content_attributes: z.record(z.string(), z.unknown()),
    attachments: z.array(MessageAttachmentSchema),
    private: z.boolean(),
    sender: z.object({ type: z.enum(["contact", "user", "automation", "system", "integration"]), id: z.string().nullable() }),
    source_id: z.string().nullable(),
    status: z.enum(["sent", "delivered", "read", "failed"]),
    status_reason: z.string().nullable(),
    external_created_at: z.string().nullable().openapi({ description: "When an imported message really happened" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Message");

export const OneCallResultSchema = z
  .object({ contact: ContactSchema, conversation: ConversationSchema, message: MessageSchema })
  .openapi("OneCallResult");

export const InboxParams = z.object({
  inbox_identifier: pathParam("inbox_identifier"),
});
export const ContactParams = InboxParams.extend({
  source_id: SourceId.openapi({ param: { name: "source_id", in: "path" } }),
});
export const ConversationParams = InboxParams.extend({
  conversation_id: pathParam("conversation_id"),
});
export const MessageParams = InboxParams.extend({
  message_id: pathParam("message_id"),
});

export const HistoryQuery = z.object({
  after_seq: z.coerce.number().int().min(0).optional().openapi({ description: "Return messages with a larger seq" }),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
