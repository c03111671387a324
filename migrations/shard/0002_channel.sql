CREATE TABLE inboxes (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  -- Public, random, unguessable: what integrators put in their URLs.
  identifier TEXT NOT NULL,
  name TEXT NOT NULL,
  webhook_url TEXT,
  webhook_secret TEXT NOT NULL,
  -- During a rotation the previous secret still signs, until previous_secret_expires_at.
  previous_webhook_secret TEXT,
  previous_secret_expires_at INTEGER,
  -- Set when the endpoint answered 410 Gone; cleared by updating the inbox.
  webhook_disabled_at INTEGER,
  webhook_disabled_reason TEXT,
  lock_to_single_conversation INTEGER NOT NULL DEFAULT 1,
  auto_assignment INTEGER NOT NULL DEFAULT 0,
  max_assignment_limit INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE UNIQUE INDEX inboxes_identifier ON inboxes(identifier);
CREATE INDEX inboxes_account ON inboxes(account_id, id);

CREATE TABLE inbox_members (
  inbox_id TEXT NOT NULL REFERENCES inboxes(id),
  user_id TEXT NOT NULL REFERENCES users(id),
  account_id TEXT NOT NULL REFERENCES accounts(id),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (inbox_id, user_id)
);
CREATE INDEX inbox_members_user ON inbox_members(account_id, user_id);

CREATE TABLE contacts (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT,
  email TEXT,
  phone TEXT,
  -- The integrator's id for the person: links the same contact across inboxes of the account.
  identifier TEXT,
  custom_attributes TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_account_identifier ON contacts(account_id, identifier) WHERE identifier IS NOT NULL;

-- A contact as seen through one inbox: source_id is the contact's id in the integrator's system.
CREATE TABLE contact_inboxes (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  inbox_id TEXT NOT NULL REFERENCES inboxes(id),
  contact_id TEXT NOT NULL REFERENCES contacts(id),
  source_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX contact_inboxes_source ON contact_inboxes(inbox_id, source_id);
CREATE INDEX contact_inboxes_contact ON contact_inboxes(contact_id);

CREATE TABLE conversations (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  inbox_id TEXT NOT NULL REFERENCES inboxes(id),
  contact_id TEXT NOT NULL REFERENCES contacts(id),
  contact_inbox_id TEXT NOT NULL REFERENCES contact_inboxes(id),
  -- The integrator's thread id: find-or-create by it.
  source_id TEXT,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
  assignee_id TEXT REFERENCES users(id),
  -- JSON array of label names, kept sorted.
  labels TEXT NOT NULL DEFAULT '[]',
  custom_attributes TEXT NOT NULL DEFAULT '{}',
  snoozed_until INTEGER,
  -- Set while the inbox locks a contact to one conversation and this one is unresolved;
  -- the unique index below makes "one open conversation per contact" hold under races.
  single_open_key TEXT,
  -- The last message seq and event sequence handed out; the conversation's Durable Object owns them.
  last_seq INTEGER NOT NULL DEFAULT 0,
  last_event_sequence INTEGER NOT NULL DEFAULT 0,
  last_activity_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX conversations_source ON conversations(inbox_id, source_id) WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX conversations_single_open ON conversations(single_open_key) WHERE single_open_key IS NOT NULL;
CREATE INDEX conversations_contact_inbox ON conversations(contact_inbox_id, created_at);
CREATE INDEX conversations_account_activity ON conversations(account_id, last_activity_at, id);
CREATE INDEX conversations_inbox_activity ON conversations(inbox_id, last_activity_at, id);
CREATE INDEX conversations_snoozed ON conversations(snoozed_until) WHERE snoozed_until IS NOT NULL;

CREATE TABLE labels (
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name)
);

CREATE TABLE messages (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  inbox_id TEXT NOT NULL REFERENCES inboxes(id),
  conversation_id TEXT NOT NULL REFERENCES conversations(id),
  -- 1, 2, 3… without gaps within the conversation.
  seq INTEGER NOT NULL,
  message_type TEXT NOT NULL CHECK (message_type IN ('incoming', 'outgoing', 'activity')),
  content TEXT,
  content_attributes TEXT NOT NULL DEFAULT '{}',
  attachments TEXT NOT NULL DEFAULT '[]',
  private INTEGER NOT NULL DEFAULT 0,
  sender_type TEXT NOT NULL CHECK (sender_type IN ('contact', 'user', 'automation', 'system')),
  sender_id TEXT,
  -- The integrator's message id: dedupes forever within the inbox.
  source_id TEXT,
  status TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
  status_reason TEXT,
  -- The Idempotency-Key (with its route) that created the message: a retry after the conversation
  -- object lost its own memory of the key still finds the message instead of writing a second one.
  request_key TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_conversation_seq ON messages(conversation_id, seq);
CREATE UNIQUE INDEX messages_request_key ON messages(conversation_id, request_key) WHERE request_key IS NOT NULL;
CREATE UNIQUE INDEX messages_source ON messages(inbox_id, source_id) WHERE source_id IS NOT NULL;

-- The outbox. position is assigned in commit order (D1 has one writer), so "events after position P"
-- never skips an event that committed late: the pull API and the sweeper page by it.
CREATE TABLE events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  inbox_id TEXT,
  conversation_id TEXT,
  -- Per conversation, increasing; NULL for events outside a conversation (contacts, pings).
  sequence INTEGER,
  type TEXT NOT NULL,
  -- Private notes and their events never reach the integrator.
  private INTEGER NOT NULL DEFAULT 0,
  origin TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  -- When the event was handed to the queue; NULL = the sweeper will hand it over.
  queued_at INTEGER
);
CREATE UNIQUE INDEX events_id ON events(id);
CREATE INDEX events_inbox ON events(inbox_id, position);
-- The conversation object hands out sequences; this is the last line of defence if it ever restarts mid-write.
CREATE UNIQUE INDEX events_conversation_sequence ON events(conversation_id, sequence) WHERE conversation_id IS NOT NULL;
CREATE INDEX events_unqueued ON events(queued_at) WHERE queued_at IS NULL;

-- One per (event, endpoint).
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  inbox_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  conversation_id TEXT,
  sequence INTEGER,
  -- 'inbox' for the inbox's webhook_url; an automation rule id for send_webhook_event.
  endpoint TEXT NOT NULL DEFAULT 'inbox',
  url TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  -- When the delivery was last handed to the queue (NULL = waiting for its turn or the sweeper).
  enqueued_at INTEGER,
  -- A consumer attempting the delivery holds it until then, so a duplicate queue message never sends twice at once.
  leased_until INTEGER,
  last_status_code INTEGER,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE UNIQUE INDEX webhook_deliveries_event_endpoint ON webhook_deliveries(event_id, endpoint);
CREATE INDEX webhook_deliveries_inbox ON webhook_deliveries(inbox_id, created_at, id);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries(conversation_id, endpoint, sequence) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(state, enqueued_at) WHERE state = 'pending';

CREATE TABLE delivery_attempts (
  id TEXT PRIMARY KEY NOT NULL,
  delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
  account_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  -- The first 1 KiB of the response body.
  response_excerpt TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id, attempt);
