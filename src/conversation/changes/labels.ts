// Replacing the conversation's labels, or editing them against the set as it is now (so a concurrent
// change is not lost). Account-level labels are created on first use.
import { toConversation } from "../resources";
import type { Actor } from "../protocol";
import { labelsText } from "./activity";
import { Draft, type ConversationState, type Decision } from "./state";

export type LabelsCommand = { actor: Actor } & ({ labels: string[] } | { edit: { add: string[]; remove: string[] } });

/** The label set a command asks for: deduplicated and sorted, as it is stored. */
export function wantedLabels(current: string[], command: LabelsCommand): string[] {
  const wanted = "labels" in command ? command.labels : [...current, ...command.edit.add].filter((label) => !command.edit.remove.includes(label));
  return [...new Set(wanted)].sort();
}

export function setLabels(state: ConversationState, command: LabelsCommand, now: number): Decision {
  const next = wantedLabels(state.labels, command);
  if (JSON.stringify(next) === JSON.stringify(state.labels)) return { kind: "unchanged" };
  const draft = new Draft(state, now, command.actor.origin);
  const previous = draft.conversation.labels;
  draft.conversation.labels = next;
  const added = next.filter((label) => !previous.includes(label));
  const removed = previous.filter((label) => !next.includes(label));
  draft.accountLabels.push(...added);
  draft.emit("conversation_updated", {
    conversation: toConversation(draft.conversation),
    changed_attributes: [{ labels: { previous_value: previous, current_value: next } }],
  });
  draft.activity(labelsText(command.actor, added, removed), command.actor);
  return { kind: "changed", writes: draft.writes() };
}
