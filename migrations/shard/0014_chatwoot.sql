CREATE TABLE `numeric_ids` (
	`account_id` text NOT NULL,
	`kind` text NOT NULL,
	`number` integer NOT NULL,
	`ref_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `kind`, `number`),
	CONSTRAINT "numeric_ids_kind" CHECK(kind IN ('account', 'inbox', 'user', 'contact', 'conversation', 'message', 'attachment'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `numeric_ids_ref` ON `numeric_ids` (`kind`,`ref_id`);--> statement-breakpoint
ALTER TABLE `inboxes` ADD `public_client_api` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `inboxes` ADD `webhook_payload_format` text DEFAULT 'edge-inbox' NOT NULL;--> statement-breakpoint
ALTER TABLE `inboxes` ADD `webhook_signature` text DEFAULT 'standard' NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `payload_format` text DEFAULT 'edge-inbox' NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `signature` text DEFAULT 'standard' NOT NULL;