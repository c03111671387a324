// A delivery receipt for an outgoing reply: delivered / read / failed. Receipts are taken as they come —
// the latest one sets the status, whatever it was — and one repeating the current status and reason is a no-op.
import type { Origin } from "../../db/schema";
import { toConversation, toMessage, type MessageRow } from "../resources";
import { Draft, type Changed, type ConversationState } from "./state";

export type ReceiptCommand = { status: "delivered" | "read" | "failed"; reason: string | null };

/** Only outgoing replies carry receipts: not incoming messages, activity lines or private notes. */
export function checkReceipt(message: MessageRow, command: ReceiptCommand): "not_outgoing" | "unchanged" | "apply" {
  if (message.messageType !== "outgoing" || message.private) return "not_outgoing";
  if (message.status === command.status && message.statusReason === command.reason) return "unchanged";
  return "apply";
}

export function applyReceipt(
  state: ConversationState,
  message: MessageRow,
  command: ReceiptCommand,
  context: { now: number; origin: Origin },
): Changed & { message: MessageRow } {
  const draft = new Draft(state, context.now, context.origin);
  const updated: MessageRow = { ...message, status: command.status, statusReason: command.reason, updatedAt: context.now };
  draft.messageStatus = { id: message.id, status: updated.status, statusReason: updated.statusReason, updatedAt: context.now };
  draft.emit("message_updated", {
    message: toMessage(updated),
    conversation: toConversation(draft.conversation),
    changed_attributes: [{ status: { previous_value: message.status, current_value: command.status } }],
  });
  return { kind: "changed", writes: draft.writes(), message: updated };
}
