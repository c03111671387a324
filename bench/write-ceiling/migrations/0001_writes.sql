-- Shaped like a message row (text id, a few columns, one secondary unique index) so one INSERT here costs
-- what the message INSERT alone costs in the product.
CREATE TABLE writes (
  id TEXT PRIMARY KEY NOT NULL,
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  content TEXT,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX writes_conversation_seq ON writes(conversation_id, seq);
