// The one-call message's isolate cache at the HTTP edge (issue 15; src/domain/ingest-cache.ts): authenticate
// recognises a remembered (token, inbox, contact) and skips its D1 round trip (./recall.ts); the
// route then sends the message straight to the conversation object, whose commit re-checks in its own
// transaction everything the entry assumed. When the message is not one the cache serves, or the guard
// failed (nothing written), the request is authenticated and admitted again and takes the slow path: its
// answer — success or 401/404/422/503 — is the one it gets without a cache.
import type { Context } from "hono";
import type { ZodError } from "zod";
import { originOf } from "../../domain/events";
import { receiveCached, receiveOnRememberedCaller, type OneCallInput } from "../../domain/incoming";
import { forgetCaller, forgetIngest, guardOfCaller, ingestCounters, rememberIngest, type IngestEntry } from "../../domain/ingest-cache";
import { validationHook } from "../../errors/handler";
import { reauthenticate } from "../auth";
import type { AppEnv, IntegratorCaller } from "../context";
import { inboxAccess } from "./access";

/** The route's first try: the remembered contact's message, or undefined once the request is back on the slow path. */
export async function receiveFromCache(c: Context<AppEnv>, input: OneCallInput) {
  const entry = c.get("ingest");
  if (!entry) return undefined;
  const received = await receiveCached(c.env, entry, input, originOf(entry.caller), c.get("idempotency"));
  if (received) {
    ingestCounters.served++;
    return received;
  }
  await fallBack(c);
  return undefined;
}

/**
 * The route's second try: a contact the isolate does not remember, on a caller it does — the message commits
 * with the new contact behind the caller's guard (receiveOnRememberedCaller); undefined once the request is
 * back on the slow path.
 */
export async function receiveOnCallerFromCache(c: Context<AppEnv>, input: OneCallInput) {
  const entry = c.get("ingestCaller");
  if (!entry) return undefined;
  const received = await receiveOnRememberedCaller(c.env, c.get("inbox"), input, entry.caller, originOf(entry.caller), guardOfCaller(entry));
  if (received) {
    ingestCounters.callerServed++;
    return received;
  }
  await fallBack(c);
  return undefined;
}

/** After the slow path: remember what it resolved, for this token, inbox and contact. */
export function rememberReceived(
  c: Context<AppEnv>,
  caller: IntegratorCaller,
  resolved: Pick<IngestEntry, "contact" | "contactInbox" | "conversation"> | undefined,
): void {
  const key = c.get("ingestKey");
  const called = c.get("calledInbox");
  if (!key || !resolved || !called?.inbox || c.get("idempotency")) return;
  rememberIngest(key.key, { ...resolved, caller, called: { ...called, inbox: called.inbox }, shard: c.env.SHARD, tokenHash: key.tokenHash, identifier: key.identifier });
}

/**
 * The route's validation hook: a request served from the cache that fails validation is authenticated and
 * admitted first, so an unknown token or inbox is still refused before its body is judged.
 */
export async function oneCallHook(
  result: { success: true } | { success: false; error: ZodError; target?: string },
  c: Context<AppEnv>,
): Promise<Response | undefined> {
  if (!result.success && (c.get("ingest") || c.get("ingestCaller"))) await fallBack(c);
  return validationHook(result, c);
}

/** Forget the entry, then authenticate and admit the request again, as if no cache had answered. */
async function fallBack(c: Context<AppEnv>): Promise<void> {
  const key = c.get("ingestKey");
  if (key) forgetIngest(key.key);
  if (key && c.get("ingestCaller")) forgetCaller(key.tokenHash, key.identifier);
  c.set("ingest", undefined);
  c.set("ingestCaller", undefined);
  c.set("ingestFellBack", true);
  ingestCounters.fellBack++;
  await reauthenticate(c);
  await inboxAccess(c, async () => {});
}
