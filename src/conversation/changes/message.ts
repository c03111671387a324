// A message appended to the conversation: incoming from the contact (which reopens a resolved or snoozed
// conversation), an agent's reply, or a private note.
import { toConversation, toMessage, type Contact, type MessageRow } from "../resources";
import type { Origin } from "../../db/schema";
import type { MessageDraft } from "../protocol";
import { Draft, NEEDS_INBOX, type ChangeContext, type Changed, type ConversationState, type NeedsInbox } from "./state";

export type AppendCommand = {
  message: MessageDraft;
  /** The conversation's contact, as message_created events carry it. */
  contact: Contact;
  /** Incoming messages reopen a resolved or snoozed conversation. */
  reopen: boolean;
  /** The Idempotency-Key the message is stored under (unique per conversation in D1). */
  requestKey: string | null;
};

/** Whether appending reopens the conversation (and so needs the inbox's lock setting). */
export function reopens(state: ConversationState, command: Pick<AppendCommand, "reopen">): boolean {
  return command.reopen && (state.status === "resolved" || state.status === "snoozed");
}

export function appendMessage(
  state: ConversationState,
  command: AppendCommand,
  context: ChangeContext & { origin: Origin },
): (Changed & { message: MessageRow }) | NeedsInbox {
  const draft = new Draft(state, context.now, context.origin);
  if (reopens(state, command)) {
    if (!context.inbox) return NEEDS_INBOX;
    draft.changeStatus("open", null, context.inbox);
  }
  const { message } = command;
  const row = draft.addMessage({
    messageType: message.messageType,
    content: message.content,
    contentAttributes: message.contentAttributes,
    attachments: message.attachments,
    private: message.private,
    senderType: message.sender.type,
    senderId: message.sender.id,
    sourceId: message.sourceId,
    requestKey: command.requestKey,
    origin: message.origin ?? null,
    externalCreatedAt: message.externalCreatedAt ?? null,
  });
  draft.conversation.lastActivityAt = context.now;
  draft.emit(
    "message_created",
    { message: toMessage(row), conversation: toConversation(draft.conversation), contact: command.contact },
    // An integrator's own outgoing message is not echoed to its webhook unless it asked (echo).
    { isPrivate: row.private || message.echo === false },
  );
  return { kind: "changed", writes: draft.writes(), message: row };
}
