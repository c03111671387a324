import { and, asc, eq, gt } from "drizzle-orm";
import { database } from "../db/client";
import { messages } from "../db/schema";
import type { Bindings } from "../env";
import { notFound } from "../errors/problem";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { toMessage } from "../conversation/resources";
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
