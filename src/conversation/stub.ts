import type { Bindings } from "../env";
import type { ConversationObject } from "./object";

/**
 * The object's RPC methods as the caller sees them. Typed from the class itself: workerd's generic stub
 * type cannot map our recursive JSON types, and every value passed is plain structured-clone data.
 */
export type ConversationApi = Omit<ConversationObject, "alarm" | "fetch">;

/**
 * The Durable Object that owns a conversation, addressed by the conversation id. A call that fails for
 * any reason but the database (the object was reset, overloaded, or crashed) surfaces as a Durable
 * Object failure — a 503 the client may retry: every write path through the object is idempotent.
 */
export function conversationObject(env: Bindings, conversationId: string): ConversationApi {
  const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(conversationId)) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  return new Proxy({} as ConversationApi, {
    get(_target, method: string) {
      return async (...args: unknown[]) => {
        try {
          return await stub[method]!(...args);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (/^D1_/.test(message)) throw error;
          throw new Error(`Durable Object call ${method} on conversation ${conversationId} failed: ${message}`, { cause: error });
        }
      };
    },
  });
}
