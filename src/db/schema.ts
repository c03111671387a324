// Mirrors migrations/*.sql (the SQL is the source of truth; wrangler applies it).
import { sql } from "drizzle-orm";
import { integer, primaryKey, sqliteTable, text, uniqueIndex, index } from "drizzle-orm/sqlite-core";

const json = <T>(name: string) => text(name, { mode: "json" }).$type<T>();

export const accounts = sqliteTable("accounts", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  rateLimits: json<{ per_token?: number; per_inbox?: number }>("rate_limits"),
  createdAt: integer("created_at").notNull(),
});

export type Role = "administrator" | "agent";

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    email: text("email").notNull(),
    role: text("role").$type<Role>().notNull(),
    available: integer("available", { mode: "boolean" }).notNull().default(true),
    createdAt: integer("created_at").notNull(),
    deletedAt: integer("deleted_at"),
  },
  (t) => [uniqueIndex("users_account_email").on(t.accountId, t.email).where(sql`deleted_at IS NULL`)],
);

export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    kind: text("kind").$type<"user" | "inbox">().notNull(),
    userId: text("user_id"),
    inboxId: text("inbox_id"),
    tokenHash: text("token_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_tokens_hash").on(t.tokenHash), index("api_tokens_user").on(t.accountId, t.userId)],
);

export const inboxes = sqliteTable(
  "inboxes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    identifier: text("identifier").notNull(),
    name: text("name").notNull(),
    webhookUrl: text("webhook_url"),
    webhookSecret: text("webhook_secret").notNull(),
    previousWebhookSecret: text("previous_webhook_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    webhookDisabledAt: integer("webhook_disabled_at"),
    webhookDisabledReason: text("webhook_disabled_reason"),
    lockToSingleConversation: integer("lock_to_single_conversation", { mode: "boolean" }).notNull().default(true),
    autoAssignment: integer("auto_assignment", { mode: "boolean" }).notNull().default(false),
    maxAssignmentLimit: integer("max_assignment_limit"),
    /** The last events-feed position retention deleted from this inbox: a cursor before it has lost events. */
    eventsPrunedThrough: integer("events_pruned_through"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deletedAt: integer("deleted_at"),
  },
  (t) => [uniqueIndex("inboxes_identifier").on(t.identifier), index("inboxes_account").on(t.accountId, t.id)],
);

export const inboxMembers = sqliteTable(
  "inbox_members",
  {
    inboxId: text("inbox_id").notNull(),
    userId: text("user_id").notNull(),
    accountId: text("account_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.inboxId, t.userId] }), index("inbox_members_user").on(t.accountId, t.userId)],
);

/** JSON as stored and sent: also what Durable Object RPC can carry. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type CustomAttributes = { [key: string]: Json };

export const contacts = sqliteTable(
  "contacts",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    name: text("name"),
    email: text("email"),
    phone: text("phone"),
    identifier: text("identifier"),
    customAttributes: json<CustomAttributes>("custom_attributes").notNull().default({}),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("contacts_account_identifier").on(t.accountId, t.identifier).where(sql`identifier IS NOT NULL`),
  ],
);

export const contactInboxes = sqliteTable(
  "contact_inboxes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    inboxId: text("inbox_id").notNull(),
    contactId: text("contact_id").notNull(),
    sourceId: text("source_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("contact_inboxes_source").on(t.inboxId, t.sourceId),
    index("contact_inboxes_contact").on(t.contactId),
  ],
);

export type ConversationStatus = "open" | "pending" | "snoozed" | "resolved";

export const conversations = sqliteTable(
  "conversations",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    inboxId: text("inbox_id").notNull(),
    contactId: text("contact_id").notNull(),
    contactInboxId: text("contact_inbox_id").notNull(),
    sourceId: text("source_id"),
    status: text("status").$type<ConversationStatus>().notNull().default("open"),
    assigneeId: text("assignee_id"),
    labels: json<string[]>("labels").notNull().default([]),
    customAttributes: json<CustomAttributes>("custom_attributes").notNull().default({}),
    snoozedUntil: integer("snoozed_until"),
    singleOpenKey: text("single_open_key"),
    lastSeq: integer("last_seq").notNull().default(0),
    lastEventSequence: integer("last_event_sequence").notNull().default(0),
    lastActivityAt: integer("last_activity_at").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("conversations_source").on(t.inboxId, t.sourceId).where(sql`source_id IS NOT NULL`),
    uniqueIndex("conversations_single_open").on(t.singleOpenKey).where(sql`single_open_key IS NOT NULL`),
    index("conversations_contact_inbox").on(t.contactInboxId, t.createdAt),
    index("conversations_account_activity").on(t.accountId, t.lastActivityAt, t.id),
    index("conversations_inbox_activity").on(t.inboxId, t.lastActivityAt, t.id),
    index("conversations_snoozed").on(t.snoozedUntil).where(sql`snoozed_until IS NOT NULL`),
    index("conversations_inbox_open_assignee").on(t.inboxId, t.assigneeId).where(sql`status = 'open'`),
  ],
);

export const labels = sqliteTable(
  "labels",
  {
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.name] })],
);

export type MessageType = "incoming" | "outgoing" | "activity";
export type SenderType = "contact" | "user" | "automation" | "system";
export type MessageStatus = "sent" | "delivered" | "read" | "failed";
export type Attachment = { url: string; file_type: string; name?: string };

export const messages = sqliteTable(
  "messages",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    inboxId: text("inbox_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    seq: integer("seq").notNull(),
    messageType: text("message_type").$type<MessageType>().notNull(),
    content: text("content"),
    contentAttributes: json<CustomAttributes>("content_attributes").notNull().default({}),
    attachments: json<Attachment[]>("attachments").notNull().default([]),
    private: integer("private", { mode: "boolean" }).notNull().default(false),
    senderType: text("sender_type").$type<SenderType>().notNull(),
    senderId: text("sender_id"),
    sourceId: text("source_id"),
    status: text("status").$type<MessageStatus>().notNull().default("sent"),
    statusReason: text("status_reason"),
    requestKey: text("request_key"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("messages_conversation_seq").on(t.conversationId, t.seq),
    uniqueIndex("messages_source").on(t.inboxId, t.sourceId).where(sql`source_id IS NOT NULL`),
    uniqueIndex("messages_request_key").on(t.conversationId, t.requestKey).where(sql`request_key IS NOT NULL`),
  ],
);

export type Origin = {
  type: "token" | "user" | "automation" | "system";
  id: string | null;
  token_id?: string | null;
  rule_id?: string | null;
};

export const events = sqliteTable(
  "events",
  {
    position: integer("position").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    accountId: text("account_id").notNull(),
    inboxId: text("inbox_id"),
    conversationId: text("conversation_id"),
    sequence: integer("sequence"),
    type: text("type").notNull(),
    private: integer("private", { mode: "boolean" }).notNull().default(false),
    origin: json<Origin>("origin").notNull(),
    data: json<{ [key: string]: unknown }>("data").notNull(),
    createdAt: integer("created_at").notNull(),
    queuedAt: integer("queued_at"),
  },
  (t) => [
    uniqueIndex("events_id").on(t.id),
    index("events_inbox").on(t.inboxId, t.position),
    uniqueIndex("events_conversation_sequence").on(t.conversationId, t.sequence).where(sql`conversation_id IS NOT NULL`),
    index("events_unqueued").on(t.queuedAt).where(sql`queued_at IS NULL`),
  ],
);

export type DeliveryState = "pending" | "succeeded" | "failed";

export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    inboxId: text("inbox_id").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    conversationId: text("conversation_id"),
    sequence: integer("sequence"),
    endpoint: text("endpoint").notNull().default("inbox"),
    url: text("url").notNull(),
    state: text("state").$type<DeliveryState>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at"),
    enqueuedAt: integer("enqueued_at"),
    leasedUntil: integer("leased_until"),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_event_endpoint").on(t.eventId, t.endpoint),
    index("webhook_deliveries_inbox").on(t.inboxId, t.createdAt, t.id),
    index("webhook_deliveries_conversation")
      .on(t.conversationId, t.endpoint, t.sequence)
      .where(sql`state = 'pending'`),
    index("webhook_deliveries_pending").on(t.state, t.enqueuedAt).where(sql`state = 'pending'`),
  ],
);

export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id").notNull(),
    accountId: text("account_id").notNull(),
    attempt: integer("attempt").notNull(),
    startedAt: integer("started_at").notNull(),
    durationMs: integer("duration_ms").notNull(),
    statusCode: integer("status_code"),
    error: text("error"),
    responseExcerpt: text("response_excerpt"),
  },
  (t) => [index("delivery_attempts_delivery").on(t.deliveryId, t.attempt)],
);

export type RuleEventName = "conversation_created" | "conversation_updated" | "conversation_status_changed" | "message_created";
export type RuleConditionValue = string | number | boolean;
export type RuleCondition = {
  attribute: string;
  operator: string;
  values: RuleConditionValue[];
  /** Joins this condition to the next one; null on the last. */
  query_operator: "and" | "or" | null;
};
export type RuleAction = { name: string; params: (string | number)[] };

export const automationRules = sqliteTable(
  "automation_rules",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    description: text("description"),
    eventName: text("event_name").$type<RuleEventName>().notNull(),
    conditions: json<RuleCondition[]>("conditions").notNull().default([]),
    actions: json<RuleAction[]>("actions").notNull().default([]),
    active: integer("active", { mode: "boolean" }).notNull().default(true),
    webhookSecret: text("webhook_secret").notNull(),
    previousWebhookSecret: text("previous_webhook_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deletedAt: integer("deleted_at"),
  },
  (t) => [
    index("automation_rules_event").on(t.accountId, t.eventName, t.createdAt, t.id).where(sql`deleted_at IS NULL`),
  ],
);

export type RunState = "running" | "completed" | "failed";
export type ConditionResult = { attribute: string; operator: string; result: boolean };
export type ActionResult = { name: string; params: (string | number)[]; result: "applied" | "skipped" | "failed"; detail: string | null };

export const automationRuns = sqliteTable(
  "automation_runs",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    ruleId: text("rule_id").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    conversationId: text("conversation_id"),
    state: text("state").$type<RunState>().notNull().default("running"),
    leaseUntil: integer("lease_until"),
    attempts: integer("attempts").notNull().default(1),
    matched: integer("matched", { mode: "boolean" }),
    conditionResults: json<ConditionResult[]>("condition_results").notNull().default([]),
    actionResults: json<ActionResult[]>("action_results").notNull().default([]),
    error: text("error"),
    createdAt: integer("created_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("automation_runs_event_rule").on(t.eventId, t.ruleId),
    index("automation_runs_rule").on(t.ruleId, t.createdAt, t.id),
    index("automation_runs_created").on(t.createdAt),
  ],
);
