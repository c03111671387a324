// A contact's answers to a message, as Chatwoot records them (Public API PATCH …/messages/{id}): the body's
// `submitted_values` (an input_select's choice, a form's fields, a CSAT rating) is stored in the message's
// `content_attributes.submitted_values`, replacing earlier answers, and a message_updated says so.
import type { Json, Origin } from "../../db/schema";
import { toConversation, toMessage, type MessageRow } from "../resources";
import { Draft, type Changed, type ConversationState } from "./state";

/** A contact never sees private notes: answering one is answering a message that does not exist for them. */
export function checkSubmission(message: MessageRow): boolean {
  return !message.private;
}

export function applySubmission(
  state: ConversationState,
  message: MessageRow,
  submittedValues: Json,
  context: { now: number; origin: Origin },
): Changed & { message: MessageRow } {
  const draft = new Draft(state, context.now, context.origin);
  const previous = message.contentAttributes.submitted_values ?? null;
  const updated: MessageRow = {
    ...message,
    contentAttributes: { ...message.contentAttributes, submitted_values: submittedValues },
    updatedAt: context.now,
  };
  draft.messageSubmission = { id: message.id, contentAttributes: updated.contentAttributes, updatedAt: context.now };
  draft.emit("message_updated", {
    message: toMessage(updated),
    conversation: toConversation(draft.conversation),
    changed_attributes: [{ submitted_values: { previous_value: previous, current_value: submittedValues } }],
  });
  return { kind: "changed", writes: draft.writes(), message: updated };
}
