import { and, eq } from "drizzle-orm";
import { database } from "../db/client";
import { messages } from "../db/schema";
import type { Bindings } from "../env";

export async function findMessageBySource(env: Bindings, inboxId: string, sourceId: string) {
  return database(env)
    .select()
    .from(messages)
    .where(and(eq(messages.inboxId, inboxId), eq(messages.sourceId, sourceId)))
    .get();
}

/** The message a request key (Idempotency-Key scoped to caller and route) created in this inbox, if any. */
export async function findMessageByRequestKey(env: Bindings, inboxId: string, requestKey: string) {
  return database(env)
    .select()
    .from(messages)
    .where(and(eq(messages.inboxId, inboxId), eq(messages.requestKey, requestKey)))
    .get();
}
