import { and, asc, eq, gt } from "drizzle-orm";
import { database } from "../db/client";
import { messages } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { toMessage } from "../conversation/resources";

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

/** `ms` (integer milliseconds) as `iso()` writes it: 2026-11-29T18:53:05.123Z, in integer arithmetic. */
const isoSql = (ms: string) => `strftime('%Y-%m-%dT%H:%M:%S', ${ms} / 1000, 'unixepoch') || printf('.%03dZ', ${ms} % 1000)`;

/** A message as toMessage shapes it (resources.ts), built by SQLite; the stored JSON columns go in as they are. */
const MESSAGE_JSON = `json_object('id', id, 'conversation_id', conversation_id, 'inbox_id', inbox_id, 'seq', seq,
  'message_type', message_type, 'content', content, 'content_attributes', json(content_attributes), 'attachments', json(attachments),
  'private', json(CASE WHEN private THEN 'true' ELSE 'false' END), 'sender', json_object('type', sender_type, 'id', sender_id),
  'source_id', source_id, 'status', status, 'status_reason', status_reason,
  'created_at', ${isoSql("created_at")}, 'updated_at', ${isoSql("updated_at")})`;

/**
 * The same page as `listMessages`, already serialised: byte for byte what `JSON.stringify` makes of it
 * (test/http/history-json.test.ts). SQLite builds the page's JSON in the query, so D1 hands back one
 * string instead of 100 rows, and the Worker builds, parses and stringifies nothing per message. A history
 * page is the heaviest read an integrator makes. With `inboxId` the conversation is checked to belong to
 * that inbox (404 `conversation_not_found` otherwise) in the same D1 round trip.
 */
export async function listMessagesJson(
  env: Bindings,
  conversationId: string,
  options: { afterSeq?: number; cursor?: string; limit: number; includePrivate: boolean; inboxId?: string },
): Promise<string> {
  const cursor = decodeCursor(options.cursor, { seq: "number" });
  const afterSeq = cursor?.seq ?? options.afterSeq ?? 0;
  // One row more than the page tells whether there is a next one; it is counted, never shown.
  const pageQuery = env.DB.prepare(
    `SELECT count(*) AS fetched, max(CASE WHEN rn <= ?1 THEN seq END) AS last_seq,
       json_group_array(${MESSAGE_JSON} ORDER BY seq) FILTER (WHERE rn <= ?1) AS data
     FROM (SELECT *, row_number() OVER (ORDER BY seq) AS rn FROM messages
           WHERE conversation_id = ?2 AND seq > ?3${options.includePrivate ? "" : " AND private = 0"} ORDER BY seq LIMIT ?1 + 1)`,
  ).bind(options.limit, conversationId, afterSeq);
  type Page = { fetched: number; last_seq: number | null; data: string | null };
  let page: Page;
  if (options.inboxId === undefined) {
    page = (await pageQuery.first<Page>())!;
  } else {
    const [found, result] = await env.DB.batch<unknown>([
      env.DB.prepare("SELECT 1 AS found FROM conversations WHERE inbox_id = ? AND id = ?").bind(options.inboxId, conversationId),
      pageQuery,
    ]);
    if (found!.results.length === 0) throw notFound("conversation_not_found", "conversation", conversationId);
    page = result!.results[0] as Page;
  }
  const next = page.fetched > options.limit && page.last_seq !== null ? JSON.stringify(encodeCursor({ seq: page.last_seq })) : "null";
  return `{"data":${page.data ?? "[]"},"next_cursor":${next}}`;
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
