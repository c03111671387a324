import type { Context, MiddlewareHandler } from "hono";
import { contactLookupStatements, decodeContactLookup } from "../domain/conversations";
import { heldPage, type HeldPage } from "../domain/history-cache";
import { decodeHistory, historyStatements, historyWindow, type HistoryWindow } from "../domain/messages";
import { shardForAccount, shardForPath } from "../domain/routing";
import { resolveCaller, type Caller } from "../domain/tokens";
import { sha256HexSync } from "../core/crypto";
import { config } from "../env";
import { ApiError } from "../errors/problem";
import type { AppEnv, IntegratorCaller, UserCaller } from "./context";
import { recallForRequest, recallHistoryReader, rememberHistoryReader } from "./integrator/recall";
import { HistoryQuery } from "./integrator/schemas";
import { safeDecode } from "./path";
import { sessionAccountOf, sessionCaller } from "./session/cookie";

/** Resolves the bearer token once per request; each route then declares what it needs with a guard below. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  await resolveRequestCaller(c);
  return next();
};

/**
 * Reads the token again, for a request that waited (an idempotent duplicate): the caller's role, inbox
 * memberships and the token itself are taken as they are now, and the guards can be re-run against them.
 */
export const reauthenticate = (c: Context<AppEnv>) => resolveRequestCaller(c);

/**
 * Resolves the caller and routes the request to its account's shard: from here on `c.env.DB` is the shard
 * that holds the account (docs/scaling.md). The token names its account; a request without one is routed by
 * its URL. During the switch of an account's move, its writes are refused (503 account_moving); reads go on.
 */
async function resolveRequestCaller(c: Context<AppEnv>): Promise<void> {
  const header = c.req.header("authorization");
  if (!header) {
    // The console: a session cookie names its account, whose shard serves the request and acts as its user
    // (src/http/session/cookie.ts checks CSRF on changes); without one the URL says where to look.
    const sessionAccount = sessionAccountOf(c);
    c.env = sessionAccount ? await shardForAccount(c.env, sessionAccount) : await shardForPath(c.env, c.req.path, (name) => c.req.query(name));
    c.set("caller", await sessionCaller(c));
    return;
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new ApiError("invalid_token", "Send the token as 'Authorization: Bearer <token>'.");
  // An integrator URL names its inbox: read it with the token, in the same round trip.
  const inboxIdentifier = /^\/v1\/inboxes\/([^/]+)\//.exec(c.req.path)?.[1];
  const identifier = inboxIdentifier === undefined ? undefined : safeDecode(inboxIdentifier);
  const contactSourceId = identifier === undefined ? undefined : await oneCallContact(c);
  // A contact the isolate remembers for this token and inbox skips the round trip below (src/http/integrator/recall.ts).
  if (contactSourceId !== undefined && (await recallForRequest(c, match[1]!, identifier!, contactSourceId))) return;
  const history = identifier === undefined ? undefined : historyPage(c);
  // An inbox token the isolate remembers for this inbox reads its page in the page's one statement (recall.ts).
  const readerHash = history === undefined ? undefined : sha256HexSync(match[1]!);
  if (readerHash !== undefined && (await recallHistoryReader(c, readerHash, identifier!, history!))) return;
  let held: HeldPage | undefined;
  const { caller, called, extra, env, moving } = await resolveCaller(c.env, match[1]!, config(c.env).platformToken, identifier, (shard, tokenHash) => {
    if (contactSourceId !== undefined) return contactLookupStatements(shard, { identifier: identifier! }, contactSourceId);
    if (history === undefined) return [];
    // A page the isolate holds is read as its revision only, and served if that is still the conversation's.
    held = heldPage(shard, history);
    return historyStatements(shard, identifier!, tokenHash, history, held);
  });
  if (!caller) throw new ApiError("invalid_token", "The token is unknown or has been revoked.");
  // The platform token names no account: its operations choose their shards themselves (domain/accounts.ts).
  c.env = env ?? (await shardForPath(c.env, c.req.path, (name) => c.req.query(name)));
  if (moving && c.req.method !== "GET" && c.req.method !== "HEAD") {
    throw new ApiError("account_moving", "The account is being switched to another shard; writes resume within seconds. Retry after the Retry-After delay.", {
      headers: { "retry-after": "2" },
    });
  }
  c.set("caller", caller);
  c.set("calledInbox", called);
  c.set(
    "contactLookup",
    contactSourceId !== undefined && extra && called?.inbox
      ? { inboxId: called.inbox.id, sourceId: contactSourceId, found: decodeContactLookup(extra) }
      : undefined,
  );
  // The history page, for listInboxMessages: it uses it only for the inbox inboxAccess then admits.
  c.set("history", history && contactSourceId === undefined && extra && called?.inbox ? decodeHistory(history, extra, held) : undefined);
  if (readerHash !== undefined) rememberHistoryReader(c, readerHash, identifier!);
}

/**
 * A history page (`GET /v1/inboxes/{id}/conversations/{id}/messages`) is read in the token's round trip
 * (saving one of the request's two): its window from the query as the route validates it (HistoryQuery).
 * A query the route refuses is not read; listInboxMessages uses the rows only for the page it is asked.
 */
function historyPage(c: Context<AppEnv>): HistoryWindow | undefined {
  if (c.req.method !== "GET") return undefined;
  const conversationId = /^\/v1\/inboxes\/[^/]+\/conversations\/([^/]+)\/messages$/.exec(c.req.path)?.[1];
  if (conversationId === undefined) return undefined;
  const query = HistoryQuery.safeParse(c.req.query());
  if (!query.success) return undefined;
  return historyWindow(safeDecode(conversationId), { cursor: query.data.cursor, afterSeq: query.data.after_seq, limit: query.data.limit });
}

/**
 * The contact's source_id of a one-call message (`POST /v1/inboxes/{id}/messages`, JSON), read from the
 * body jsonBody checked: its contact and conversation are then looked up in the token's round trip
 * (saving one of the request's D1 round trips). Only a plausible id is looked up; the route's schema still
 * validates the body, and the look-up is used only for that inbox and source_id (receiveMessage).
 */
async function oneCallContact(c: Context<AppEnv>): Promise<string | undefined> {
  if (c.req.method !== "POST" || !/^\/v1\/inboxes\/[^/]+\/messages$/.test(c.req.path)) return undefined;
  const cached = (c.req.bodyCache as Record<string, unknown>).text;
  if (cached === undefined) return undefined; // not a JSON body (a multipart upload streams its own)
  try {
    const body = JSON.parse(await (cached as Promise<string>)) as { contact?: { source_id?: unknown } } | null;
    const sourceId = body?.contact?.source_id;
    return typeof sourceId === "string" && sourceId.length > 0 && sourceId.length <= 255 ? sourceId : undefined;
  } catch {
    return undefined;
  }
}

export function authenticated(c: Context<AppEnv>): Caller {
  const caller = c.get("caller");
  if (!caller) throw new ApiError("unauthorized", "Send a token in the 'Authorization: Bearer <token>' header.");
  return caller;
}

/** Guard: only the operator's platform token. */
export const platformOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (authenticated(c).kind !== "platform") throw new ApiError("forbidden", "Only the operator's platform token may call this operation.");
  return next();
};

/**
 * A user of this account, with at least `role`. Another account's token gets the same 404 as an account
 * that does not exist, so account ids cannot be probed.
 */
export function checkAccountUser(caller: Caller, accountId: string, role: "agent" | "administrator"): UserCaller {
  if (caller.kind === "platform" || caller.accountId !== accountId) {
    throw new ApiError("account_not_found", `No account with id '${accountId}' exists for this token.`);
  }
  if (caller.kind === "inbox") {
    throw new ApiError("forbidden", "An inbox token can only call the integrator API of its inbox (/v1/inboxes/…).");
  }
  if (role === "administrator" && caller.role !== "administrator") {
    throw new ApiError("forbidden", "This operation needs an administrator's token.");
  }
  return caller;
}

/** Guard for `/v1/accounts/{account_id}/…`: runs before the request is validated, so strangers learn nothing. */
export function accountUser(role: "agent" | "administrator" = "agent"): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("user", checkAccountUser(authenticated(c), c.req.param("account_id") ?? "", role));
    return next();
  };
}

/** The caller of an integrator route, before the inbox is known (the inbox look-up finishes the check). */
export function integratorCaller(c: Context<AppEnv>): IntegratorCaller {
  const caller = authenticated(c);
  if (caller.kind === "platform") {
    throw new ApiError("forbidden", "The platform token only creates accounts; use a user or inbox token.");
  }
  return caller;
}
