// The realtime side of a commit: nudge the account's realtime object. Called after the change committed
// (the conversation object, and the domain's contact and conversation writes), never inside it.
import type { Bindings, WorkerEnv } from "../env";
import type { CLOSE, RealtimeObject } from "./object";
import type { StreamEvent } from "./visibility";

/** The account's realtime object. */
export function realtimeObject(env: WorkerEnv, accountId: string): DurableObjectStub<RealtimeObject> {
  return env.REALTIME.get(env.REALTIME.idFromName(accountId));
}

/**
 * Tells the accounts' realtime objects that these events committed. Fire-and-forget: a lost nudge
 * costs latency, not events — the next nudge or a client's resume reads them from the events table.
 */
export async function forwardToRealtime(env: Bindings, committed: ReadonlyArray<{ id?: string | null; accountId: string }>): Promise<void> {
  const byAccount = new Map<string, string[]>();
  for (const event of committed) {
    if (!event.id) continue;
    byAccount.set(event.accountId, [...(byAccount.get(event.accountId) ?? []), event.id]);
  }
  await Promise.all(
    [...byAccount].map(async ([accountId, ids]) => {
      try {
        await realtimeObject(env, accountId).notify(accountId, ids, env.SHARD);
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
