-- Full-text search over message text (SQLite FTS5), the part of the schema drizzle cannot declare.
-- The migration that creates it carries a copy (migrations/0009_contacts.sql); `npm run db:check`
-- fails when the two disagree. Contentless (the text lives in messages only) with delete support; a
-- message's FTS row id is its search_documents.doc_id, an INTEGER PRIMARY KEY, so it never changes, and
-- search_documents says which conversation it belongs to without reading messages. The `account` column
-- indexes the account id, so a query matches within one account inside the index itself.
-- Activity lines ("Assigned to Ana by Bruno") are not indexed. docs/contacts.md.
CREATE VIRTUAL TABLE messages_fts USING fts5(content, account, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN new.content IS NOT NULL AND new.message_type <> 'activity'
BEGIN
  INSERT INTO search_documents (message_id, conversation_id, account_id) VALUES (new.id, new.conversation_id, new.account_id);
  INSERT INTO messages_fts (rowid, content, account) SELECT doc_id, new.content, new.account_id FROM search_documents WHERE message_id = new.id;
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
  DELETE FROM messages_fts WHERE rowid = (SELECT doc_id FROM search_documents WHERE message_id = old.id);
  DELETE FROM search_documents WHERE message_id = old.id;
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF content ON messages
BEGIN
  DELETE FROM messages_fts WHERE rowid = (SELECT doc_id FROM search_documents WHERE message_id = old.id);
  DELETE FROM search_documents WHERE message_id = old.id;
  INSERT INTO search_documents (message_id, conversation_id, account_id)
    SELECT new.id, new.conversation_id, new.account_id WHERE new.content IS NOT NULL AND new.message_type <> 'activity';
  INSERT INTO messages_fts (rowid, content, account) SELECT doc_id, new.content, new.account_id FROM search_documents WHERE message_id = new.id;
END;
