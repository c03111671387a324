import { z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./context";
import { ContactSchema, ConversationSchema, MessageSchema } from "./integrator/schemas";

const SignatureHeaders = z.object({
  "webhook-id": z.string().openapi({ description: "The event id: stable across retries and replays; dedupe on it", example: "evt_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
  "webhook-timestamp": z.string().openapi({ description: "Unix seconds when this attempt was signed", example: "1764079391" }),
  "webhook-signature": z.string().openapi({
    description: "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the endpoint's secret (the inbox's, or an account-level endpoint's own); two, space-separated, during a secret rotation",
    example: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
  }),
});

const Envelope = {
  id: z.string().openapi({ example: "evt_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
  sequence: z.number().int().nullable().openapi({ description: "Per conversation (contact events: per contact), increasing: the order of its delivery line; null outside both" }),
  created_at: z.string(),
  account: z.object({ id: z.string() }),
  inbox: z.object({ id: z.string(), name: z.string() }),
  conversation_id: z.string().nullable(),
  origin: z
    .object({
      type: z.enum(["token", "user", "automation", "system", "contact"]),
      id: z.string().nullable(),
      token_id: z.string().nullable().optional(),
      rule_id: z.string().nullable().optional(),
    })
    .openapi({ description: "Who caused the change: skip events with your own inbox token's id to ignore your echo" }),
};

const ChangedAttributes = z
  .array(z.record(z.string(), z.object({ previous_value: z.unknown(), current_value: z.unknown() })))
  .openapi({ example: [{ status: { previous_value: "open", current_value: "resolved" } }] });

const events: Array<{ name: string; summary: string; body: z.ZodObject }> = [
  {
    name: "message_created",
    summary: "A message was added: the contact's, an agent's reply, an automation's, or an activity line (never a private note)",
    body: z.object({ ...Envelope, event: z.literal("message_created"), message: MessageSchema, conversation: ConversationSchema, contact: ContactSchema.optional() }),
  },
  {
    name: "message_updated",
    summary: "A reply's delivery status changed (your receipts)",
    body: z.object({ ...Envelope, event: z.literal("message_updated"), message: MessageSchema, conversation: ConversationSchema, changed_attributes: ChangedAttributes }),
  },
  {
    name: "conversation_created",
    summary: "A conversation was opened",
    body: z.object({ ...Envelope, event: z.literal("conversation_created"), conversation: ConversationSchema, contact: ContactSchema }),
  },
  {
    name: "conversation_status_changed",
    summary: "open, pending, snoozed or resolved",
    body: z.object({ ...Envelope, event: z.literal("conversation_status_changed"), conversation: ConversationSchema, changed_attributes: ChangedAttributes }),
  },
  {
    name: "conversation_updated",
    summary: "Assignee or labels changed",
    body: z.object({ ...Envelope, event: z.literal("conversation_updated"), conversation: ConversationSchema, changed_attributes: ChangedAttributes }),
  },
  {
    name: "contact_created",
    summary: "A contact was created through this inbox",
    body: z.object({ ...Envelope, event: z.literal("contact_created"), contact: ContactSchema }),
  },
  {
    name: "contact_updated",
    summary: "A contact's attributes changed",
    body: z.object({ ...Envelope, event: z.literal("contact_updated"), contact: ContactSchema, changed_attributes: z.array(z.string()) }),
  },
  ...(["conversation_typing_on", "conversation_typing_off"] as const).map((name) => ({
    name,
    summary: `An agent ${name.endsWith("_on") ? "started" : "stopped"} typing in the conversation (sequence is null: typing has no place in its order)`,
    body: z.object({
      ...Envelope,
      event: z.literal(name),
      conversation: ConversationSchema,
      user: z.object({ id: z.string(), name: z.string().nullable(), type: z.literal("user") }),
    }),
  })),
  {
    name: "contact_deleted",
    summary: "A contact was erased (GDPR / LGPD): ids only — forget the person on your side too",
    body: z.object({
      ...Envelope,
      event: z.literal("contact_deleted"),
      contact: z.object({ id: z.string(), source_id: z.string() }),
      erasure_id: z.string(),
    }),
  },
  {
    name: "webhook.test",
    summary: "The ping sent by POST …/inboxes/{inbox_id}/webhook/test or POST …/webhooks/{webhook_id}/test",
    body: z.object({
      ...Envelope,
      event: z.literal("webhook.test"),
      inbox: Envelope.inbox.nullable().openapi({ description: "null in the ping of an account-level endpoint" }),
    }),
  },
];

const WEBHOOK_DESCRIPTION =
  "POSTed to the inbox's `webhook_url`, and to every account-level endpoint (`/v1/accounts/{account_id}/webhooks`) that takes the event's type and inbox. " +
  "Verify the Standard Webhooks signature with that endpoint's secret before trusting the body, " +
  "and dedupe on `webhook-id`: a delivery may arrive more than once. Answer any 2xx within 15 s; 410 Gone disables the endpoint, " +
  "anything else is retried (10 attempts over about 3 days), in `sequence` order per conversation.";

/**
 * The webhooks edge-inbox sends, in the document's `webhooks` section: what an integrator's endpoint
 * receives, signed (Standard Webhooks), retried until a 2xx, in sequence order per conversation.
 */
export function describeWebhooks(app: OpenAPIHono<AppEnv>) {
  for (const event of events) {
    app.openAPIRegistry.registerWebhook({
      method: "post",
      path: event.name,
      operationId: `webhook_${event.name.replace(".", "_")}`,
      summary: event.summary,
      description: WEBHOOK_DESCRIPTION,
      tags: ["Webhooks"],
      // Sent by edge-inbox to your endpoint: no token, the signature headers authenticate it.
      security: [],
      request: { headers: SignatureHeaders, body: { content: { "application/json": { schema: event.body } } } },
      responses: {
        200: { description: "Any 2xx within 15 s acknowledges the delivery; 410 disables the endpoint; anything else is retried" },
      },
    });
  }
}
