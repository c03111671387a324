import type { events, Origin } from "../db/schema";
import type { Caller } from "./tokens";
import { newId } from "./ids";

/** Event names follow Chatwoot's webhooks where it has them. */
export type EventType =
  | "message_created"
  | "message_updated"
  | "conversation_created"
  | "conversation_status_changed"
  | "conversation_updated"
  | "contact_created"
  | "contact_updated"
  | "conversation_typing_on"
  | "conversation_typing_off"
  | "webhook.test";

export type EventRow = typeof events.$inferInsert;

/** Who caused a change, carried on its events so an integrator can skip the echo of its own writes. */
export function originOf(caller: Exclude<Caller, { kind: "platform" }>): Origin {
  return caller.kind === "inbox"
    ? { type: "token", id: caller.tokenId, token_id: caller.tokenId }
    : { type: "user", id: caller.userId, token_id: caller.tokenId };
}

export const SYSTEM_ORIGIN: Origin = { type: "system", id: null };

/**
 * An outbox row. `data` is the snapshot of the changed objects at this moment; deliveries send it as it
 * is and never re-read the objects later.
 */
export function newEvent(input: {
  type: EventType;
  accountId: string;
  inboxId: string | null;
  conversationId: string | null;
  sequence: number | null;
  origin: Origin;
  data: Record<string, unknown>;
  isPrivate?: boolean;
  now: number;
}): EventRow {
  return {
    id: newId("evt", input.now),
    accountId: input.accountId,
    inboxId: input.inboxId,
    conversationId: input.conversationId,
    sequence: input.sequence,
    type: input.type,
    private: input.isPrivate ?? false,
    origin: input.origin,
    data: input.data,
    createdAt: input.now,
    queuedAt: null,
  };
}

import { sql, type SQL } from "drizzle-orm";
import { prepare } from "../db/client";
import type { Bindings } from "../env";

/**
 * `INSERT INTO events … SELECT … WHERE condition`: the event is written only if the condition holds inside
 * the same transaction (e.g. "our new row won the race"), so a change and its event commit together or
 * not at all.
 */
export function insertEventWhere(env: Bindings, event: EventRow, condition: SQL) {
  return prepare(env, sql`INSERT INTO events (id, account_id, inbox_id, conversation_id, sequence, type, private, origin, data, created_at)
    SELECT ${event.id}, ${event.accountId}, ${event.inboxId}, ${event.conversationId}, ${event.sequence}, ${event.type},
           ${event.private ? 1 : 0}, ${JSON.stringify(event.origin)}, ${JSON.stringify(event.data)}, ${event.createdAt}
    WHERE ${condition}`);
}
