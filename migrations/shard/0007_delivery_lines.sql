CREATE TABLE `delivery_replays` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`inbox_id` text NOT NULL,
	`endpoint` text DEFAULT 'inbox' NOT NULL,
	`since` integer NOT NULL,
	`through_position` integer NOT NULL,
	`cursor` integer DEFAULT 0 NOT NULL,
	`step_from` integer DEFAULT 0 NOT NULL,
	`step` text,
	`total` integer NOT NULL,
	`state` text DEFAULT 'running' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "delivery_replays_state" CHECK(state IN ('running', 'done'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `delivery_replays_identity` ON `delivery_replays` (`inbox_id`,`endpoint`,`since`,`through_position`);--> statement-breakpoint
CREATE UNIQUE INDEX `delivery_replays_running` ON `delivery_replays` (`inbox_id`,`endpoint`,`since`) WHERE state = 'running';--> statement-breakpoint
DROP INDEX `webhook_deliveries_conversation`;--> statement-breakpoint
ALTER TABLE `webhook_deliveries` ADD `line` text;--> statement-breakpoint
-- Added by hand (data, not schema): deliveries made before lines existed are in their conversation's line.
UPDATE `webhook_deliveries` SET `line` = `conversation_id` WHERE `conversation_id` IS NOT NULL;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_line` ON `webhook_deliveries` (`line`,`endpoint`,`sequence`) WHERE state = 'pending';--> statement-breakpoint
ALTER TABLE `contacts` ADD `last_event_sequence` integer DEFAULT 0 NOT NULL;