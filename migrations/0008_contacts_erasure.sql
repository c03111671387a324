-- Contacts you can trust (issue 19), part 2: erasure (GDPR / LGPD).
-- One row per erasure request: what is being erased, by whom, how far it got. It is also the audit
-- line, so it holds ids and counts only, never personal data. A repeated DELETE finds it again: by
-- contact id, or (integrators) by a hash of the inbox and source id, which is freed at once for a new person.
CREATE TABLE contact_erasures (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  contact_id TEXT NOT NULL,
  -- 'account': the whole contact (an administrator); else the inbox id (an integrator erases what its inbox reaches).
  scope TEXT NOT NULL,
  -- SHA-256 hex of '<inbox_id>:<source_id>' for an integrator's request; NULL otherwise.
  source_hash TEXT,
  status TEXT NOT NULL CHECK (status IN ('in_progress', 'completed')),
  -- Who asked: {type, id, token_id} (the events' origin shape).
  requested_by TEXT NOT NULL,
  -- Rows deleted so far, per table: {"conversations": n, "messages": n, "events": n, "webhook_deliveries": n, …}.
  deleted TEXT NOT NULL DEFAULT '{}',
  steps INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER
);
-- At most one running erasure per contact and scope (concurrent DELETEs share it).
CREATE UNIQUE INDEX contact_erasures_running ON contact_erasures(contact_id, scope) WHERE status = 'in_progress';
CREATE INDEX contact_erasures_contact ON contact_erasures(account_id, contact_id, created_at);
CREATE INDEX contact_erasures_source ON contact_erasures(source_hash, created_at) WHERE source_hash IS NOT NULL;
CREATE INDEX contact_erasures_account ON contact_erasures(account_id, created_at, id);

-- Events outside a conversation that carry a contact (contact_created, contact_updated): found by the
-- contact's id when it is erased.
CREATE INDEX events_contact ON events(json_extract(data, '$.contact.id')) WHERE conversation_id IS NULL;
-- Conversations of a contact (erasure walks them).
CREATE INDEX conversations_contact ON conversations(contact_id, id);
