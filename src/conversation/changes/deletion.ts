// Deleting a message, as Chatwoot does: it keeps its place in the history (its seq), emptied — the content
// replaced, `content_attributes.deleted` set, its files dropped — and a message_updated says so. The
// deleted text is never put into the event (a webhook must not carry what was deleted).
import type { Origin } from "../../db/schema";
import { toConversation, toMessage, type MessageRow } from "../resources";
import { Draft, type Changed, type ConversationState } from "./state";

export const DELETED_CONTENT = "This message was deleted";

/** Activity lines are the history's own record: they are not deleted. A deleted message stays deleted. */
export function checkDeletion(message: MessageRow): "not_deletable" | "unchanged" | "apply" {
  if (message.messageType === "activity") return "not_deletable";
  if (message.contentAttributes.deleted === true) return "unchanged";
  return "apply";
}

export function applyDeletion(state: ConversationState, message: MessageRow, context: { now: number; origin: Origin }): Changed & { message: MessageRow } {
  const draft = new Draft(state, context.now, context.origin);
  const updated: MessageRow = {
    ...message,
    content: DELETED_CONTENT,
    contentAttributes: { ...message.contentAttributes, deleted: true },
    attachments: [],
    updatedAt: context.now,
  };
  draft.messageDeletion = {
    id: message.id,
    content: updated.content!,
    contentAttributes: updated.contentAttributes,
    attachments: [],
    updatedAt: context.now,
  };
  draft.emit(
    "message_updated",
    {
      message: toMessage(updated),
      conversation: toConversation(draft.conversation),
      changed_attributes: [{ deleted: { previous_value: false, current_value: true } }],
    },
    // A private note's deletion stays as private as the note.
    { isPrivate: message.private },
  );
  return { kind: "changed", writes: draft.writes(), message: updated };
}
