-- Delivery lines (docs/delivery.md): every delivery belongs to one ordered line per endpoint — its
-- conversation, or for contact events its contact — and contact events get a per-contact sequence.

-- The line a delivery is ordered in: the conversation id, or the contact id for contact_* events; NULL
-- for events outside any line (the ping). Deliveries of one (line, endpoint) go out one at a time in
-- sequence order.
ALTER TABLE webhook_deliveries ADD COLUMN line TEXT;
UPDATE webhook_deliveries SET line = conversation_id WHERE line IS NULL AND conversation_id IS NOT NULL;
DROP INDEX IF EXISTS webhook_deliveries_conversation;
CREATE INDEX webhook_deliveries_line ON webhook_deliveries(line, endpoint, sequence) WHERE state = 'pending';

-- The last sequence given to an event of this contact (contact_created is 1): contact events carry it as
-- their `sequence`, so a receiver can re-sort them and the delivery line keeps them in order.
ALTER TABLE contacts ADD COLUMN last_event_sequence INTEGER NOT NULL DEFAULT 0;

-- A replay of an endpoint's events since a time, worked through in bounded steps (one per invocation)
-- over a fixed range of event positions: resumable after any crash, and a second identical request finds
-- this one instead of starting another.
CREATE TABLE delivery_replays (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  inbox_id TEXT NOT NULL,
  endpoint TEXT NOT NULL DEFAULT 'inbox',
  since INTEGER NOT NULL,
  -- The inbox's last event position when the replay was asked for: its fixed end.
  through_position INTEGER NOT NULL,
  -- Events up to this position are done; the current step covered (step_from, cursor].
  cursor INTEGER NOT NULL DEFAULT 0,
  step_from INTEGER NOT NULL DEFAULT 0,
  -- Fences a step's writes to the step that advanced the cursor.
  step TEXT,
  total INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE UNIQUE INDEX delivery_replays_identity ON delivery_replays(inbox_id, endpoint, since, through_position);
-- At most one running replay per (inbox, endpoint, since): a client retry joins it.
CREATE UNIQUE INDEX delivery_replays_running ON delivery_replays(inbox_id, endpoint, since) WHERE state = 'running';
