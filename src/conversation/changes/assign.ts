// Assigning the conversation to a member of its inbox, or unassigning it.
import { toConversation } from "../resources";
import type { Actor } from "../protocol";
import { assignedText } from "./activity";
import { Draft, type ConversationState, type Decision } from "./state";

export type AssignCommand = {
  assignee: { id: string; name: string } | null;
  actor: Actor;
  /** Leave it alone if someone has it already (auto-assignment must not take a conversation from an agent). */
  onlyIfUnassigned?: boolean;
};

export function assign(state: ConversationState, command: AssignCommand, now: number): Decision {
  const next = command.assignee?.id ?? null;
  if (state.assigneeId === next) return { kind: "unchanged" };
  if (command.onlyIfUnassigned && state.assigneeId !== null) return { kind: "unchanged" };
  const draft = new Draft(state, now, command.actor.origin);
  const previous = draft.conversation.assigneeId;
  draft.conversation.assigneeId = next;
  draft.emit("conversation_updated", {
    conversation: toConversation(draft.conversation),
    changed_attributes: [{ assignee_id: { previous_value: previous, current_value: next } }],
  });
  draft.activity(assignedText(command.assignee, command.actor), command.actor);
  return { kind: "changed", writes: draft.writes() };
}
