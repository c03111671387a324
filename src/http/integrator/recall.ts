// authenticate's side of the isolate's remembered callers: the one-call message's cache (./ingest.ts has the
// route's side) and the history pages of an inbox's own token.
import type { Context } from "hono";
import { sha256HexSync } from "../../core/crypto";
import { forgetCaller, ingestKey, recallCaller, recallIngest, rememberCaller } from "../../domain/ingest-cache";
import { readHistoryAsInbox, type HistoryWindow } from "../../domain/messages";
import { shardNamed } from "../../domain/routing";
import type { Caller } from "../../domain/tokens";
import type { AppEnv } from "../context";

/**
 * Called by authenticate for a one-call JSON message (the token, the URL's inbox identifier, the body's
 * contact source id): true when the isolate remembers them — or only the token and inbox (a contact it does
 * not know) — with the caller, inbox and shard set as the slow path would have. A request with an Idempotency-Key, or one that fell back already, is never served.
 */
export async function recallForRequest(c: Context<AppEnv>, bearer: string, identifier: string, sourceId: string): Promise<boolean> {
  if (c.get("ingestFellBack") || c.req.header("idempotency-key") !== undefined) return false;
  const tokenHash = sha256HexSync(bearer);
  const key = ingestKey(tokenHash, identifier, sourceId);
  c.set("ingestKey", { key, tokenHash, identifier });
  const entry = recallIngest(key);
  // A contact it does not remember, on a caller it does: a new contact's message, whose batch re-checks the caller.
  const known = entry ?? recallCaller(tokenHash, identifier);
  if (!known) return false;
  c.env = shardNamed(c.env, known.shard);
  c.set("caller", known.caller);
  c.set("calledInbox", known.called);
  c.set("contactLookup", undefined);
  if (entry) c.set("ingest", entry);
  else c.set("ingestCaller", known);
  return true;
}

/**
 * A history page read with an inbox's own token that the isolate remembers for this inbox: the page's one
 * statement is the whole round trip, without the token's, inbox's and membership reads. That statement joins
 * the token by its hash and returns nothing unless the token is unrevoked, belongs to the inbox's account and is
 * this inbox's, and the inbox is not deleted — all an inbox token's reads establish — and it says whether the
 * account has moved off this shard. So a revoked token, a deleted inbox or a moved account is seen on the very
 * request, as on the slow path: the entry is forgotten and false sends the request there, which answers as it
 * always does. User tokens always take the slow path (their role and memberships are not in the page's join).
 */
export async function recallHistoryReader(c: Context<AppEnv>, tokenHash: string, identifier: string, history: HistoryWindow): Promise<boolean> {
  const known = recallCaller(tokenHash, identifier);
  if (!known || !isInboxOwnToken(known.caller, known.called.inbox)) return false;
  const env = shardNamed(c.env, known.shard);
  const page = await readHistoryAsInbox(env, identifier, tokenHash, history, known.called.inbox.id);
  if (!page) {
    forgetCaller(tokenHash, identifier);
    return false;
  }
  c.env = env;
  c.set("caller", known.caller);
  c.set("calledInbox", known.called);
  c.set("contactLookup", undefined);
  c.set("history", page);
  return true;
}

/** After the slow path admitted an inbox's own token to read this inbox's history: remember it for the next page. */
export function rememberHistoryReader(c: Context<AppEnv>, tokenHash: string, identifier: string): void {
  const caller = c.get("caller");
  const called = c.get("calledInbox");
  if (!called?.inbox || !isInboxOwnToken(caller, called.inbox)) return;
  rememberCaller({ caller, called: { ...called, inbox: called.inbox }, shard: c.env.SHARD, tokenHash, identifier });
}

/** The only callers the page's statement re-checks in full: an inbox's own token, on that inbox. */
function isInboxOwnToken(caller: Caller | null | undefined, inbox: { id: string }): caller is Extract<Caller, { kind: "inbox" }> {
  return caller?.kind === "inbox" && caller.inboxId === inbox.id;
}
