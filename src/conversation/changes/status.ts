// open / pending / snoozed (until a time, then it reopens by itself) / resolved, and the snooze's wake-up.
import type { ConversationStatus } from "../../db/schema";
import { SYSTEM_ORIGIN } from "../../delivery/events";
import type { Actor } from "../protocol";
import { statusText } from "./activity";
import { Draft, NEEDS_INBOX, type ChangeContext, type Changed, type ConversationState, type Decision, type NeedsInbox, type Unchanged } from "./state";

export type StatusCommand = { status: ConversationStatus; snoozedUntil: number | null; actor: Actor };

/** The actor of changes nobody asked for (a snooze ending). */
export const SYSTEM_ACTOR: Actor = { origin: SYSTEM_ORIGIN, name: "system", sender: { type: "system", id: null } };

/**
 * A changed status, and when to wake the conversation up (`snoozeUntil`, set only when it is snoozed by this
 * change). `snoozedUntil` is ignored unless the status is snoozed.
 */
export function setStatus(
  state: ConversationState,
  command: StatusCommand,
  context: ChangeContext,
): Unchanged | (Changed & { snoozeUntil: number | null }) | NeedsInbox {
  const snoozedUntil = command.status === "snoozed" ? command.snoozedUntil : null;
  if (state.status === command.status && state.snoozedUntil === snoozedUntil) return { kind: "unchanged" };
  if (!context.inbox) return NEEDS_INBOX;
  const draft = new Draft(state, context.now, command.actor.origin);
  const previous = draft.changeStatus(command.status, snoozedUntil, context.inbox);
  draft.activity(statusText(command.status, previous, snoozedUntil, command.actor), command.actor);
  return { kind: "changed", writes: draft.writes(), snoozeUntil: snoozedUntil };
}

/** Whether a snoozed conversation's time has come. */
export function snoozeEnded(state: ConversationState, now: number): boolean {
  return state.status === "snoozed" && state.snoozedUntil !== null && state.snoozedUntil <= now;
}

/** Reopens a snoozed conversation whose time has come, as the system; anything else is left alone. */
export function wakeIfDue(state: ConversationState, context: ChangeContext): Decision | NeedsInbox {
  if (!snoozeEnded(state, context.now)) return { kind: "unchanged" };
  if (!context.inbox) return NEEDS_INBOX;
  const draft = new Draft(state, context.now, SYSTEM_ACTOR.origin);
  const previous = draft.changeStatus("open", null, context.inbox);
  draft.activity(statusText("open", previous, null, SYSTEM_ACTOR), SYSTEM_ACTOR);
  return { kind: "changed", writes: draft.writes() };
}
