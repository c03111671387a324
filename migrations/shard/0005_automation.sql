-- Automation rules: on a committed event, if the conditions hold, apply the actions (docs/automation.md).
CREATE TABLE automation_rules (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  description TEXT,
  event_name TEXT NOT NULL CHECK (event_name IN ('conversation_created', 'conversation_updated', 'conversation_status_changed', 'message_created')),
  -- JSON arrays, validated when saved: [{attribute, operator, values, query_operator}] and [{name, params}].
  conditions TEXT NOT NULL DEFAULT '[]',
  actions TEXT NOT NULL DEFAULT '[]',
  active INTEGER NOT NULL DEFAULT 1,
  -- Signs send_webhook_event requests (Standard Webhooks, like inbox webhooks); rotatable with a 24 h overlap.
  webhook_secret TEXT NOT NULL,
  previous_webhook_secret TEXT,
  previous_secret_expires_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
-- The engine's look-up: the account's live rules for one event, in evaluation order.
CREATE INDEX automation_rules_event ON automation_rules(account_id, event_name, created_at, id) WHERE deleted_at IS NULL;

-- One evaluation of one rule on one event: the trace, and the claim that makes a redelivered event
-- never apply a rule's actions twice (the unique index on (event_id, rule_id)).
CREATE TABLE automation_runs (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  rule_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  conversation_id TEXT,
  -- running: claimed, actions being applied (until lease_until); completed; failed: gave up.
  state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed', 'failed')),
  lease_until INTEGER,
  attempts INTEGER NOT NULL DEFAULT 1,
  -- NULL until evaluated.
  matched INTEGER,
  -- JSON: each condition with its result, each action with its outcome.
  condition_results TEXT NOT NULL DEFAULT '[]',
  action_results TEXT NOT NULL DEFAULT '[]',
  error TEXT,
  created_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE UNIQUE INDEX automation_runs_event_rule ON automation_runs(event_id, rule_id);
CREATE INDEX automation_runs_rule ON automation_runs(rule_id, created_at, id);
CREATE INDEX automation_runs_created ON automation_runs(created_at);

-- Auto-assignment counts each member's open conversations in the inbox (max_assignment_limit).
CREATE INDEX conversations_inbox_open_assignee ON conversations(inbox_id, assignee_id) WHERE status = 'open';
