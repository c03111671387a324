import type { Bindings } from "../env";
import type { ConversationObject } from "./object";

/**
 * The object's RPC methods as the caller sees them. Typed from the class itself: workerd's generic stub
 * type cannot map our recursive JSON types, and every value passed is plain structured-clone data.
 */
export type ConversationApi = Omit<ConversationObject, "alarm" | "fetch">;

/** The Durable Object that owns a conversation, addressed by the conversation id. */
export function conversationObject(env: Bindings, conversationId: string): ConversationApi {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(conversationId)) as unknown as ConversationApi;
}
