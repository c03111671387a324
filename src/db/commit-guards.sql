-- The guard of a commit made from the Worker's isolate cache (src/conversation/guard.ts): commit_guards never
-- stores a row; a failed guard aborts the batch it leads. Migration 0018 creates the same trigger.
CREATE TRIGGER commit_guards_check BEFORE INSERT ON commit_guards
BEGIN
  SELECT CASE WHEN NEW.ok THEN RAISE(IGNORE) ELSE RAISE(ABORT, 'commit_guard_failed') END;
END;
