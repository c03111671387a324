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

/** One append of a group, with the origin its caller acts as. */
export type GroupedAppend = AppendCommand & { origin: Origin };

/** What one append of a group wrote: its row, and its own writes (the summary right after it: its caller's answer). */
export type Appended = Changed & { message: MessageRow };

/**
 * Several appends applied one after another, in order, each to the state the one before left — exactly
 * what committing them one at a time would write: each message gets the next seq, its events the next
 * sequences, its snapshot the conversation as it was at that point. The group's writes are all their
 * rows and events in that order and the last summary, for one D1 batch.
 */
export function appendMessages(
  state: ConversationState,
  appends: GroupedAppend[],
  context: ChangeContext,
): (Changed & { appended: Appended[] }) | NeedsInbox {
  const appended: Appended[] = [];
  let current = state;
  for (const { origin, ...command } of appends) {
    const change = appendMessage(current, command, { ...context, origin });
    if (change.kind === "needs_inbox") return change;
    appended.push(change);
    current = change.writes.conversation;
  }
  const last = appended.at(-1);
  if (!last) throw new Error("a group of appends has at least one");
  return {
    kind: "changed",
    appended,
    writes: {
      ...last.writes,
      accountLabels: appended.flatMap((one) => one.writes.accountLabels),
      messages: appended.flatMap((one) => one.writes.messages),
      events: appended.flatMap((one) => one.writes.events),
    },
  };
}

/**
 * The most appends one D1 batch carries. A group's batch has, per append, its message row and its
 * events (one, two for the append that reopens) plus each public event's fan-out statement; the outbox's
 * closing statement binds one parameter per event and one per rules-eligible event, so 25 appends (≤ 26
 * events) stay well inside D1's 100 bound parameters per statement, and the batch at ≈ 40 statements.
 * Larger groups save little more: the batch's round trip is shared, its work is not.
 */
export const GROUP_MAX_APPENDS = 25;

/** Roughly the most content (characters of text and attributes) one group's batch carries; a larger append goes alone. */
export const GROUP_MAX_CHARS = 512 * 1024;

/**
 * Splits appends waiting for a commit into groups, in order: a group ends at GROUP_MAX_APPENDS, before
 * GROUP_MAX_CHARS, and before an append that names a conversation other than the group's or repeats a
 * dedupe key (Idempotency-Key, source_id) of an append already in it — that one must see the first
 * committed, so it goes in the next group and gets the answer a retry gets.
 */
export function commitGroups<T>(
  appends: T[],
  describe: (append: T) => { conversationId: string; keys: (string | null)[]; chars: number },
): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let conversationId = "";
  let keys = new Set<string>();
  let chars = 0;
  for (const append of appends) {
    const about = describe(append);
    const own = about.keys.filter((key): key is string => key !== null);
    const full =
      group.length >= GROUP_MAX_APPENDS ||
      (group.length > 0 && chars + about.chars > GROUP_MAX_CHARS) ||
      about.conversationId !== conversationId ||
      own.some((key) => keys.has(key));
    if (full && group.length > 0) {
      groups.push(group);
      group = [];
      keys = new Set();
      chars = 0;
    }
    conversationId = about.conversationId;
    group.push(append);
    for (const key of own) keys.add(key);
    chars += about.chars;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
