CREATE TABLE `accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`rate_limits` text,
	`created_at` integer NOT NULL,
	`shard` text NOT NULL,
	`move_from` text,
	`move_to` text,
	`move_state` text,
	`move_cursor` text,
	`move_started_at` integer,
	`updated_at` integer DEFAULT 0 NOT NULL,
	CONSTRAINT "accounts_move_state" CHECK(move_state IS NULL OR move_state IN ('copying', 'switching', 'cleaning'))
);
--> statement-breakpoint
CREATE INDEX `accounts_shard` ON `accounts` (`shard`);--> statement-breakpoint
CREATE INDEX `accounts_moving` ON `accounts` (`move_state`) WHERE move_state IS NOT NULL;--> statement-breakpoint
CREATE TABLE `inbox_directory` (
	`identifier` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sign_in_emails` (
	`email` text NOT NULL,
	`account_id` text NOT NULL,
	PRIMARY KEY(`email`, `account_id`)
);
--> statement-breakpoint
CREATE TABLE `sign_in_failures` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`email` text NOT NULL,
	`account_id` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sign_in_failures_email` ON `sign_in_failures` (`email`,`at`);--> statement-breakpoint
CREATE INDEX `sign_in_failures_account` ON `sign_in_failures` (`account_id`,`at`);