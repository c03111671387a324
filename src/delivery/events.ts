// The events a change writes to the outbox (the events table): built here so that every writer — the
// conversation object, contacts, conversations — and the outbox share one shape.
import { SQL, sql } from "drizzle-orm";
import { newId } from "../core/ids";
import { prepare, prepareInsertWhere, type CompiledCondition } from "../db/client";
import { events, type Origin, type RuleEventName } from "../db/schema";
import type { Bindings } from "../env";

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
  | "contact_deleted"
  | "webhook.test";

export type EventRow = typeof events.$inferInsert;

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

/**
 * `INSERT INTO events … SELECT … WHERE condition`: the event is written only if the condition holds inside
 * the same transaction (e.g. "our new row won the race"), so a change and its event commit together or
 * not at all. `sequence` computes the event's sequence in SQL (a contact's next one) instead of `event.sequence`.
 */
export function insertEventWhere(env: Bindings, event: EventRow, condition: SQL | CompiledCondition, sequence?: SQL) {
  // Compiled once per condition (prepareInsertWhere): a new contact's batch carries up to three of these.
  if (!(condition instanceof SQL) && sequence === undefined) return prepareInsertWhere(env, events, event, condition);
  if (!(condition instanceof SQL)) throw new Error("a computed sequence takes a plain SQL condition");
  return prepare(env, sql`INSERT INTO events (id, account_id, inbox_id, conversation_id, sequence, type, private, origin, data, created_at)
    SELECT ${event.id}, ${event.accountId}, ${event.inboxId}, ${event.conversationId}, ${sequence ?? event.sequence}, ${event.type},
           ${event.private ? 1 : 0}, ${JSON.stringify(event.origin)}, ${JSON.stringify(event.data)}, ${event.createdAt}
    WHERE ${condition}`);
}

/** The events automation rules can be written for. */
export const RULE_EVENTS = ["conversation_created", "conversation_updated", "conversation_status_changed", "message_created"] as const satisfies readonly RuleEventName[];

/**
 * Whether an event goes to the rules engine. Loop safety starts here: what an automation did never
 * triggers rules again. Activity lines ("Assigned to Ana by Bruno") are history, not messages (as in
 * Chatwoot).
 */
export function triggersAutomation(event: { type: string; origin: Origin; data: unknown }): boolean {
  if (!(RULE_EVENTS as readonly string[]).includes(event.type)) return false;
  if (event.origin.type === "automation") return false;
  const message = (event.data as { message?: { message_type?: string } } | null)?.message;
  return !(event.type === "message_created" && message?.message_type === "activity");
}
