// What the conversation's changes work on and what they hand back. A change is a pure function:
// the conversation as it is now + a command → the rows to write, the events to publish and the activity
// lines to add. The Durable Object (../object.ts) only serialises, loads, calls the change and commits.
import type { Attachment, ConversationStatus, CustomAttributes, MessageStatus, Origin } from "../../db/schema";
import { newId } from "../../core/ids";
import { newEvent, type EventRow, type EventType } from "../../delivery/events";
import { singleOpenKey, toConversation, toMessage, type ConversationRow, type MessageRow } from "../resources";
import type { Actor } from "../protocol";

/** The conversation's summary row as D1 has it: the state every change starts from. */
export type ConversationState = ConversationRow;

/** The one inbox setting a change may need: whether the inbox locks each contact to one unresolved conversation. */
export type InboxLock = { lockToSingleConversation: boolean };

/** What a change commits, in one D1 batch. */
export type Writes = {
  /** The summary after the change; its `updatedAt` is the change's time. */
  conversation: ConversationRow;
  /** Account labels created on first use. */
  accountLabels: string[];
  /** A receipt's new status for one message. */
  messageStatus: { id: string; status: MessageStatus; statusReason: string | null; updatedAt: number } | null;
  /** A deleted message's new content (it stays in the history, emptied: its seq keeps its place). */
  messageDeletion: { id: string; content: string; contentAttributes: CustomAttributes; attachments: Attachment[]; updatedAt: number } | null;
  /** A contact's answers to a message (Chatwoot's submitted_values): its new content_attributes. */
  messageSubmission: { id: string; contentAttributes: CustomAttributes; updatedAt: number } | null;
  /** New messages (the message itself, activity lines), in seq order. */
  messages: MessageRow[];
  /** The events, in sequence order; `data` is the snapshot at the moment each was emitted. */
  events: EventRow[];
  now: number;
};

export type Changed = { kind: "changed"; writes: Writes };
export type Unchanged = { kind: "unchanged" };

/** A change that may turn out to be a no-op. */
export type Decision = Unchanged | Changed;

/** What every change is given besides the state and its command: the time, and the inbox's lock setting once asked for. */
export type ChangeContext = { now: number; inbox?: InboxLock };

/**
 * The answer of a change that needs the inbox's lock setting and was called without it: the shell reads
 * it and calls the change again. Only changes that may (re)open the conversation ask, and only then.
 */
export type NeedsInbox = { kind: "needs_inbox" };
export const NEEDS_INBOX: NeedsInbox = { kind: "needs_inbox" };

/** Builds one change: hands out message `seq` and event `sequence` numbers and records what to write. */
export class Draft {
  readonly conversation: ConversationRow;
  readonly messages: MessageRow[] = [];
  readonly events: EventRow[] = [];
  readonly accountLabels: string[] = [];
  messageStatus: Writes["messageStatus"] = null;
  messageDeletion: Writes["messageDeletion"] = null;
  messageSubmission: Writes["messageSubmission"] = null;

  constructor(
    readonly before: ConversationState,
    readonly now: number,
    readonly origin: Origin,
  ) {
    this.conversation = { ...before, labels: [...before.labels] };
  }

  nextSeq(): number {
    this.conversation.lastSeq += 1;
    return this.conversation.lastSeq;
  }

  /** Records an event with the next sequence; `data` is the snapshot at this point of the change. */
  emit(type: EventType, data: Record<string, unknown>, options: { isPrivate?: boolean } = {}) {
    this.conversation.lastEventSequence += 1;
    this.events.push(
      newEvent({
        type,
        accountId: this.conversation.accountId,
        inboxId: this.conversation.inboxId,
        conversationId: this.conversation.id,
        sequence: this.conversation.lastEventSequence,
        origin: this.origin,
        data,
        isPrivate: options.isPrivate,
        now: this.now,
      }),
    );
  }

  /** Adds a message row with the next seq (the caller emits its event). */
  addMessage(
    fields: Pick<MessageRow, "messageType" | "content" | "contentAttributes" | "attachments" | "private" | "senderType" | "senderId" | "sourceId" | "requestKey"> &
      Partial<Pick<MessageRow, "origin" | "externalCreatedAt">>,
  ): MessageRow {
    const row: MessageRow = {
      id: newId("msg", this.now),
      accountId: this.conversation.accountId,
      inboxId: this.conversation.inboxId,
      conversationId: this.conversation.id,
      seq: this.nextSeq(),
      origin: null,
      externalCreatedAt: null,
      ...fields,
      status: "sent",
      statusReason: null,
      createdAt: this.now,
      updatedAt: this.now,
    };
    this.messages.push(row);
    return row;
  }

  /** An activity line in the history ("Resolved by Ana"), written with the change it describes. */
  activity(content: string, actor: Actor) {
    const row = this.addMessage({
      messageType: "activity",
      content,
      contentAttributes: {},
      attachments: [],
      private: false,
      senderType: actor.sender.type,
      senderId: actor.sender.id,
      sourceId: null,
      requestKey: null,
    });
    this.emit("message_created", { message: toMessage(row), conversation: toConversation(this.conversation) });
  }

  /** Moves the conversation to `status` (keeping the lock-to-single key in step) and emits the change. */
  changeStatus(status: ConversationStatus, snoozedUntil: number | null, inbox: InboxLock): ConversationStatus {
    const conversation = this.conversation;
    const previous = conversation.status;
    conversation.status = status;
    conversation.snoozedUntil = snoozedUntil;
    conversation.singleOpenKey = singleOpenKey(inbox, conversation);
    this.emit("conversation_status_changed", {
      conversation: toConversation(conversation),
      changed_attributes: [{ status: { previous_value: previous, current_value: status } }],
    });
    return previous;
  }

  writes(): Writes {
    return {
      // Events carry the summary as it was while they were emitted; the row written gets the change's time.
      conversation: { ...this.conversation, updatedAt: this.now },
      accountLabels: this.accountLabels,
      messageStatus: this.messageStatus,
      messageDeletion: this.messageDeletion,
      messageSubmission: this.messageSubmission,
      messages: this.messages,
      events: this.events,
      now: this.now,
    };
  }
}
