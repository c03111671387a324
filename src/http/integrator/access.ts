import type { MiddlewareHandler } from "hono";
import { isInboxMember } from "../../domain/inbox-members";
import { findInboxByIdentifier } from "../../domain/inboxes";
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
  // Built only when thrown (an error captures its stack; every admitted request paid for it).
  const missing = () =>
    new ApiError(
      "inbox_not_found",
      `No inbox with identifier '${identifier}' exists for this token. Check the inbox identifier in the URL and that the token belongs to the inbox's account.`,
    );
  const called = c.get("calledInbox") ?? (await lookUp(c.env, identifier, caller));
  const inbox = called.inbox;
  if (!inbox || inbox.accountId !== caller.accountId) throw missing();
  if (caller.kind === "inbox" && caller.inboxId !== inbox.id) throw missing();
  if (caller.kind === "user" && caller.role !== "administrator" && !called.callerIsMember) throw missing();
  c.set("inbox", inbox);
  return next();
};

/** When authenticate did not read the inbox with the token (it does for every URL these routes match). */
async function lookUp(env: Bindings, identifier: string, caller: IntegratorCaller): Promise<CalledInbox> {
  const inbox = await findInboxByIdentifier(env, identifier);
  const callerIsMember = inbox !== null && caller.kind === "user" && (await isInboxMember(env, inbox.accountId, inbox.id, caller.userId));
  return { inbox, callerIsMember };
}
