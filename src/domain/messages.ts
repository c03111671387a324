import { and, asc, eq, gt, sql } from "drizzle-orm";
import { database, mapRow, prepareCompiled, runBatch } from "../db/client";
import { conversations, messages } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { toMessage, type MessageRow } from "../conversation/resources";
import { withDataUrls } from "../attachments/render";

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
  const [rows] = await runBatch(env, [pageStatement(env, conversationId, afterSeq, options)]);
  return toPage(env, rows!, options.limit);
}

/**
 * The same page of an inbox's conversation, with the check that the conversation is the inbox's in the
 * same D1 round trip: 404 conversation_not_found when it is not (as getInboxConversation answers).
 */
export async function listInboxMessages(
  env: Bindings,
  inboxId: string,
  conversationId: string,
  options: { afterSeq?: number; cursor?: string; limit: number; includePrivate: boolean },
) {
  const cursor = decodeCursor(options.cursor, { seq: "number" });
  const afterSeq = cursor?.seq ?? options.afterSeq ?? 0;
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
  return toPage(env, rows!, options.limit);
}

/** One page of a conversation's messages after `afterSeq` (one more row than the limit: is there a next page?), compiled once. */
function pageStatement(env: Bindings, conversationId: string, afterSeq: number, options: { limit: number; includePrivate: boolean }) {
  const P = sql.placeholder;
  return prepareCompiled(
    env,
    options.includePrivate ? "history.page.all" : "history.page.public",
    () =>
      database(env)
        .select()
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

async function toPage(env: Bindings, raw: Record<string, unknown>[], limit: number) {
  const hasMore = raw.length > limit;
  const data = (hasMore ? raw.slice(0, limit) : raw).map((row) => toMessage(mapRow<MessageRow>(messages, row)));
  const last = data[data.length - 1];
  return { data: await withDataUrls(env, data), next_cursor: hasMore && last ? encodeCursor({ seq: last.seq }) : null };
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
