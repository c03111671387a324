// The one definition of a shard database's schema: every row an account owns lives in its shard (the control
// database, src/db/control/schema.ts, holds the accounts and the directory; docs/scaling.md).
// migrations/shard/*.sql are generated from it (`npm run db:generate`, README "Changing the schema");
// `npm run db:check` fails when this file and migrations/shard/ disagree.
// Times are integer milliseconds since the epoch (UTC); the API renders them as ISO 8601.
// Every tenant-owned row carries account_id, and every query filters on it.
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const json = <T>(name: string) => text(name, { mode: "json" }).$type<T>();

/** CHECK (column IN ('a', 'b', …)): the database refuses any other value. */
const oneOf = (name: string, column: string, values: readonly string[]) =>
  check(name, sql.raw(`${column} IN (${values.map((value) => `'${value}'`).join(", ")})`));

export const SHARD_ACCOUNT_STATES = ["active", "copying", "frozen", "moved"] as const;
export type ShardAccountState = (typeof SHARD_ACCOUNT_STATES)[number];

/**
 * The shard's copy of an account: only what the shard's foreign keys and its routing check need (the name
 * and limits are the control database's). `state` drives a move out of this shard (docs/scaling.md): while
 * 'copying', triggers (src/db/moves.sql) log every change of the account's rows in move_changes; 'frozen'
 * (the switch) and 'moved' make those triggers refuse any write of them, whoever the writer (a request, a
 * queue consumer, an alarm), and a request routed by a stale directory entry re-reads the directory.
 */
export const accounts = sqliteTable(
  "accounts",
  {
    id: text("id").primaryKey(),
    createdAt: integer("created_at").notNull(),
    state: text("state").$type<ShardAccountState>().notNull().default("active"),
  },
  // No CHECK on state: adding one rebuilds the table, which the foreign keys of every other table forbid.
);

export const ROLES = ["administrator", "agent"] as const;
export type Role = (typeof ROLES)[number];

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    name: text("name").notNull(),
    email: text("email").notNull(),
    role: text("role").$type<Role>().notNull(),
    // Auto-assignment skips agents who are not available.
    available: integer("available", { mode: "boolean" }).notNull().default(true),
    createdAt: integer("created_at").notNull(),
    deletedAt: integer("deleted_at"),
    // The console's password: `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>` (src/domain/passwords.ts);
    // null until the user sets one through an invite link.
    passwordHash: text("password_hash"),
  },
  (t) => [
    // An email identifies one live user per account; a deleted user frees it.
    uniqueIndex("users_account_email").on(t.accountId, t.email).where(sql`deleted_at IS NULL`),
    oneOf("users_role", "role", ROLES),
  ],
);

export const TOKEN_KINDS = ["user", "inbox"] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    kind: text("kind").$type<TokenKind>().notNull(),
    userId: text("user_id").references(() => users.id),
    inboxId: text("inbox_id"),
    // SHA-256 of the token, hex. The token itself is never stored.
    tokenHash: text("token_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [
    uniqueIndex("api_tokens_hash").on(t.tokenHash),
    index("api_tokens_user").on(t.accountId, t.userId),
    oneOf("api_tokens_kind", "kind", TOKEN_KINDS),
  ],
);

export const PAYLOAD_FORMATS = ["edge-inbox", "chatwoot"] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];
export const SIGNATURE_SCHEMES = ["standard", "chatwoot", "both"] as const;
export type SignatureScheme = (typeof SIGNATURE_SCHEMES)[number];

export const inboxes = sqliteTable(
  "inboxes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    // Public, random, unguessable: what integrators put in their URLs.
    identifier: text("identifier").notNull(),
    name: text("name").notNull(),
    webhookUrl: text("webhook_url"),
    webhookSecret: text("webhook_secret").notNull(),
    // During a rotation the previous secret still signs, until previous_secret_expires_at.
    previousWebhookSecret: text("previous_webhook_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    // Set when the endpoint answered 410 Gone; cleared by updating the inbox.
    webhookDisabledAt: integer("webhook_disabled_at"),
    webhookDisabledReason: text("webhook_disabled_reason"),
    lockToSingleConversation: integer("lock_to_single_conversation", { mode: "boolean" }).notNull().default(true),
    autoAssignment: integer("auto_assignment", { mode: "boolean" }).notNull().default(false),
    maxAssignmentLimit: integer("max_assignment_limit"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deletedAt: integer("deleted_at"),
    /** The last events-feed position retention deleted from this inbox: a cursor before it has lost events. */
    eventsPrunedThrough: integer("events_pruned_through"),
    /** Signs contact identifiers (identifier_hash); Chatwoot's hmac_token. */
    identitySecret: text("identity_secret").notNull().default(""),
    /** When set, an identifier without a valid identifier_hash is refused (Chatwoot's hmac_mandatory). */
    hmacMandatory: integer("hmac_mandatory", { mode: "boolean" }).notNull().default(false),
    /** Serves Chatwoot's credential-less Client API (/public/api/v1/inboxes/{identifier}/…) for this inbox. */
    publicClientApi: integer("public_client_api", { mode: "boolean" }).notNull().default(false),
    /** The inbox webhook's body and signature scheme (docs/chatwoot.md). */
    webhookPayloadFormat: text("webhook_payload_format").$type<PayloadFormat>().notNull().default("edge-inbox"),
    webhookSignature: text("webhook_signature").$type<SignatureScheme>().notNull().default("standard"),
  },
  (t) => [uniqueIndex("inboxes_identifier").on(t.identifier), index("inboxes_account").on(t.accountId, t.id)],
);

export const inboxMembers = sqliteTable(
  "inbox_members",
  {
    inboxId: text("inbox_id").notNull().references(() => inboxes.id),
    userId: text("user_id").notNull().references(() => users.id),
    accountId: text("account_id").notNull().references(() => accounts.id),
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
    accountId: text("account_id").notNull().references(() => accounts.id),
    name: text("name"),
    email: text("email"),
    phone: text("phone"),
    // The integrator's id for the person: links the same contact across inboxes of the account.
    identifier: text("identifier"),
    customAttributes: json<CustomAttributes>("custom_attributes").notNull().default({}),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** The last `sequence` given to an event of this contact: contact events are ordered per contact. */
    lastEventSequence: integer("last_event_sequence").notNull().default(0),
    /** Where the identifier is unique: 'account' when it was proven, else the inbox that claimed it. */
    identifierScope: text("identifier_scope"),
  },
  (t) => [
    uniqueIndex("contacts_identifier").on(t.accountId, t.identifierScope, t.identifier).where(sql`identifier IS NOT NULL`),
    // The account's contact list (agents and administrators), in id order.
    index("contacts_account").on(t.accountId, t.id),
  ],
);

/** A contact as seen through one inbox: source_id is the contact's id in the integrator's system. */
export const contactInboxes = sqliteTable(
  "contact_inboxes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    inboxId: text("inbox_id").notNull().references(() => inboxes.id),
    contactId: text("contact_id").notNull().references(() => contacts.id),
    sourceId: text("source_id").notNull(),
    createdAt: integer("created_at").notNull(),
    // The contact's realtime stream credential (docs/realtime.md): returned by the upsert, rotatable.
    // Set on first use; NULL for contacts that never had one.
    pubsubToken: text("pubsub_token"),
  },
  (t) => [
    uniqueIndex("contact_inboxes_source").on(t.inboxId, t.sourceId),
    index("contact_inboxes_contact").on(t.contactId),
    uniqueIndex("contact_inboxes_pubsub_token").on(t.pubsubToken).where(sql`pubsub_token IS NOT NULL`),
  ],
);

export const CONVERSATION_STATUSES = ["open", "pending", "snoozed", "resolved"] as const;
export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];

export const conversations = sqliteTable(
  "conversations",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    inboxId: text("inbox_id").notNull().references(() => inboxes.id),
    contactId: text("contact_id").notNull().references(() => contacts.id),
    contactInboxId: text("contact_inbox_id").notNull().references(() => contactInboxes.id),
    // The integrator's thread id: find-or-create by it.
    sourceId: text("source_id"),
    status: text("status").$type<ConversationStatus>().notNull().default("open"),
    assigneeId: text("assignee_id").references(() => users.id),
    // Label names, kept sorted.
    labels: json<string[]>("labels").notNull().default([]),
    customAttributes: json<CustomAttributes>("custom_attributes").notNull().default({}),
    snoozedUntil: integer("snoozed_until"),
    // Set while the inbox locks a contact to one conversation and this one is unresolved;
    // the unique index conversations_single_open makes "one open conversation per contact" hold under races.
    singleOpenKey: text("single_open_key"),
    // The last message seq and event sequence handed out; the conversation's Durable Object owns them.
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
    // Auto-assignment counts each member's open conversations in the inbox (max_assignment_limit).
    index("conversations_inbox_open_assignee").on(t.inboxId, t.assigneeId).where(sql`status = 'open'`),
    index("conversations_contact").on(t.contactId, t.id),
    oneOf("conversations_status", "status", CONVERSATION_STATUSES),
  ],
);

export const labels = sqliteTable(
  "labels",
  {
    accountId: text("account_id").notNull().references(() => accounts.id),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.name] })],
);

export const MESSAGE_TYPES = ["incoming", "outgoing", "activity"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
export const SENDER_TYPES = ["contact", "user", "automation", "system"] as const;
export type SenderType = (typeof SENDER_TYPES)[number];
export const MESSAGE_STATUSES = ["sent", "delivered", "read", "failed"] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
/** An attachment the integrator hosts itself: we keep and show its URL. */
export type UrlAttachment = { url: string; file_type: string; name?: string };
/**
 * A file stored in R2 (the attachments table), as a message keeps it. base_url is where its data_url
 * points when PUBLIC_URL is unset; the API shows a freshly signed data_url instead of it.
 */
export type StoredAttachment = {
  id: string;
  file_type: string;
  file_name: string;
  content_type: string;
  byte_size: number;
  sha256: string;
  /** Kept in storage, never shown. */
  base_url?: string;
  /** Shown instead of base_url: signed when the message is rendered (attachments/render.ts). */
  data_url?: string;
};
export type Attachment = UrlAttachment | StoredAttachment;

export const messages = sqliteTable(
  "messages",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    inboxId: text("inbox_id").notNull().references(() => inboxes.id),
    conversationId: text("conversation_id").notNull().references(() => conversations.id),
    // 1, 2, 3… without gaps within the conversation.
    seq: integer("seq").notNull(),
    messageType: text("message_type").$type<MessageType>().notNull(),
    content: text("content"),
    contentAttributes: json<CustomAttributes>("content_attributes").notNull().default({}),
    attachments: json<Attachment[]>("attachments").notNull().default([]),
    private: integer("private", { mode: "boolean" }).notNull().default(false),
    senderType: text("sender_type").$type<SenderType>().notNull(),
    senderId: text("sender_id"),
    // The integrator's message id: dedupes forever within the inbox.
    sourceId: text("source_id"),
    status: text("status").$type<MessageStatus>().notNull().default("sent"),
    statusReason: text("status_reason"),
    // The Idempotency-Key (with its route) that created the message: a retry after the conversation
    // object lost its own memory of the key still finds the message instead of writing a second one.
    requestKey: text("request_key"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** 'integration': the business sent it from its own system and the integrator recorded it (docs/contacts.md). */
    origin: text("origin").$type<"integration">(),
    /** When it really happened, for imported history; seq and created_at stay the order of arrival. */
    externalCreatedAt: integer("external_created_at"),
  },
  (t) => [
    uniqueIndex("messages_conversation_seq").on(t.conversationId, t.seq),
    uniqueIndex("messages_source").on(t.inboxId, t.sourceId).where(sql`source_id IS NOT NULL`),
    // Per inbox, not per conversation: a retry finds its message even if the conversation was resolved since.
    uniqueIndex("messages_request_key").on(t.inboxId, t.requestKey).where(sql`request_key IS NOT NULL`),
    oneOf("messages_message_type", "message_type", MESSAGE_TYPES),
    oneOf("messages_sender_type", "sender_type", SENDER_TYPES),
    oneOf("messages_status", "status", MESSAGE_STATUSES),
  ],
);

export type Origin = {
  type: "token" | "user" | "automation" | "system" | "contact";
  id: string | null;
  token_id?: string | null;
  rule_id?: string | null;
};

/**
 * The outbox. position is assigned in commit order (D1 has one writer), so "events after position P"
 * never skips an event that committed late: the pull API and the sweeper page by it.
 */
export const events = sqliteTable(
  "events",
  {
    position: integer("position").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    inboxId: text("inbox_id"),
    conversationId: text("conversation_id"),
    // Per conversation, increasing; NULL for events outside a conversation (contacts, pings).
    sequence: integer("sequence"),
    type: text("type").notNull(),
    // Private notes and their events never reach the integrator.
    private: integer("private", { mode: "boolean" }).notNull().default(false),
    origin: json<Origin>("origin").notNull(),
    data: json<{ [key: string]: unknown }>("data").notNull(),
    createdAt: integer("created_at").notNull(),
    // When the event was handed to the queue; NULL = the sweeper will hand it over.
    queuedAt: integer("queued_at"),
  },
  (t) => [
    uniqueIndex("events_id").on(t.id),
    index("events_inbox").on(t.inboxId, t.position),
    // The realtime object tails its account's events by position; an account-level webhook endpoint's
    // replay walks them in the same order.
    index("events_account").on(t.accountId, t.position),
    // The conversation object hands out sequences; this is the last line of defence if it ever restarts mid-write.
    uniqueIndex("events_conversation_sequence").on(t.conversationId, t.sequence).where(sql`conversation_id IS NOT NULL`),
    index("events_unqueued").on(t.queuedAt).where(sql`queued_at IS NULL`),
    index("events_contact").on(sql`(data ->> '$.contact.id')`).where(sql`conversation_id IS NULL`),
  ],
);

export const DELIVERY_STATES = ["pending", "succeeded", "failed"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** One per (event, endpoint). */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    inboxId: text("inbox_id").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    conversationId: text("conversation_id"),
    sequence: integer("sequence"),
    // 'inbox' for the inbox's webhook_url; an automation rule id for send_webhook_event; an account-level
    // endpoint's id (webhook_endpoints) for its deliveries.
    endpoint: text("endpoint").notNull().default("inbox"),
    url: text("url").notNull(),
    state: text("state").$type<DeliveryState>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at"),
    // When the delivery was last handed to the queue (NULL = waiting for its turn or the sweeper).
    enqueuedAt: integer("enqueued_at"),
    // A consumer attempting the delivery holds it until then, so a duplicate queue message never sends twice at once.
    leasedUntil: integer("leased_until"),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
    // The ordered line (per endpoint): the conversation id, or the contact id for contact events; NULL
    // outside any line. Deliveries of one (line, endpoint) go out one at a time in sequence order.
    line: text("line"),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_event_endpoint").on(t.eventId, t.endpoint),
    index("webhook_deliveries_inbox").on(t.inboxId, t.createdAt, t.id),
    // The delivery log of an account-level endpoint (endpoint = its id).
    index("webhook_deliveries_endpoint").on(t.endpoint, t.createdAt, t.id).where(sql`endpoint <> 'inbox'`),
    index("webhook_deliveries_line").on(t.line, t.endpoint, t.sequence).where(sql`state = 'pending'`),
    index("webhook_deliveries_pending").on(t.state, t.enqueuedAt).where(sql`state = 'pending'`),
    oneOf("webhook_deliveries_state", "state", DELIVERY_STATES),
  ],
);

export const REPLAY_STATES = ["running", "done"] as const;

/**
 * A replay of an endpoint's events since a time (src/delivery/replay.ts, docs/delivery.md), worked
 * through in bounded steps over a fixed range of event positions: resumable after any crash, and a second
 * identical request finds this one instead of starting another.
 */
/**
 * Account-level webhook endpoints: each gets the account's events (all types, or `events`; all inboxes,
 * or `inbox_ids`) with its own secret, schedule, 410-disable and ordered lines. The inbox's own
 * webhook_url is separate.
 */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    url: text("url").notNull(),
    description: text("description"),
    // The event types sent; NULL = all.
    events: json<string[]>("events"),
    // The inboxes whose events are sent; NULL = all of the account's.
    inboxIds: json<string[]>("inbox_ids"),
    webhookSecret: text("webhook_secret").notNull(),
    previousWebhookSecret: text("previous_webhook_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    disabledAt: integer("disabled_at"),
    disabledReason: text("disabled_reason"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deletedAt: integer("deleted_at"),
    payloadFormat: text("payload_format").$type<PayloadFormat>().notNull().default("edge-inbox"),
    signature: text("signature").$type<SignatureScheme>().notNull().default("standard"),
  },
  // The fan-out's look-up: the account's live endpoints.
  (t) => [index("webhook_endpoints_account").on(t.accountId, t.id).where(sql`deleted_at IS NULL`)],
);

export const deliveryReplays = sqliteTable(
  "delivery_replays",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    inboxId: text("inbox_id").notNull(),
    endpoint: text("endpoint").notNull().default("inbox"),
    since: integer("since").notNull(),
    // The inbox's last event position when the replay was asked for: its fixed end.
    throughPosition: integer("through_position").notNull(),
    // Events up to this position are done; the current step covered (step_from, cursor].
    cursor: integer("cursor").notNull().default(0),
    stepFrom: integer("step_from").notNull().default(0),
    // Fences a step's writes to the step that advanced the cursor.
    step: text("step"),
    total: integer("total").notNull(),
    state: text("state").$type<(typeof REPLAY_STATES)[number]>().notNull().default("running"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("delivery_replays_identity").on(t.inboxId, t.endpoint, t.since, t.throughPosition),
    // At most one running replay per (inbox, endpoint, since): a client retry joins it.
    uniqueIndex("delivery_replays_running").on(t.inboxId, t.endpoint, t.since).where(sql`state = 'running'`),
    oneOf("delivery_replays_state", "state", REPLAY_STATES),
  ],
);

export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id").notNull().references(() => webhookDeliveries.id),
    accountId: text("account_id").notNull(),
    attempt: integer("attempt").notNull(),
    startedAt: integer("started_at").notNull(),
    durationMs: integer("duration_ms").notNull(),
    statusCode: integer("status_code"),
    error: text("error"),
    // The first 1 KiB of the response body.
    responseExcerpt: text("response_excerpt"),
  },
  (t) => [index("delivery_attempts_delivery").on(t.deliveryId, t.attempt)],
);

export const RULE_EVENT_NAMES = ["conversation_created", "conversation_updated", "conversation_status_changed", "message_created"] as const;
export type RuleEventName = (typeof RULE_EVENT_NAMES)[number];
export type RuleConditionValue = string | number | boolean;
export type RuleCondition = {
  attribute: string;
  operator: string;
  values: RuleConditionValue[];
  /** Joins this condition to the next one; null on the last. */
  query_operator: "and" | "or" | null;
};
export type RuleAction = { name: string; params: (string | number)[] };

/** Automation rules: on a committed event, if the conditions hold, apply the actions (docs/automation.md). */
export const automationRules = sqliteTable(
  "automation_rules",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    name: text("name").notNull(),
    description: text("description"),
    eventName: text("event_name").$type<RuleEventName>().notNull(),
    // Validated when saved.
    conditions: json<RuleCondition[]>("conditions").notNull().default([]),
    actions: json<RuleAction[]>("actions").notNull().default([]),
    active: integer("active", { mode: "boolean" }).notNull().default(true),
    // Signs send_webhook_event requests (Standard Webhooks, like inbox webhooks); rotatable with a 24 h overlap.
    webhookSecret: text("webhook_secret").notNull(),
    previousWebhookSecret: text("previous_webhook_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deletedAt: integer("deleted_at"),
  },
  (t) => [
    // The engine's look-up: the account's live rules for one event, in evaluation order.
    index("automation_rules_event").on(t.accountId, t.eventName, t.createdAt, t.id).where(sql`deleted_at IS NULL`),
    oneOf("automation_rules_event_name", "event_name", RULE_EVENT_NAMES),
  ],
);

export const RUN_STATES = ["running", "completed", "failed"] as const;
export type RunState = (typeof RUN_STATES)[number];
export type ConditionResult = { attribute: string; operator: string; result: boolean };
export type ActionResult = { name: string; params: (string | number)[]; result: "applied" | "skipped" | "failed"; detail: string | null };

/**
 * One evaluation of one rule on one event: the trace, and the claim that makes a redelivered event
 * never apply a rule's actions twice (the unique index on (event_id, rule_id)).
 */
export const automationRuns = sqliteTable(
  "automation_runs",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    ruleId: text("rule_id").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    conversationId: text("conversation_id"),
    // running: claimed, actions being applied (until lease_until); completed; failed: gave up.
    state: text("state").$type<RunState>().notNull().default("running"),
    leaseUntil: integer("lease_until"),
    attempts: integer("attempts").notNull().default(1),
    // NULL until evaluated.
    matched: integer("matched", { mode: "boolean" }),
    // Each condition with its result, each action with its outcome.
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
    oneOf("automation_runs_state", "state", RUN_STATES),
  ],
);

/**
 * Files stored in R2 under their id. An integrator's upload belongs to its inbox (inbox_id set), an
 * agent's to the account (inbox_id NULL); either may be referenced by any number of messages there.
 */
export const attachments = sqliteTable(
  "attachments",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    inboxId: text("inbox_id").references(() => inboxes.id),
    fileName: text("file_name").notNull(),
    contentType: text("content_type").notNull(),
    fileType: text("file_type").notNull(),
    byteSize: integer("byte_size").notNull(),
    sha256: text("sha256").notNull(),
    // The origin of the upload request: data_urls point there unless PUBLIC_URL says otherwise.
    baseUrl: text("base_url").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("attachments_account_created").on(t.accountId, t.createdAt), index("attachments_created").on(t.createdAt)],
);

/**
 * Which conversations reference an attachment. An upload without a row here for 24 h is removed; erasing
 * a contact removes its conversations' rows and then every file no other conversation references.
 */
export const attachmentUses = sqliteTable(
  "attachment_uses",
  {
    attachmentId: text("attachment_id").notNull().references(() => attachments.id),
    conversationId: text("conversation_id").notNull().references(() => conversations.id),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.attachmentId, t.conversationId] }), index("attachment_uses_conversation").on(t.conversationId)],
);

/**
 * Single-use, short-lived tickets that open an agent's realtime stream (a browser cannot send an
 * Authorization header with a WebSocket). Only the SHA-256 of the ticket is stored.
 */
export const realtimeTickets = sqliteTable(
  "realtime_tickets",
  {
    ticketHash: text("ticket_hash").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    userId: text("user_id").notNull().references(() => users.id),
    // The token that asked for the ticket: revoking it closes the streams it opened.
    tokenId: text("token_id").notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("realtime_tickets_expires").on(t.expiresAt)],
);

/** How far each agent has read each conversation: the unread counts of the conversation list. */
export const conversationReads = sqliteTable(
  "conversation_reads",
  {
    // No foreign key to conversations: erasing a contact's conversations must not have to know this table.
    conversationId: text("conversation_id").notNull(),
    userId: text("user_id").notNull().references(() => users.id),
    accountId: text("account_id").notNull().references(() => accounts.id),
    // The conversation's last message seq when the agent last looked.
    lastSeenSeq: integer("last_seen_seq").notNull(),
    lastSeenAt: integer("last_seen_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.conversationId, t.userId] })],
);

export type ErasureStatus = "in_progress" | "completed";

/** One erasure request (GDPR / LGPD) and its progress; also the audit line, so ids and counts only. */
export const contactErasures = sqliteTable(
  "contact_erasures",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    contactId: text("contact_id").notNull(),
    /** 'account' (the whole contact) or the inbox id whose reach an integrator erases. */
    scope: text("scope").notNull(),
    sourceHash: text("source_hash"),
    status: text("status").$type<ErasureStatus>().notNull(),
    requestedBy: json<Origin>("requested_by").notNull(),
    deleted: json<Record<string, number>>("deleted").notNull().default({}),
    steps: integer("steps").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("contact_erasures_running").on(t.contactId, t.scope).where(sql`status = 'in_progress'`),
    index("contact_erasures_contact").on(t.accountId, t.contactId, t.createdAt),
    index("contact_erasures_source").on(t.sourceHash, t.createdAt).where(sql`source_hash IS NOT NULL`),
    index("contact_erasures_account").on(t.accountId, t.createdAt, t.id),
  ],
);

/**
 * Full-text search over messages: each indexed message's row id in the FTS5 index (messages_fts). The
 * index and the triggers that keep it in step with messages are raw SQL in src/db/search.sql.
 */
export const searchDocuments = sqliteTable(
  "search_documents",
  {
    docId: integer("doc_id").primaryKey(),
    messageId: text("message_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    accountId: text("account_id").notNull(),
  },
  (t) => [uniqueIndex("search_documents_message").on(t.messageId)],
);

/** A person signed in to the console: the cookie carries a secret whose SHA-256 is token_hash (docs/console.md). */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    userId: text("user_id").notNull().references(() => users.id),
    tokenHash: text("token_hash").notNull(),
    // Sent back by the console in X-CSRF-Token on every mutation; only readable through GET /v1/session.
    csrfToken: text("csrf_token").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("sessions_token_hash").on(t.tokenHash), index("sessions_user").on(t.accountId, t.userId)],
);

export const SIGN_IN_LINK_PURPOSES = ["sign_in", "invite"] as const;
export type SignInLinkPurpose = (typeof SIGN_IN_LINK_PURPOSES)[number];

/** One-time links: an invite (sets a password) or a sign-in link (`npm start`'s SIGN_IN_URL). Stored hashed. */
export const signInLinks = sqliteTable(
  "sign_in_links",
  {
    tokenHash: text("token_hash").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    userId: text("user_id").notNull().references(() => users.id),
    purpose: text("purpose").$type<SignInLinkPurpose>().notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("sign_in_links_user").on(t.accountId, t.userId), oneOf("sign_in_links_purpose", "purpose", SIGN_IN_LINK_PURPOSES)],
);

/**
 * The change log of an account being moved out of this shard: its triggers (src/db/moves.sql) write one row
 * per changed row while the account is 'copying'; the switch copies (or deletes) exactly those rows again.
 */
export const moveChanges = sqliteTable(
  "move_changes",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    accountId: text("account_id").notNull(),
    tableName: text("table_name").notNull(),
    /** JSON array of the row's key columns' values (MOVED_TABLES in src/moves/tables.ts). */
    rowKey: text("row_key").notNull(),
  },
  (t) => [index("move_changes_account").on(t.accountId, t.seq)],
);

/**
 * Never holds a row: a commit that was prepared from the Worker's isolate cache (src/domain/ingest-cache.ts)
 * starts its batch with `INSERT INTO commit_guards (ok) SELECT <every assumption still holds>`; the table's
 * trigger (migration 0018) drops the row when `ok` and aborts the whole batch with 'commit_guard_failed'
 * when not, so a stale cache entry writes nothing (src/conversation/guard.ts).
 */
export const commitGuards = sqliteTable("commit_guards", {
  ok: integer("ok").notNull(),
});

/**
 * A token per conversation that changes whenever any of its messages is written: the triggers in
 * src/db/history-revisions.sql set a fresh random `revision` on every insert, update and delete of a message,
 * and drop the row with its conversation. A history page the isolate rendered is served again only while the
 * revision it was read at is still the one here (src/domain/history-cache.ts), checked in the page's own
 * round trip. Random rather than counted, so no write can bring back a value an old page was read at — not a
 * conversation object's stale row, not a move that copies the account away and back.
 */
export const historyRevisions = sqliteTable("history_revisions", {
  conversationId: text("conversation_id").primaryKey(),
  revision: integer("revision").notNull(),
});

export const NUMERIC_KINDS = ["account", "inbox", "user", "contact", "conversation", "message", "attachment"] as const;
export type NumericKind = (typeof NUMERIC_KINDS)[number];

/**
 * Numeric ids for the Chatwoot-compatible surface (docs/chatwoot.md): Chatwoot's clients put integers in
 * URLs and bodies where we have opaque strings. Each object gets a number the first time that surface
 * shows it, counted per (account, kind) — for conversations that is Chatwoot's per-account display_id —
 * and keeps it for good. Accounts are numbered in one global sequence (account_id '*').
 */
export const numericIds = sqliteTable(
  "numeric_ids",
  {
    accountId: text("account_id").notNull(),
    kind: text("kind").$type<NumericKind>().notNull(),
    number: integer("number").notNull(),
    refId: text("ref_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.kind, t.number] }),
    uniqueIndex("numeric_ids_ref").on(t.kind, t.refId),
    oneOf("numeric_ids_kind", "kind", NUMERIC_KINDS),
  ],
);
