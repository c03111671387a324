import type { Bindings } from "../env";
import { isStorageFailure } from "../errors/handler";
import { isOutcomeUnknown, OutcomeUnknown } from "../errors/outcome";
import type { ConversationObject } from "./object";

/**
 * The object's RPC methods as the caller sees them. Typed from the class itself: workerd's generic stub
 * type cannot map our recursive JSON types, and every value passed is plain structured-clone data.
 */
export type ConversationApi = Omit<ConversationObject, "alarm" | "fetch">;

/**
 * The Durable Object that owns a conversation, addressed by the conversation id. A failed call is told
 * apart by what it says about the write, since every method writes:
 * - the object's own code threw: a storage failure before its commit (nothing written, a 503
 *   `storage_unavailable`), a commit with no answer (OutcomeUnknown), or else a bug (a 500);
 * - the platform refused the call as overloaded: it never ran (a 503 `service_unavailable`);
 * - anything else (the object reset, the connection dropped): it may have committed (OutcomeUnknown).
 * Every call also names the caller's shard (as a last argument the methods declare): the object works on it.
 */
export function conversationObject(env: Bindings, conversationId: string): ConversationApi {
  const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(conversationId)) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  return new Proxy({} as ConversationApi, {
    get(_target, method: string) {
      return async (...args: unknown[]) => {
        try {
          return await stub[method]!(...args, env.SHARD);
        } catch (error) {
          throw classify(error, `${method} on conversation ${conversationId}`);
        }
      };
    },
  });
}

function classify(error: unknown, call: string): Error {
  const flags = (error instanceof Error ? error : new Error(String(error))) as Error & { remote?: boolean; overloaded?: boolean };
  if (isOutcomeUnknown(flags)) return new OutcomeUnknown(`${call}: ${flags.message}`, { cause: error });
  if (flags.remote === true) {
    if (isStorageFailure(flags)) return flags;
    // Not worded as a Durable Object failure: that would be answered as a retryable 503.
    return new Error(`Bug in the conversation object's ${call}: ${flags.name}: ${flags.message}`, { cause: error });
  }
  if (flags.overloaded === true) return new Error(`Durable Object call ${call} was refused as overloaded`, { cause: error });
  return new OutcomeUnknown(`Durable Object call ${call} failed after it was sent: ${flags.message}`, { cause: error });
}
