import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env";

/** The single writer of one conversation (built out by the channel API). */
export class ConversationObject extends DurableObject<Bindings> {}
