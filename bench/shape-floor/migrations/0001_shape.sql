-- What a message in an existing conversation must write, whatever else a product adds: the message (one per
-- conversation and seq), the conversation's summary, and the event its webhook is delivered from.
CREATE TABLE conversations (
  id TEXT PRIMARY KEY NOT NULL,
  last_seq INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL
);
CREATE TABLE messages (
  id TEXT PRIMARY KEY NOT NULL,
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  content TEXT,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_conversation_seq ON messages(conversation_id, seq);
CREATE TABLE events (
  id TEXT PRIMARY KEY NOT NULL,
  conversation_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_conversation_sequence ON events(conversation_id, sequence);
-- A held page's one round trip: is the caller's token still good, and is the conversation unchanged?
CREATE TABLE tokens (
  hash TEXT PRIMARY KEY NOT NULL,
  conversation_id TEXT NOT NULL
);
