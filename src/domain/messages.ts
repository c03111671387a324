import { and, asc, eq, gt } from "drizzle-orm";
import { database } from "../db/client";
import { messages } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { toMessage } from "../conversation/resources";
import { iso } from "../core/time";

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

export type MessagePage = Awaited<ReturnType<typeof listMessages>>;

/** The columns of a message in toMessage's order (resources.ts), for the page built as text below. */
const PAGE_COLUMNS =
  "id, conversation_id, inbox_id, seq, message_type, content, content_attributes, attachments, private, sender_type, sender_id, origin, source_id, status, status_reason, external_created_at, created_at, updated_at";

type PageRow = {
  id: string;
  conversation_id: string;
  inbox_id: string;
  seq: number;
  message_type: string;
  content: string | null;
  content_attributes: string;
  attachments: string;
  private: number;
  sender_type: string;
  sender_id: string | null;
  origin: string | null;
  source_id: string | null;
  status: string;
  status_reason: string | null;
  external_created_at: number | null;
  created_at: number;
  updated_at: number;
};

/**
 * The same page as `listMessages`, already serialised: byte for byte what `JSON.stringify` makes of it
 * (test/http/history-json.test.ts), without building 100 message objects, parsing their stored JSON
 * columns and stringifying them again — the stored text is spliced in as it is. A history page is the
 * heaviest read an integrator makes; this is most of its CPU. With `inboxId` the conversation is checked to
 * belong to that inbox (404 `conversation_not_found` otherwise) in the same D1 round trip.
 */
export async function listMessagesJson(
  env: Bindings,
  conversationId: string,
  options: { afterSeq?: number; cursor?: string; limit: number; includePrivate: boolean; inboxId?: string },
): Promise<string> {
  const cursor = decodeCursor(options.cursor, { seq: "number" });
  const afterSeq = cursor?.seq ?? options.afterSeq ?? 0;
  const pageQuery = env.DB.prepare(
    `SELECT ${PAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ?${options.includePrivate ? "" : " AND private = 0"} ORDER BY seq LIMIT ?`,
  ).bind(conversationId, afterSeq, options.limit + 1);
  let rows: PageRow[];
  if (options.inboxId === undefined) {
    rows = (await pageQuery.all<PageRow>()).results;
  } else {
    const [found, page] = await env.DB.batch<unknown>([
      env.DB.prepare("SELECT 1 AS found FROM conversations WHERE inbox_id = ? AND id = ?").bind(options.inboxId, conversationId),
      pageQuery,
    ]);
    if (found!.results.length === 0) throw notFound("conversation_not_found", "conversation", conversationId);
    rows = page!.results as PageRow[];
  }
  const hasMore = rows.length > options.limit;
  const page = hasMore ? rows.slice(0, options.limit) : rows;
  const s = JSON.stringify;
  const data = page.map(
    (r) =>
      `{"id":${s(r.id)},"conversation_id":${s(r.conversation_id)},"inbox_id":${s(r.inbox_id)},"seq":${r.seq},"message_type":${s(r.message_type)},` +
      `"content":${s(r.content)},"content_attributes":${r.content_attributes},"attachments":${r.attachments},"private":${r.private ? "true" : "false"},` +
      `"sender":{"type":${s(r.origin === "integration" ? "integration" : r.sender_type)},"id":${s(r.sender_id)}},"source_id":${s(r.source_id)},` +
      `"status":${s(r.status)},"status_reason":${s(r.status_reason)},"external_created_at":${s(iso(r.external_created_at))},` +
      `"created_at":${s(iso(r.created_at))},"updated_at":${s(iso(r.updated_at))}}`,
  );
  const last = page[page.length - 1];
  const next = hasMore && last ? encodeCursor({ seq: last.seq }) : null;
  return `{"data":[${data.join(",")}],"next_cursor":${s(next)}}`;
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
