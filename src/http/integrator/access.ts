import type { MiddlewareHandler } from "hono";
import { and, eq, isNull } from "drizzle-orm";
import { database } from "../../db/client";
import { inboxes, inboxMembers } from "../../db/schema";
import { ApiError } from "../../errors/problem";
import { integratorCaller } from "../auth";
import type { AppEnv, IntegratorCaller } from "../context";
import type { CalledInbox } from "../../domain/tokens";
import type { Bindings } from "../../env";

/**
 * Guard for `/v1/inboxes/{inbox_identifier}/…`: the inbox's own token, an administrator of its account,
 * or an agent who is a member. Everyone else gets the same 404 as for an identifier that does not exist.
 */
export const inboxAccess: MiddlewareHandler<AppEnv> = async (c, next) => {
  const caller = integratorCaller(c);
  const identifier = c.req.param("inbox_identifier") ?? "";
  const missing = new ApiError(
    "inbox_not_found",
    `No inbox with identifier '${identifier}' exists for this token. Check the inbox identifier in the URL and that the token belongs to the inbox's account.`,
  );
  const called = c.get("calledInbox") ?? (await lookUp(c.env, identifier, caller));
  const inbox = called.inbox;
  if (!inbox || inbox.accountId !== caller.accountId) throw missing;
  if (caller.kind === "inbox" && caller.inboxId !== inbox.id) throw missing;
  if (caller.kind === "user" && caller.role !== "administrator" && !called.callerIsMember) throw missing;
  c.set("inbox", inbox);
  return next();
};

/** When authenticate did not read the inbox with the token (it always does for these URLs today). */
async function lookUp(env: Bindings, identifier: string, caller: IntegratorCaller): Promise<CalledInbox> {
  const db = database(env);
  const inbox = (await db.select().from(inboxes).where(and(eq(inboxes.identifier, identifier), isNull(inboxes.deletedAt))).get()) ?? null;
  if (!inbox || caller.kind !== "user") return { inbox, callerIsMember: false };
  const member = await db
    .select({ userId: inboxMembers.userId })
    .from(inboxMembers)
    .where(and(eq(inboxMembers.inboxId, inbox.id), eq(inboxMembers.userId, caller.userId)))
    .get();
  return { inbox, callerIsMember: member !== undefined };
}
