CREATE TABLE `conversation_reads` (
	`conversation_id` text NOT NULL,
	`user_id` text NOT NULL,
	`account_id` text NOT NULL,
	`last_seen_seq` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	PRIMARY KEY(`conversation_id`, `user_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `realtime_tickets` (
	`ticket_hash` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`user_id` text NOT NULL,
	`token_id` text NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `realtime_tickets_expires` ON `realtime_tickets` (`expires_at`);--> statement-breakpoint
ALTER TABLE `contact_inboxes` ADD `pubsub_token` text;--> statement-breakpoint
CREATE UNIQUE INDEX `contact_inboxes_pubsub_token` ON `contact_inboxes` (`pubsub_token`) WHERE pubsub_token IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_account` ON `events` (`account_id`,`position`);