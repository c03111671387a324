import { and, asc, eq, gt } from "drizzle-orm";
import { database } from "../db/client";
import { messages, type Attachment, type CustomAttributes, type MessageStatus, type MessageType, type SenderType } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { decodeCursor, encodeCursor } from "./pagination";
import { iso } from "./time";

export type MessageRow = typeof messages.$inferSelect;

export type Message = {
  id: string;
  conversation_id: string;
  inbox_id: string;
  seq: number;
  message_type: MessageType;
  content: string | null;
  content_attributes: CustomAttributes;
  attachments: Attachment[];
  private: boolean;
  /** "integration": recorded by the integrator, sent by the business from its own system. */
  sender: { type: SenderType | "integration"; id: string | null };
  source_id: string | null;
  status: MessageStatus;
  status_reason: string | null;
  /** The original time of an imported message; null when it happened on arrival. */
  external_created_at: string | null;
  created_at: string;
  updated_at: string;
};

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    conversation_id: row.conversationId,
    inbox_id: row.inboxId,
    seq: row.seq,
    message_type: row.messageType,
    content: row.content,
    content_attributes: row.contentAttributes,
    attachments: row.attachments,
    private: row.private,
    sender: { type: row.origin === "integration" ? "integration" : row.senderType, id: row.senderId },
    source_id: row.sourceId,
    status: row.status,
    status_reason: row.statusReason,
    external_created_at: iso(row.externalCreatedAt),
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/**
 * A conversation's history in seq order. Integrators never see private notes (their seq numbers are
 * simply absent from what they read); agents see everything.
 */
export async function listMessages(
  env: Bindings,
  conversationId: string,
  options: { afterSeq?: number; cursor?: string; limit: number; includePrivate: boolean },
) {
  const cursor = decodeCursor(options.cursor, { seq: "number" });
  const afterSeq = cursor?.seq ?? options.afterSeq ?? 0;
  const rows = await database(env)
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        gt(messages.seq, afterSeq),
        options.includePrivate ? undefined : eq(messages.private, false),
      ),
    )
    .orderBy(asc(messages.seq))
    .limit(options.limit + 1);
  const hasMore = rows.length > options.limit;
  const data = (hasMore ? rows.slice(0, options.limit) : rows).map(toMessage);
  const last = data[data.length - 1];
  return { data, next_cursor: hasMore && last ? encodeCursor({ seq: last.seq }) : null };
}

export async function findMessageBySource(env: Bindings, inboxId: string, sourceId: string) {
  return database(env)
    .select()
    .from(messages)
    .where(and(eq(messages.inboxId, inboxId), eq(messages.sourceId, sourceId)))
    .get();
}

export async function getInboxMessage(env: Bindings, inboxId: string, messageId: string) {
  const row = await database(env)
    .select()
    .from(messages)
    .where(and(eq(messages.inboxId, inboxId), eq(messages.id, messageId)))
    .get();
  if (!row) throw notFound("message_not_found", "message", messageId);
  return row;
}
