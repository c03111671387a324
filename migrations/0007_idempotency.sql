-- Issue 22: a message's request key (its Idempotency-Key, scoped to caller and route) dedupes within the
-- inbox, not only within one conversation: a retry whose conversation was resolved in the meantime (and
-- would open a new one) finds the message it already wrote instead of writing it a second time.
DROP INDEX messages_request_key;
CREATE UNIQUE INDEX messages_request_key ON messages(inbox_id, request_key) WHERE request_key IS NOT NULL;
