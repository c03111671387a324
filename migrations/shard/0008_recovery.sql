-- Retention (docs/retention.md): the last events-feed position pruned from each inbox, so a pull cursor
-- from before it is refused (410 cursor_expired) instead of silently skipping deleted events.
ALTER TABLE `inboxes` ADD `events_pruned_through` integer;