// The realtime side of a commit: nudge the account's realtime object. Called after the change committed
// (the conversation object, and the domain's contact and conversation writes), never inside it.
import type { Bindings, WorkerEnv } from "../env";
import type { CLOSE, RealtimeObject } from "./object";
import { CappedMap } from "../core/capped-map";
import { QUIET_MS } from "./quiet";
import type { StreamEvent } from "./visibility";

/** The account's realtime object. */
export function realtimeObject(env: WorkerEnv, accountId: string): DurableObjectStub<RealtimeObject> {
  return env.REALTIME.get(env.REALTIME.idFromName(accountId));
}

/**
 * Accounts whose realtime object answered "nobody listens", until when (ms): their nudges are skipped
 * meanwhile. A nudge is a Durable Object call per commit (≈ 1.5 ms of a message's server time) and
 * almost always answered so. A socket that connects within that window is not left waiting: the object
 * pumps once more QUIET_MS after each connect (RealtimeObject.fetch), so an event committed in the
 * window reaches it at most ≈ QUIET_MS late — never lost (it is in the events table the pump reads).
 * Bounded: the oldest entries go first beyond QUIET_ACCOUNTS_MAX.
 */
export const QUIET_ACCOUNTS_MAX = 5000;
const quietUntil = new CappedMap<string, number>(QUIET_ACCOUNTS_MAX);

/** The account's object answered "nobody listens" at `now`. */
export function markQuiet(accountId: string, now: number) {
  quietUntil.delete(accountId);
  quietUntil.set(accountId, now + QUIET_MS);
}

/** A socket of the account is being opened through this isolate: its nudges go out again at once. */
export function listenerConnecting(accountId: string) {
  quietUntil.delete(accountId);
}

/** Accounts remembered as quiet (tests of the cap). */
export function quietAccounts(): number {
  return quietUntil.size;
}

/**
 * Tells the accounts' realtime objects that these events committed. Fire-and-forget: a lost nudge
 * costs latency, not events — the next nudge or a client's resume reads them from the events table.
 */
export async function forwardToRealtime(env: Bindings, committed: ReadonlyArray<{ id?: string | null; accountId: string }>): Promise<void> {
  const byAccount = new Map<string, string[]>();
  const now = Date.now();
  for (const event of committed) {
    if (!event.id) continue;
    const until = quietUntil.get(event.accountId);
    if (until !== undefined) {
      if (until > now) continue;
      quietUntil.delete(event.accountId);
    }
    byAccount.set(event.accountId, [...(byAccount.get(event.accountId) ?? []), event.id]);
  }
  await Promise.all(
    [...byAccount].map(async ([accountId, ids]) => {
      try {
        const listening = await realtimeObject(env, accountId).notify(accountId, ids, env.SHARD);
        if (listening === false) markQuiet(accountId, Date.now());
      } catch (error) {
        console.warn(JSON.stringify({ level: "warn", message: "realtime nudge failed; clients catch up on the next one or on resume", error: String(error) }));
      }
    }),
  );
}

/** An event that is never stored (a contact typing): only whoever is connected now sees it. */
export async function pushEphemeral(
  env: Bindings,
  event: Omit<StreamEvent, "position"> & { envelope: Record<string, unknown> },
): Promise<void> {
  try {
    await realtimeObject(env, event.accountId).push(event);
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "realtime push failed", error: String(error) }));
  }
}

/** Closes the account's sockets opened with these tokens, for these users, or for these contacts. */
export async function disconnectRealtime(
  env: Bindings,
  accountId: string,
  selector: { tokenIds?: string[]; userIds?: string[]; contactInboxIds?: string[] },
  why: keyof typeof CLOSE,
): Promise<void> {
  try {
    await realtimeObject(env, accountId).disconnect(selector, why);
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "realtime disconnect failed", error: String(error) }));
  }
}
