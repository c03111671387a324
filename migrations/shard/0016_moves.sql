CREATE TABLE `move_changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` text NOT NULL,
	`table_name` text NOT NULL,
	`row_key` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `move_changes_account` ON `move_changes` (`account_id`,`seq`);--> statement-breakpoint
ALTER TABLE `accounts` ADD `state` text DEFAULT 'active' NOT NULL;--> statement-breakpoint
-- From src/db/moves.sql (generated; keep identical):
CREATE TRIGGER move_users_insert AFTER INSERT ON users WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'users', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_users_update AFTER UPDATE ON users WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'users', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_users_delete AFTER DELETE ON users WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'users', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_inboxes_insert AFTER INSERT ON inboxes WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'inboxes', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_inboxes_update AFTER UPDATE ON inboxes WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'inboxes', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_inboxes_delete AFTER DELETE ON inboxes WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'inboxes', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_api_tokens_insert AFTER INSERT ON api_tokens WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'api_tokens', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_api_tokens_update AFTER UPDATE ON api_tokens WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'api_tokens', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_api_tokens_delete AFTER DELETE ON api_tokens WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'api_tokens', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_inbox_members_insert AFTER INSERT ON inbox_members WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'inbox_members', json_array(new.inbox_id, new.user_id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_inbox_members_update AFTER UPDATE ON inbox_members WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'inbox_members', json_array(new.inbox_id, new.user_id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_inbox_members_delete AFTER DELETE ON inbox_members WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'inbox_members', json_array(old.inbox_id, old.user_id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_contacts_insert AFTER INSERT ON contacts WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'contacts', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_contacts_update AFTER UPDATE ON contacts WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'contacts', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_contacts_delete AFTER DELETE ON contacts WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'contacts', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_contact_inboxes_insert AFTER INSERT ON contact_inboxes WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'contact_inboxes', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_contact_inboxes_update AFTER UPDATE ON contact_inboxes WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'contact_inboxes', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_contact_inboxes_delete AFTER DELETE ON contact_inboxes WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'contact_inboxes', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_labels_insert AFTER INSERT ON labels WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'labels', json_array(new.account_id, new.name) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_labels_update AFTER UPDATE ON labels WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'labels', json_array(new.account_id, new.name) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_labels_delete AFTER DELETE ON labels WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'labels', json_array(old.account_id, old.name) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_conversations_insert AFTER INSERT ON conversations WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'conversations', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_conversations_update AFTER UPDATE ON conversations WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'conversations', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_conversations_delete AFTER DELETE ON conversations WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'conversations', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_messages_insert AFTER INSERT ON messages WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'messages', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_messages_update AFTER UPDATE ON messages WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'messages', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_messages_delete AFTER DELETE ON messages WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'messages', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_events_insert AFTER INSERT ON events WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'events', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_events_update AFTER UPDATE ON events WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'events', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_events_delete AFTER DELETE ON events WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'events', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_webhook_endpoints_insert AFTER INSERT ON webhook_endpoints WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'webhook_endpoints', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_webhook_endpoints_update AFTER UPDATE ON webhook_endpoints WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'webhook_endpoints', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_webhook_endpoints_delete AFTER DELETE ON webhook_endpoints WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'webhook_endpoints', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_webhook_deliveries_insert AFTER INSERT ON webhook_deliveries WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'webhook_deliveries', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_webhook_deliveries_update AFTER UPDATE ON webhook_deliveries WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'webhook_deliveries', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_webhook_deliveries_delete AFTER DELETE ON webhook_deliveries WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'webhook_deliveries', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_delivery_attempts_insert AFTER INSERT ON delivery_attempts WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'delivery_attempts', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_delivery_attempts_update AFTER UPDATE ON delivery_attempts WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'delivery_attempts', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_delivery_attempts_delete AFTER DELETE ON delivery_attempts WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'delivery_attempts', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_delivery_replays_insert AFTER INSERT ON delivery_replays WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'delivery_replays', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_delivery_replays_update AFTER UPDATE ON delivery_replays WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'delivery_replays', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_delivery_replays_delete AFTER DELETE ON delivery_replays WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'delivery_replays', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_automation_rules_insert AFTER INSERT ON automation_rules WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'automation_rules', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_automation_rules_update AFTER UPDATE ON automation_rules WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'automation_rules', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_automation_rules_delete AFTER DELETE ON automation_rules WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'automation_rules', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_automation_runs_insert AFTER INSERT ON automation_runs WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'automation_runs', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_automation_runs_update AFTER UPDATE ON automation_runs WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'automation_runs', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_automation_runs_delete AFTER DELETE ON automation_runs WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'automation_runs', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_attachments_insert AFTER INSERT ON attachments WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'attachments', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_attachments_update AFTER UPDATE ON attachments WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'attachments', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_attachments_delete AFTER DELETE ON attachments WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'attachments', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_attachment_uses_insert AFTER INSERT ON attachment_uses WHEN (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = new.conversation_id)) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = new.conversation_id)) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT (SELECT account_id FROM conversations WHERE id = new.conversation_id), 'attachment_uses', json_array(new.attachment_id, new.conversation_id) WHERE (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = new.conversation_id)) = 'copying';
END;
CREATE TRIGGER move_attachment_uses_update AFTER UPDATE ON attachment_uses WHEN (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = new.conversation_id)) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = new.conversation_id)) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT (SELECT account_id FROM conversations WHERE id = new.conversation_id), 'attachment_uses', json_array(new.attachment_id, new.conversation_id) WHERE (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = new.conversation_id)) = 'copying';
END;
CREATE TRIGGER move_attachment_uses_delete AFTER DELETE ON attachment_uses WHEN (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = old.conversation_id)) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT (SELECT account_id FROM conversations WHERE id = old.conversation_id), 'attachment_uses', json_array(old.attachment_id, old.conversation_id) WHERE (SELECT state FROM accounts WHERE id = (SELECT account_id FROM conversations WHERE id = old.conversation_id)) = 'copying';
END;
CREATE TRIGGER move_realtime_tickets_insert AFTER INSERT ON realtime_tickets WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'realtime_tickets', json_array(new.ticket_hash) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_realtime_tickets_update AFTER UPDATE ON realtime_tickets WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'realtime_tickets', json_array(new.ticket_hash) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_realtime_tickets_delete AFTER DELETE ON realtime_tickets WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'realtime_tickets', json_array(old.ticket_hash) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_conversation_reads_insert AFTER INSERT ON conversation_reads WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'conversation_reads', json_array(new.conversation_id, new.user_id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_conversation_reads_update AFTER UPDATE ON conversation_reads WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'conversation_reads', json_array(new.conversation_id, new.user_id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_conversation_reads_delete AFTER DELETE ON conversation_reads WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'conversation_reads', json_array(old.conversation_id, old.user_id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_contact_erasures_insert AFTER INSERT ON contact_erasures WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'contact_erasures', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_contact_erasures_update AFTER UPDATE ON contact_erasures WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'contact_erasures', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_contact_erasures_delete AFTER DELETE ON contact_erasures WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'contact_erasures', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_sessions_insert AFTER INSERT ON sessions WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'sessions', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_sessions_update AFTER UPDATE ON sessions WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'sessions', json_array(new.id) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_sessions_delete AFTER DELETE ON sessions WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'sessions', json_array(old.id) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_sign_in_links_insert AFTER INSERT ON sign_in_links WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'sign_in_links', json_array(new.token_hash) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_sign_in_links_update AFTER UPDATE ON sign_in_links WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'sign_in_links', json_array(new.token_hash) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_sign_in_links_delete AFTER DELETE ON sign_in_links WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'sign_in_links', json_array(old.token_hash) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
CREATE TRIGGER move_numeric_ids_insert AFTER INSERT ON numeric_ids WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'numeric_ids', json_array(new.account_id, new.kind, new.number) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_numeric_ids_update AFTER UPDATE ON numeric_ids WHEN (SELECT state FROM accounts WHERE id = new.account_id) <> 'active'
BEGIN
  SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE (SELECT state FROM accounts WHERE id = new.account_id) IN ('frozen', 'moved');
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT new.account_id, 'numeric_ids', json_array(new.account_id, new.kind, new.number) WHERE (SELECT state FROM accounts WHERE id = new.account_id) = 'copying';
END;
CREATE TRIGGER move_numeric_ids_delete AFTER DELETE ON numeric_ids WHEN (SELECT state FROM accounts WHERE id = old.account_id) = 'copying'
BEGIN
  INSERT INTO move_changes (account_id, table_name, row_key) SELECT old.account_id, 'numeric_ids', json_array(old.account_id, old.kind, old.number) WHERE (SELECT state FROM accounts WHERE id = old.account_id) = 'copying';
END;
