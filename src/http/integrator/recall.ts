// authenticate's side of the one-call message's isolate cache (./ingest.ts has the route's side).
import type { Context } from "hono";
import { sha256HexSync } from "../../core/crypto";
import { ingestKey, recallCaller, recallIngest } from "../../domain/ingest-cache";
import { shardNamed } from "../../domain/routing";
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
