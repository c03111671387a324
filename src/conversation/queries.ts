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
