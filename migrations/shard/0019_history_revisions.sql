CREATE TABLE `history_revisions` (
	`conversation_id` text PRIMARY KEY NOT NULL,
	`revision` integer NOT NULL
);
--> statement-breakpoint
-- From src/db/history-revisions.sql (keep identical):
-- Every write to a conversation's messages gives it a new history revision (src/db/schema.ts historyRevisions):
-- a rendered page is reused only while its conversation's revision is the one it was read at
-- (src/domain/history-cache.ts). Triggers, so that no writer can forget it: the conversation object, a new
-- contact's batch, erasure, retention, a move's copy, SQL run by hand. 53 random bits: what a JavaScript
-- number holds exactly. Migration 0019 creates the same triggers.
CREATE TRIGGER history_revision_insert AFTER INSERT ON messages
BEGIN
  INSERT INTO history_revisions (conversation_id, revision) VALUES (new.conversation_id, random() & 9007199254740991)
    ON CONFLICT (conversation_id) DO UPDATE SET revision = excluded.revision;
END;
CREATE TRIGGER history_revision_update AFTER UPDATE ON messages
BEGIN
  INSERT INTO history_revisions (conversation_id, revision) VALUES (new.conversation_id, random() & 9007199254740991)
    ON CONFLICT (conversation_id) DO UPDATE SET revision = excluded.revision;
  INSERT INTO history_revisions (conversation_id, revision) SELECT old.conversation_id, random() & 9007199254740991
    WHERE old.conversation_id IS NOT new.conversation_id
    ON CONFLICT (conversation_id) DO UPDATE SET revision = excluded.revision;
END;
CREATE TRIGGER history_revision_delete AFTER DELETE ON messages
BEGIN
  UPDATE history_revisions SET revision = random() & 9007199254740991 WHERE conversation_id = old.conversation_id;
END;
CREATE TRIGGER history_revision_drop AFTER DELETE ON conversations
BEGIN
  DELETE FROM history_revisions WHERE conversation_id = old.id;
END;
-- The conversations that have messages already.
INSERT INTO history_revisions (conversation_id, revision) SELECT conversation_id, random() & 9007199254740991 FROM messages GROUP BY conversation_id;
