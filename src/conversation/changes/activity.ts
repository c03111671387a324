// The English of the activity lines a conversation's history shows ("Resolved by Ana"). All of it is here,
// so the wording is found, reviewed and one day translated in one place.
import type { ConversationStatus } from "../../db/schema";
import { iso } from "../../core/time";
import type { Actor } from "../protocol";

export function assignedText(assignee: { name: string } | null, actor: Actor): string {
  return assignee ? `Assigned to ${assignee.name} by ${actor.name}` : `Unassigned by ${actor.name}`;
}

/** "Ana added billing, vip; removed spam" — only the parts that happened. */
export function labelsText(actor: Actor, added: string[], removed: string[]): string {
  const parts = [added.length ? `added ${added.join(", ")}` : "", removed.length ? `removed ${removed.join(", ")}` : ""].filter(Boolean);
  return `${actor.name} ${parts.join("; ")}`;
}

export function statusText(status: ConversationStatus, previous: ConversationStatus, snoozedUntil: number | null, actor: Actor): string {
  switch (status) {
    case "open":
      return previous === "snoozed" && actor.sender.type === "system" ? "Conversation reopened: snooze ended" : `Reopened by ${actor.name}`;
    case "pending":
      return `Marked as pending by ${actor.name}`;
    case "snoozed":
      return `Snoozed until ${iso(snoozedUntil)} by ${actor.name}`;
    case "resolved":
      return `Resolved by ${actor.name}`;
  }
}
