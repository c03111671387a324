import { and, asc, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import { database, prepareCompiled, runBatch } from "../db/client";
import { apiTokens, conversations, inboxes, messages } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { decodeCursor, encodeCursor } from "../core/pagination";
import type { Message } from "../conversation/resources";
import { iso } from "../core/time";
import { withDataUrls } from "../attachments/render";

/** A page of messages as the history routes answer it (serialised by the functions below). */
export type MessagePage = { data: Message[]; next_cursor: string | null };

type PageOptions = { afterSeq?: number; cursor?: string; limit: number; includePrivate: boolean };

/**
 * A conversation's history in seq order, serialised: the JSON text of a MessagePage. Integrators never see
 * private notes (their seq numbers are simply absent from what they read); agents see everything.
 */
export async function listMessages(env: Bindings, conversationId: string, options: PageOptions): Promise<string> {
  const [rows] = await runBatch(env, [pageStatement(env, conversationId, afterSeqOf(options), options)]);
  return pageJson(env, rows!, options.limit);
}

/**
 * The same page of an inbox's conversation, with the check that the conversation is the inbox's in the
 * same D1 round trip: 404 conversation_not_found when it is not (as getInboxConversation answers).
 * `prefetched`: the page authenticate read with the token (historyStatements); used when it is this
 * inbox's — the one the guard admitted the caller to — and this page, else read here.
 */
export async function listInboxMessages(
  env: Bindings,
  inboxId: string,
  conversationId: string,
  options: PageOptions,
  prefetched?: PrefetchedHistory,
): Promise<string> {
  if (prefetched && !options.includePrivate && prefetched.inboxId === inboxId && prefetched.conversationId === conversationId) {
    const afterSeq = afterSeqOf(options);
    if (prefetched.afterSeq === afterSeq && prefetched.limit === options.limit) {
      if (!prefetched.found) throw notFound("conversation_not_found", "conversation", conversationId);
      return pageJson(env, prefetched.rows, options.limit);
    }
  }
  const db = database(env);
  const [found, rows] = await runBatch(env, [
    prepareCompiled(
      env,
      "history.conversation-of-inbox",
      () =>
        db
          .select({ id: conversations.id })
          .from(conversations)
          .where(and(eq(conversations.inboxId, sql.placeholder("inboxId")), eq(conversations.id, sql.placeholder("conversationId")))),
      { inboxId, conversationId },
    ),
    pageStatement(env, conversationId, afterSeqOf(options), options),
  ]);
  if (found!.length === 0) throw notFound("conversation_not_found", "conversation", conversationId);
  return pageJson(env, rows!, options.limit);
}

/** The page an integrator asks for (`GET /v1/inboxes/{identifier}/conversations/{id}/messages`), known before its route runs. */
export type HistoryWindow = { conversationId: string; afterSeq: number; limit: number };

/** That page, read with the token: the inbox the identifier names (null: the token may not read it), whether the conversation is that inbox's, its rows. */
export type PrefetchedHistory = HistoryWindow & { inboxId: string | null; found: boolean; rows: Record<string, unknown>[] };

/**
 * The window of a history request from its query (as the route will validate it); undefined when it is
 * not one the route would accept as it stands (the route then reads the page itself, or refuses).
 */
export function historyWindow(conversationId: string, query: { cursor?: string; afterSeq?: number; limit: number }): HistoryWindow | undefined {
  try {
    return { conversationId, afterSeq: afterSeqOf(query), limit: query.limit };
  } catch {
    return undefined;
  }
}

/**
 * A history page's reads, to run in the token's round trip (resolveCaller) before the inbox is known: the
 * inbox by its identifier with the conversation if it is that inbox's, and the page. Both read only for a
 * token of the inbox's account that is a user's or this inbox's own (the token's hash is in the query),
 * so another account's or inbox's token gets no rows from D1; the guard still decides who is admitted
 * (inboxAccess), and listInboxMessages uses them only for the inbox it admitted.
 */
export function historyStatements(env: Bindings, identifier: string, tokenHash: string, window: HistoryWindow): D1PreparedStatement[] {
  const db = database(env);
  const P = sql.placeholder;
  const values = { identifier, hash: tokenHash, conversationId: window.conversationId, afterSeq: window.afterSeq, limit: window.limit + 1 };
  const readable = () =>
    and(
      eq(apiTokens.tokenHash, P("hash")),
      isNull(apiTokens.revokedAt),
      eq(apiTokens.accountId, inboxes.accountId),
      or(isNull(apiTokens.inboxId), eq(apiTokens.inboxId, inboxes.id)),
    );
  const namedInbox = () => and(eq(inboxes.identifier, P("identifier")), isNull(inboxes.deletedAt));
  return [
    prepareCompiled(
      env,
      "history.prefetch.conversation",
      () =>
        db
          .select({ inbox_id: sql<string>`${inboxes.id}`.as("inbox_id"), conversation_id: sql<string | null>`${conversations.id}`.as("conversation_id") })
          .from(inboxes)
          .innerJoin(apiTokens, readable())
          .leftJoin(conversations, and(eq(conversations.id, P("conversationId")), eq(conversations.inboxId, inboxes.id)))
          .where(namedInbox())
          .limit(1),
      values,
    ),
    prepareCompiled(
      env,
      "history.prefetch.page",
      () =>
        db
          .select(PAGE_COLUMNS)
          .from(messages)
          .where(
            and(
              inArray(
                messages.conversationId,
                db
                  .select({ id: conversations.id })
                  .from(conversations)
                  .innerJoin(inboxes, and(eq(inboxes.id, conversations.inboxId), namedInbox()))
                  .innerJoin(apiTokens, readable())
                  .where(eq(conversations.id, P("conversationId"))),
              ),
              gt(messages.seq, P("afterSeq")),
              eq(messages.private, false),
            ),
          )
          .orderBy(asc(messages.seq))
          .limit(P("limit")),
      values,
    ),
  ];
}

/** What historyStatements read (their rows, in order). */
export function decodeHistory(window: HistoryWindow, [inboxRows, rows]: Record<string, unknown>[][]): PrefetchedHistory {
  const inbox = inboxRows?.[0];
  return { ...window, inboxId: (inbox?.inbox_id as string | undefined) ?? null, found: Boolean(inbox?.conversation_id), rows: rows ?? [] };
}

/** The seq a page starts after: the cursor's, else after_seq, else the beginning (400 invalid_cursor for a cursor not ours). */
function afterSeqOf(options: { afterSeq?: number; cursor?: string }): number {
  return decodeCursor(options.cursor, { seq: "number" })?.seq ?? options.afterSeq ?? 0;
}

/**
 * What a page reads of each message: its answer as SQLite writes it from the row, up to its times
 * (`head`, in toMessage's key order, src/conversation/resources.ts), the times (written by messageJson,
 * as toMessage does), seq (the cursor) and whether the message may hold a stored attachment. Strings are
 * quoted by json_quote, which escapes exactly as JSON.stringify does (", \\, \\b \\t \\n \\f \\r, other
 * control characters as \\u00xx; stored text is well-formed UTF-8). The JSON columns hold JSON.stringify's
 * own text of their values (drizzle's json columns), which parsing and stringifying again reproduces
 * exactly, so they are spliced in as stored: nothing is parsed, built or stringified again per message.
 */
const PAGE_COLUMNS = {
  head: sql<string>`'{"id":' || json_quote(${messages.id}) || ',"conversation_id":' || json_quote(${messages.conversationId})
    || ',"inbox_id":' || json_quote(${messages.inboxId}) || ',"seq":' || ${messages.seq}
    || ',"message_type":' || json_quote(${messages.messageType}) || ',"content":' || json_quote(${messages.content})
    || ',"content_attributes":' || ${messages.contentAttributes} || ',"attachments":' || ${messages.attachments}
    || ',"private":' || CASE WHEN ${messages.private} = 1 THEN 'true' ELSE 'false' END
    || ',"sender":{"type":' || json_quote(CASE WHEN ${messages.origin} = 'integration' THEN 'integration' ELSE ${messages.senderType} END)
    || ',"id":' || json_quote(${messages.senderId}) || '},"source_id":' || json_quote(${messages.sourceId})
    || ',"status":' || json_quote(${messages.status}) || ',"status_reason":' || json_quote(${messages.statusReason}) || ','`.as("head"),
  // What withDataUrls would look into: attachments, and an `attachments` key anywhere in content_attributes.
  stored: sql<number>`${messages.attachments} <> '[]' OR instr(${messages.contentAttributes}, '"attachments"') > 0`.as("stored"),
  seq: messages.seq,
  externalCreatedAt: messages.externalCreatedAt,
  createdAt: messages.createdAt,
  updatedAt: messages.updatedAt,
};

/** One page of a conversation's messages after `afterSeq` (one more row than the limit: is there a next page?), compiled once. */
function pageStatement(env: Bindings, conversationId: string, afterSeq: number, options: { limit: number; includePrivate: boolean }) {
  const P = sql.placeholder;
  return prepareCompiled(
    env,
    options.includePrivate ? "history.page.all" : "history.page.public",
    () =>
      database(env)
        .select(PAGE_COLUMNS)
        .from(messages)
        .where(
          and(
            eq(messages.conversationId, P("conversationId")),
            gt(messages.seq, P("afterSeq")),
            options.includePrivate ? undefined : eq(messages.private, false),
          ),
        )
        .orderBy(asc(messages.seq))
        .limit(P("limit")),
    { conversationId, afterSeq, limit: options.limit + 1 },
  );
}

/**
 * The page's answer, byte for byte what the routes sent before they had it: JSON.stringify of the message
 * objects (toMessage), stored attachments signed (withDataUrls) — test/http/history-json.test.ts. A page
 * without stored attachments (most) is the messages' JSON joined; one with them is parsed back into those
 * objects (the same keys in the same order) and signed as it is read.
 */
export async function pageJson(env: Bindings, raw: Record<string, unknown>[], limit: number): Promise<string> {
  const hasMore = raw.length > limit;
  const rows = hasMore ? raw.slice(0, limit) : raw;
  const last = rows[rows.length - 1];
  const next = hasMore && last ? encodeCursor({ seq: last.seq as number }) : null;
  const data = rows.map(messageJson);
  if (rows.some((row) => row.stored)) {
    return JSON.stringify({ data: await withDataUrls(env, data.map((text) => JSON.parse(text) as Message)), next_cursor: next });
  }
  return `{"data":[${data.join(",")}],"next_cursor":${stringify(next)}}`;
}

const stringify = JSON.stringify;

/** One message as JSON: SQLite's head (PAGE_COLUMNS) and the times, as toMessage shows them. */
function messageJson(r: Record<string, unknown>): string {
  return (
    `${r.head}"external_created_at":${stringify(iso(r.external_created_at as number | null))},` +
    `"created_at":${stringify(iso(r.created_at as number))},"updated_at":${stringify(iso(r.updated_at as number))}}`
  );
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
