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
  "id, conversation_id, inbox_id, seq, message_type, content, content_attributes, attachments, private, sender_type, sender_id, source_id, status, status_reason, created_at, updated_at";

type PageRow = [string, string, string, number, string, string | null, string, string, number, string, string | null, string | null, string, string | null, number, number];

/**
 * The same page as `listMessages`, already serialised: byte for byte what `JSON.stringify` makes of it
 * (test/http/history-json.test.ts), without building 100 message objects, parsing their stored JSON
 * columns and stringifying them again — the stored text is spliced in as it is. A history page is the
 * heaviest read an integrator makes; this is most of its CPU.
 */
export async function listMessagesJson(
  env: Bindings,
  conversationId: string,
  options: { afterSeq?: number; cursor?: string; limit: number; includePrivate: boolean },
): Promise<string> {
  const cursor = decodeCursor(options.cursor, { seq: "number" });
  const afterSeq = cursor?.seq ?? options.afterSeq ?? 0;
  const rows = await env.DB.prepare(
    `SELECT ${PAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ?${options.includePrivate ? "" : " AND private = 0"} ORDER BY seq LIMIT ?`,
  )
    .bind(conversationId, afterSeq, options.limit + 1)
    .raw<PageRow>();
  const hasMore = rows.length > options.limit;
  const page = hasMore ? rows.slice(0, options.limit) : rows;
  const s = JSON.stringify;
  const data = page.map(
    (r) =>
      `{"id":${s(r[0])},"conversation_id":${s(r[1])},"inbox_id":${s(r[2])},"seq":${r[3]},"message_type":${s(r[4])},"content":${s(r[5])},` +
      `"content_attributes":${r[6]},"attachments":${r[7]},"private":${r[8] ? "true" : "false"},"sender":{"type":${s(r[9])},"id":${s(r[10])}},` +
      `"source_id":${s(r[11])},"status":${s(r[12])},"status_reason":${s(r[13])},"created_at":${s(iso(r[14]))},"updated_at":${s(iso(r[15]))}}`,
  );
  const last = page[page.length - 1];
  const next = hasMore && last ? encodeCursor({ seq: last[3] }) : null;
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
