CREATE TABLE `commit_guards` (
	`ok` integer NOT NULL
);--> statement-breakpoint
-- Hand-written (drizzle has no triggers): the guard of a commit made from the isolate cache never stores a
-- row; a failed one aborts the batch it leads (src/conversation/guard.ts).
CREATE TRIGGER commit_guards_check BEFORE INSERT ON commit_guards
BEGIN
  SELECT CASE WHEN NEW.ok THEN RAISE(IGNORE) ELSE RAISE(ABORT, 'commit_guard_failed') END;
END;
