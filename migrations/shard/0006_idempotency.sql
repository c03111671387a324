DROP INDEX `messages_request_key`;--> statement-breakpoint
CREATE UNIQUE INDEX `messages_request_key` ON `messages` (`inbox_id`,`request_key`) WHERE request_key IS NOT NULL;