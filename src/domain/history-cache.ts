import { CappedMap } from "../core/capped-map";
import type { Bindings } from "../env";

/**
 * History pages the isolate has written, reused while their conversation's messages are unchanged
 * (docs/architecture.md, "History pages"). An entry is the answer, as the UTF-8 bytes it sends, and the
 * conversation's history revision it was read at (src/db/history-revisions.sql: a fresh random value on every
 * write to one of its messages). It is never trusted alone: the page's statement, in the token's round trip, returns the
 * revision and leaves the rows out only when it equals the entry's — so a page served from here is the page
 * D1 holds at that moment, to a caller D1 admitted in the same statement. Only pages written from the stored
 * rows are kept (no stored attachment, whose signed URLs expire), and only integrators' (no private notes).
 */
type CachedPage = { revision: number; body: Uint8Array<ArrayBuffer> };

/** A page's window: the conversation, the seq it starts after, how many messages. */
type Window = { conversationId: string; afterSeq: number; limit: number };

/** At most this many pages, and this many bytes of them all (of an isolate's 128 MB). */
const PAGE_LIMIT = 1_000;
const BYTE_BUDGET = 16 * 1024 * 1024;

export const historyPages = new CappedMap<string, CachedPage>(PAGE_LIMIT, { max: BYTE_BUDGET, weigh: (page) => page.body.byteLength });

/** What the cache did, for tests. */
export const historyCacheCounters = { served: 0, stored: 0 };

/** The page's key: the shard (a move reads the account from another database), the conversation and the window. */
function keyOf(env: Bindings, window: Window): string {
  return `${env.SHARD}\n${window.conversationId}\n${window.afterSeq}\n${window.limit}`;
}

/** A page the isolate holds, as it was when the request's statement was built (another request may replace it meanwhile). */
export type HeldPage = CachedPage & { key: string };

/** The page the isolate holds for this window, if any: its revision goes into the page's statement. */
export function heldPage(env: Bindings, window: Window): HeldPage | undefined {
  const key = keyOf(env, window);
  const page = historyPages.get(key);
  return page && { ...page, key };
}

/** The held page's body, D1 having answered that its revision is still the conversation's. */
export function serveHeld(held: HeldPage): Uint8Array<ArrayBuffer> {
  historyPages.use(held.key);
  historyCacheCounters.served++;
  return held.body;
}

/** Keeps a page read at `revision`. */
export function holdPage(env: Bindings, window: Window, revision: number, text: string): void {
  // encode() returns a fresh ArrayBuffer's view (its type only says ArrayBufferLike).
  historyPages.setNewest(keyOf(env, window), { revision, body: encoder.encode(text) as Uint8Array<ArrayBuffer> });
  historyCacheCounters.stored++;
}

const encoder = new TextEncoder();
