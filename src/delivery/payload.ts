import type { events } from "../db/schema";
import { iso } from "../core/time";

type EventRow = typeof events.$inferSelect;

/**
 * The JSON an endpoint receives (and the pull API returns): Chatwoot's top-level `event` name and
 * objects (`message`, `conversation`, `contact`, `changed_attributes`), plus the event's `id` (also the
 * `webhook-id` header: the receiver's dedupe key), per-conversation `sequence`, `created_at` and `origin`.
 */
export function eventEnvelope(event: EventRow, inbox: { id: string; name: string }) {
  return {
    id: event.id,
    event: event.type,
    sequence: event.sequence,
    created_at: iso(event.createdAt),
    account: { id: event.accountId },
    inbox: { id: inbox.id, name: inbox.name },
    conversation_id: event.conversationId,
    origin: event.origin,
    ...event.data,
  };
}
