// The isolate's memory of one-call messages (POST /v1/inboxes/{identifier}/messages): for a token, an inbox
// and a contact source id, what the slow path resolved — the caller, the inbox, the contact and the
// conversation it continued. A later message of that contact skips the look-up round trip and goes straight
// to the conversation object, whose commit re-checks every assumption in its own transaction
// (src/conversation/guard.ts): a stale entry writes nothing, is forgotten, and the request takes the slow
// path. So an entry is never trusted for anything written or answered: no staleness bound is needed.
// Pure data: no I/O here (test/domain/ingest-cache.unit.test.ts fills it).
import { CappedMap } from "../core/capped-map";
import type { CallerGuard, CommitGuard } from "../conversation/guard";
import type { ContactInboxRow, ContactRow, ConversationRow } from "../conversation/resources";
import type { CalledInbox, Caller } from "./tokens";

export type IngestEntry = {
  caller: Extract<Caller, { kind: "user" | "inbox" }>;
  called: CalledInbox & { inbox: NonNullable<CalledInbox["inbox"]> };
  /** The shard the slow path ran on (the account's, when the entry was made). */
  shard: string;
  tokenHash: string;
  identifier: string;
  contact: ContactRow;
  contactInbox: ContactInboxRow;
  conversation: ConversationRow;
};

/** Entries per isolate; the oldest used goes first. A contact row is ≤ ~17 KB (its attributes' cap): ≤ ~35 MB worst case, ~2 MB typical. */
export const INGEST_CACHE_MAX = 2_000;
/** Contacts with bigger custom_attributes are not remembered (the entry would cost more than the round trip). */
export const INGEST_CACHE_MAX_ATTRIBUTES_BYTES = 2_048;

const entries = new CappedMap<string, IngestEntry>(INGEST_CACHE_MAX);

/**
 * What an entry says about its caller alone: the token, the inbox it was admitted to, the shard. A new
 * contact's first message on a remembered (token, inbox) skips the token's round trip and commits behind a
 * guard of these only (guardOfCaller); a failed guard writes nothing and the request takes the slow path.
 */
export type CallerEntry = Pick<IngestEntry, "caller" | "called" | "shard" | "tokenHash" | "identifier">;

/** Remembered callers per isolate (token hash, inbox identifier), least recently used out first: ≈ 1 KB each. */
export const INGEST_CALLERS_MAX = 2_000;
const callers = new CappedMap<string, CallerEntry>(INGEST_CALLERS_MAX);

/**
 * How often the cache served a message, how often a hit went back to the slow path, and how often a new
 * contact's message was served on a remembered caller (tests, profiling).
 */
export const ingestCounters = { served: 0, fellBack: 0, callerServed: 0 };

export function ingestKey(tokenHash: string, identifier: string, sourceId: string): string {
  return `${tokenHash}\u0000${identifier}\u0000${sourceId}`;
}

export function recallIngest(key: string): IngestEntry | undefined {
  return entries.use(key);
}

export function rememberIngest(key: string, entry: IngestEntry): void {
  rememberCaller(entry);
  if (JSON.stringify(entry.contact.customAttributes).length > INGEST_CACHE_MAX_ATTRIBUTES_BYTES) return;
  entries.setNewest(key, entry);
}

export function forgetIngest(key: string): void {
  entries.delete(key);
}

export function ingestCacheSize(): number {
  return entries.size;
}

function callerKey(tokenHash: string, identifier: string): string {
  return `${tokenHash}\u0000${identifier}`;
}

export function rememberCaller({ caller, called, shard, tokenHash, identifier }: CallerEntry): void {
  callers.setNewest(callerKey(tokenHash, identifier), { caller, called, shard, tokenHash, identifier });
}

export function recallCaller(tokenHash: string, identifier: string): CallerEntry | undefined {
  return callers.use(callerKey(tokenHash, identifier));
}

export function forgetCaller(tokenHash: string, identifier: string): void {
  callers.delete(callerKey(tokenHash, identifier));
}

export function callerCacheSize(): number {
  return callers.size;
}

/** What the commit must find unchanged for a remembered caller (src/conversation/guard.ts). */
export function guardOfCaller(entry: CallerEntry): CallerGuard {
  return {
    tokenHash: entry.tokenHash,
    tokenId: entry.caller.tokenId,
    accountId: entry.caller.accountId,
    caller: entry.caller.kind === "inbox" ? { kind: "inbox" } : { kind: "user", userId: entry.caller.userId, role: entry.caller.role },
    inboxId: entry.called.inbox.id,
    identifier: entry.identifier,
  };
}

/** What the commit must find unchanged for this entry (src/conversation/guard.ts). */
export function guardOf(entry: IngestEntry): CommitGuard {
  return {
    ...guardOfCaller(entry),
    contactInboxId: entry.contactInbox.id,
    sourceId: entry.contactInbox.sourceId,
    contactId: entry.contact.id,
    contactUpdatedAt: entry.contact.updatedAt,
    contactEventSequence: entry.contact.lastEventSequence,
    conversationId: entry.conversation.id,
  };
}

type ClaimedContact = {
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  identifier?: string | null;
  identifier_hash?: string;
  custom_attributes?: Record<string, unknown>;
};

/**
 * Whether the contact attributes a message carries would leave the remembered row as it is (the slow path
 * would then write nothing to the contact). Conservative: an identifier (its proof and scope depend on the
 * inbox's settings) or a nested value takes the slow path.
 */
export function leavesContactAsIs(row: ContactRow, claimed: ClaimedContact): boolean {
  if (claimed.identifier !== undefined || claimed.identifier_hash !== undefined) return false;
  for (const field of ["name", "email", "phone"] as const) {
    if (claimed[field] !== undefined && claimed[field] !== row[field]) return false;
  }
  for (const [key, value] of Object.entries(claimed.custom_attributes ?? {})) {
    const stored = Object.hasOwn(row.customAttributes, key) ? (row.customAttributes as Record<string, unknown>)[key] : undefined;
    if (value === null) {
      if (stored !== undefined) return false;
    } else if (typeof value === "object" || stored === undefined || stored !== value) {
      return false;
    }
  }
  return true;
}
