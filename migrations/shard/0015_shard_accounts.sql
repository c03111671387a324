ALTER TABLE `accounts` DROP COLUMN `name`;--> statement-breakpoint
ALTER TABLE `accounts` DROP COLUMN `rate_limits`;