// What callers send to and get back from the conversation object. RPC cannot carry our error classes, so
// outcomes are plain values that the caller turns into responses or problems.
import type { Attachment, CustomAttributes, MessageType, Origin, SenderType } from "../db/schema";
import type { Conversation, ConversationRow, Message } from "./resources";

export type MessageDraft = {
  messageType: MessageType;
  content: string | null;
  contentAttributes: CustomAttributes;
  attachments: Attachment[];
  private: boolean;
  sender: { type: SenderType; id: string | null };
  sourceId: string | null;
  /** 'integration': the business sent it from its own system and the integrator recorded it. */
  origin?: "integration" | null;
  /** When it really happened (imported history); seq still follows arrival. */
  externalCreatedAt?: number | null;
  /** false: its message_created is not sent back to the inbox's webhook (nor pulled); the integrator wrote it. */
  echo?: boolean;
};

export type MessageOutcome =
  | {
      kind: "created" | "existing";
      message: Message;
      conversation: Conversation;
      /** A guarded append's conversation as committed: the isolate cache's next message hands it back as lastRead. */
      row?: ConversationRow;
    }
  | { kind: "dedupe_mismatch" }
  | { kind: "not_found" }
  | { kind: "conflict"; detail: string }
  /** A guarded append (./guard.ts) found the cache's assumptions changed: nothing was written. */
  | { kind: "guard_failed" };

export type DeletionOutcome =
  | { kind: "updated" | "unchanged"; message: Message }
  | { kind: "not_found" }
  | { kind: "not_deletable" };

export type SubmissionOutcome = { kind: "updated"; message: Message } | { kind: "not_found" };

export type StatusOutcome =
  | { kind: "updated" | "unchanged"; message: Message }
  | { kind: "not_found" }
  | { kind: "not_outgoing" };

/** Who makes a change: the origin its events carry, the name activity lines show, the sender they get. */
export type Actor = { origin: Origin; name: string; sender: { type: "user" | "automation" | "system"; id: string | null } };

export type ConversationOutcome =
  | { kind: "updated" | "unchanged"; conversation: Conversation }
  | { kind: "not_found" }
  | { kind: "conflict"; detail: string };
