import { and, asc, eq, getTableColumns, gt, isNull, or, sql } from "drizzle-orm";
import { database, mapRow, prepareCompiled, runBatch } from "../db/client";
import { accounts, apiTokens, conversations, historyRevisions, inboxes, messages } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { toMessage, type Message, type MessageRow } from "../conversation/resources";
import { iso } from "../core/time";
import { withDataUrls } from "../attachments/render";
import { heldPage, holdPage, serveHeld, type HeldPage } from "./history-cache";

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
 * inbox's — the one the guard admitted the caller to — and this page, else read here. A page served from
 * the isolate's (src/domain/history-cache.ts) is its UTF-8 bytes.
 */
export async function listInboxMessages(
  env: Bindings,
  inboxId: string,
  conversationId: string,
  options: PageOptions,
  prefetched?: PrefetchedHistory,
): Promise<string | Uint8Array<ArrayBuffer>> {
  const afterSeq = afterSeqOf(options);
  if (
    prefetched &&
    !options.includePrivate &&
    prefetched.inboxId === inboxId &&
    prefetched.conversationId === conversationId &&
    prefetched.afterSeq === afterSeq &&
    prefetched.limit === options.limit
  ) {
    if (!prefetched.found) throw notFound("conversation_not_found", "conversation", conversationId);
    if (prefetched.held !== undefined) return serveHeld(prefetched.held);
    const text = pageText(prefetched.rows, options.limit);
    if (text === undefined) return JSON.stringify(await pageObjects(env, prefetched.rows, options.limit));
    if (prefetched.revision !== null) holdPage(env, prefetched, prefetched.revision, text);
    return text;
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
    pageStatement(env, conversationId, afterSeq, options),
  ]);
  if (found!.length === 0) throw notFound("conversation_not_found", "conversation", conversationId);
  return pageJson(env, rows!, options.limit);
}

/** The page an integrator asks for (`GET /v1/inboxes/{identifier}/conversations/{id}/messages`), known before its route runs. */
export type HistoryWindow = { conversationId: string; afterSeq: number; limit: number };

/**
 * That page, read with the token: the inbox the identifier names (null: the token may not read it), whether
 * the conversation is that inbox's, its rows and its history revision — or, when the isolate held the page
 * at the revision D1 still has (src/domain/history-cache.ts), no rows and that held page.
 */
export type PrefetchedHistory = HistoryWindow & {
  inboxId: string | null;
  found: boolean;
  rows: Record<string, unknown>[];
  revision: number | null;
  held?: HeldPage;
};

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
 * A history page's read, to run in the token's round trip (resolveCaller) before the inbox is known: one
 * statement — the inbox its identifier names, the conversation if it is that inbox's, and the page's rows
 * (a row with the inbox and no message when the page is empty). It reads only for a token of the inbox's
 * account that is a user's or this inbox's own (the token's hash is in the query), so another account's or
 * inbox's token gets no rows from D1; the guard still decides who is admitted (inboxAccess), and
 * listInboxMessages uses the rows only for the inbox it admitted. Every join before the messages finds at
 * most one row (unique identifier, token hash, primary key), so the page is the (conversation, seq) index's
 * range in order, as the page statement reads it (test/http/history-json.test.ts checks the plan).
 */
export function historyStatements(env: Bindings, identifier: string, tokenHash: string, window: HistoryWindow, held?: HeldPage): D1PreparedStatement[] {
  const db = database(env);
  const P = sql.placeholder;
  return [
    prepareCompiled(
      env,
      "history.prefetch",
      () => {
        const { conversationId: _conversation, inboxId: _inbox, ...rowColumns } = PAGE_COLUMNS;
        return db
          .select({
            ...rowColumns,
            inbox_id: sql<string>`${inboxes.id}`.as("inbox_id"),
            conversation_id: sql<string | null>`${conversations.id}`.as("conversation_id"),
            revision: sql<number | null>`${historyRevisions.revision}`.as("revision"),
            // A remembered reader's only check (src/http/integrator/recall.ts): 'moved' sends it to the slow path.
            account_state: sql<string | null>`${accounts.state}`.as("account_state"),
          })
          .from(inboxes)
          .leftJoin(accounts, eq(accounts.id, inboxes.accountId))
          .innerJoin(
            apiTokens,
            and(
              eq(apiTokens.tokenHash, P("hash")),
              isNull(apiTokens.revokedAt),
              eq(apiTokens.accountId, inboxes.accountId),
              or(isNull(apiTokens.inboxId), eq(apiTokens.inboxId, inboxes.id)),
            ),
          )
          .leftJoin(conversations, and(eq(conversations.id, P("conversationId")), eq(conversations.inboxId, inboxes.id)))
          .leftJoin(historyRevisions, eq(historyRevisions.conversationId, conversations.id))
          // No rows when the isolate holds the page at the conversation's revision (it serves what it holds):
          // the index is then sought at NULL, which finds nothing at once — a condition beside it would be
          // checked against every message after the window's start.
          .leftJoin(
            messages,
            and(
              eq(messages.conversationId, sql`CASE WHEN ${historyRevisions.revision} = ${P("held")} THEN NULL ELSE ${conversations.id} END`),
              gt(messages.seq, P("afterSeq")),
              eq(messages.private, false),
            ),
          )
          .where(and(eq(inboxes.identifier, P("identifier")), isNull(inboxes.deletedAt)))
          .orderBy(asc(messages.seq))
          .limit(P("limit"));
      },
      { identifier, hash: tokenHash, conversationId: window.conversationId, afterSeq: window.afterSeq, limit: window.limit + 1, held: held?.revision ?? -1 },
    ),
  ];
}

/**
 * A history page of an inbox token the isolate remembers (src/http/integrator/recall.ts): historyStatements
 * alone, one round trip. undefined when its row does not admit the token to this inbox now (revoked, another
 * inbox's, the inbox deleted) or the account has moved off this shard.
 */
export async function readHistoryAsInbox(env: Bindings, identifier: string, tokenHash: string, window: HistoryWindow, inboxId: string) {
  const held = heldPage(env, window);
  const read = await runBatch(env, historyStatements(env, identifier, tokenHash, window, held));
  const row = read[0]?.[0];
  if (row === undefined || row.inbox_id !== inboxId || row.account_state === "moved") return undefined;
  return decodeHistory(window, read, held);
}

/** What historyStatements read (`held`: the page it was given). */
export function decodeHistory(window: HistoryWindow, [rows]: Record<string, unknown>[][], held?: HeldPage): PrefetchedHistory {
  const first = rows?.[0];
  const found = first?.conversation_id !== null && first?.conversation_id !== undefined;
  const revision = (first?.revision as number | null | undefined) ?? null;
  return {
    ...window,
    inboxId: (first?.inbox_id as string | undefined) ?? null,
    found,
    // An empty page is one row without a message; so is a page the isolate holds at this revision.
    rows: first?.id === null || first === undefined ? [] : rows!,
    revision,
    held: found && held !== undefined && revision === held.revision ? held : undefined,
  };
}

/** The seq a page starts after: the cursor's, else after_seq, else the beginning (400 invalid_cursor for a cursor not ours). */
function afterSeqOf(options: { afterSeq?: number; cursor?: string }): number {
  return decodeCursor(options.cursor, { seq: "number" })?.seq ?? options.afterSeq ?? 0;
}

/** The columns a page reads: those toMessage shows (the account and the Idempotency-Key's request key stay in D1). */
const PAGE_COLUMNS = (() => {
  const { accountId: _account, requestKey: _requestKey, ...shown } = getTableColumns(messages);
  return shown;
})();

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
 * The page's answer: byte for byte `JSON.stringify(await pageObjects(…))`, the objects the route sent
 * before (test/http/history-json.test.ts). A page whose messages hold no stored attachment (most) is
 * written from the raw rows — the stored JSON columns spliced in as the text they are, without parsing
 * them, building 100 message objects and stringifying them again; a page with one takes that path
 * (pageObjects), which signs each attachment's data_url as it is read.
 */
async function pageJson(env: Bindings, raw: Record<string, unknown>[], limit: number): Promise<string> {
  return pageText(raw, limit) ?? JSON.stringify(await pageObjects(env, raw, limit));
}

/** The page written from the raw rows; undefined when one of its messages may hold a stored attachment. */
function pageText(raw: Record<string, unknown>[], limit: number): string | undefined {
  const hasMore = raw.length > limit;
  const rows = hasMore ? raw.slice(0, limit) : raw;
  if (rows.some(mayHoldStored)) return undefined;
  const last = rows[rows.length - 1];
  const next = hasMore && last ? encodeCursor({ seq: last.seq as number }) : null;
  return `{"data":[${rows.map(messageJson).join(",")}],"next_cursor":${stringify(next)}}`;
}

/** The page as message objects, stored attachments signed (withDataUrls): what the routes answered before pageJson. */
async function pageObjects(env: Bindings, raw: Record<string, unknown>[], limit: number): Promise<MessagePage> {
  const hasMore = raw.length > limit;
  const data = (hasMore ? raw.slice(0, limit) : raw).map((row) => toMessage(mapRow<MessageRow>(messages, row)));
  const last = data[data.length - 1];
  return { data: await withDataUrls(env, data), next_cursor: hasMore && last ? encodeCursor({ seq: last.seq }) : null };
}

/**
 * Whether withDataUrls could find a stored attachment in the row's message: its attachments are not the
 * empty list, or its content_attributes name an `attachments` key anywhere (withDataUrls walks the whole
 * message). The stored JSON is what JSON.stringify wrote (drizzle's json columns), so the key reads as is.
 */
function mayHoldStored(row: Record<string, unknown>): boolean {
  return row.attachments !== "[]" || (row.content_attributes as string).includes('"attachments"');
}

const stringify = JSON.stringify;

/**
 * One message as JSON, in toMessage's key order (src/conversation/resources.ts), from its raw row. The
 * JSON columns hold JSON.stringify's own text of their values, which parsing and stringifying again
 * reproduces exactly, so they are spliced in as stored.
 */
function messageJson(r: Record<string, unknown>): string {
  // ISO times need no escaping; a message not updated since has the same time twice.
  const created = iso(r.created_at as number);
  const updated = r.updated_at === r.created_at ? created : iso(r.updated_at as number);
  const external = iso(r.external_created_at as number | null);
  return (
    `{"id":${stringify(r.id)},"conversation_id":${stringify(r.conversation_id)},"inbox_id":${stringify(r.inbox_id)},"seq":${stringify(r.seq)},` +
    `"message_type":${stringify(r.message_type)},"content":${stringify(r.content)},"content_attributes":${r.content_attributes},` +
    `"attachments":${r.attachments},"private":${Number(r.private) === 1},` +
    `"sender":{"type":${stringify(r.origin === "integration" ? "integration" : r.sender_type)},"id":${stringify(r.sender_id)}},` +
    `"source_id":${stringify(r.source_id)},"status":${stringify(r.status)},"status_reason":${stringify(r.status_reason)},` +
    `"external_created_at":${external === null ? "null" : `"${external}"`},"created_at":"${created}","updated_at":"${updated}"}`
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
