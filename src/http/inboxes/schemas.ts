import { z } from "@hono/zod-openapi";
import { PAYLOAD_FORMATS, SIGNATURE_SCHEMES } from "../../domain/inboxes";
import { MAX_MEMBERS } from "../../domain/inbox-members";
import { pathParam } from "../openapi";
import { AccountParams, UserSchema } from "../users/schemas";

export const InboxParams = AccountParams.extend({ inbox_id: pathParam("inbox_id") });
export const InboxTokenParams = InboxParams.extend({ token_id: pathParam("token_id") });

const name = z.string().trim().min(1).max(255).openapi({ example: "Support API" });
const webhookUrl = z
  .string()
  .max(2048)
  .nullable()
  .openapi({
    description:
      "Where events are POSTed: an absolute https URL with a public host (no credentials, no private, loopback, link-local or metadata addresses). null for none.",
    example: "https://integrator.example.com/webhooks/edge-inbox",
  });
const lockToSingleConversation = z
  .boolean()
  .openapi({ description: "A contact has at most one unresolved conversation in this inbox (default true)." });
const autoAssignment = z.boolean().openapi({ description: "Assign new conversations to available members (default false)." });
const maxAssignmentLimit = z
  .number()
  .int()
  .min(1)
  .max(10_000)
  .nullable()
  .openapi({ description: "Auto-assignment gives an agent at most this many open conversations; null for no limit." });

const publicClientApi = z.boolean().openapi({
  description:
    "Serve Chatwoot's Client API for this inbox (default false). It carries no credentials: anyone who knows the identifier can create contacts and messages (docs/chatwoot.md).",
});
const webhookPayloadFormat = z
  .enum(PAYLOAD_FORMATS)
  .openapi({ description: "The webhook's body: edge-inbox's envelope (default), or Chatwoot's payloads (docs/chatwoot.md)." });
const webhookSignature = z
  .enum(SIGNATURE_SCHEMES)
  .openapi({ description: "standard (default): Standard Webhooks headers; chatwoot: X-Chatwoot-Signature, -Timestamp, -Delivery; both." });

export const InboxSchema = z
  .object({
    id: z.string().openapi({ example: "inb_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
    identifier: z
      .string()
      .openapi({ description: "Public, unguessable: the {inbox_identifier} of the integrator API.", example: "q3V7hZ0kS1mXc9TbLw2PfRy4" }),
    name: z.string(),
    channel_type: z.literal("api"),
    webhook_url: z.string().nullable(),
    webhook_status: z
      .object({
        enabled: z.boolean().openapi({ description: "True when a webhook_url is set and not disabled." }),
        disabled_at: z.string().nullable(),
        disabled_reason: z.string().nullable().openapi({ description: "e.g. the endpoint answered 410 Gone." }),
      })
      .openapi({ description: "Deliveries stop while disabled; PATCH webhook_url or webhook_enabled: true re-enables." }),
    lock_to_single_conversation: z.boolean(),
    auto_assignment: z.boolean(),
    max_assignment_limit: z.number().int().nullable(),
    public_client_api: publicClientApi,
    webhook_payload_format: webhookPayloadFormat,
    webhook_signature: webhookSignature,
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Inbox");

export const InboxWithSecretSchema = InboxSchema.extend({
  secret: z.string().openapi({
    description: "Webhook signing secret (Standard Webhooks). Shown only in this response; store it now.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("InboxWithSecret");

export const NewInboxSchema = z
  .strictObject({
    name,
    webhook_url: webhookUrl.optional(),
    lock_to_single_conversation: lockToSingleConversation.optional(),
    auto_assignment: autoAssignment.optional(),
    max_assignment_limit: maxAssignmentLimit.optional(),
    public_client_api: publicClientApi.optional(),
    webhook_payload_format: webhookPayloadFormat.optional(),
    webhook_signature: webhookSignature.optional(),
  })
  .openapi("NewInbox");

export const InboxPatchSchema = z
  .strictObject({
    name: name.optional(),
    webhook_url: webhookUrl.optional(),
    webhook_enabled: z
      .boolean()
      .optional()
      .openapi({ description: "true re-enables a disabled endpoint (e.g. after a 410); false pauses deliveries." }),
    lock_to_single_conversation: lockToSingleConversation.optional(),
    auto_assignment: autoAssignment.optional(),
    max_assignment_limit: maxAssignmentLimit.optional(),
    public_client_api: publicClientApi.optional(),
    webhook_payload_format: webhookPayloadFormat.optional(),
    webhook_signature: webhookSignature.optional(),
  })
  .openapi("InboxPatch");

export const MembersBodySchema = z
  .strictObject({
    user_ids: z
      .array(z.string().min(1).max(64))
      .max(MAX_MEMBERS)
      .openapi({ description: "The complete set of members; replaces the current one. [] removes all." }),
  })
  .openapi("InboxMembersUpdate");

export const MembersSchema = z
  .object({ data: z.array(UserSchema), next_cursor: z.null().openapi({ description: "Always null: members come in one page." }) })
  .openapi("InboxMembers");

export const AttemptResultSchema = z
  .object({
    ok: z.boolean().openapi({ description: "True only when the endpoint answered 2xx." }),
    status_code: z.number().int().nullable().openapi({ description: "null when no response arrived." }),
    duration_ms: z.number().int(),
    error: z.string().optional().openapi({ description: "Why no usable answer came: refused, timed out, redirected." }),
    response_excerpt: z.string().openapi({ description: "The first 1 KiB of the response body." }),
    retry_after_seconds: z.number().int().optional().openapi({ description: "Retry-After of a 429 or 503." }),
  })
  .openapi("WebhookAttempt");
