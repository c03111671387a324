// The one-call message's isolate cache (src/domain/ingest-cache.ts): capped, least recently used out first,
// big contacts never kept; and which claimed attributes leave a remembered contact as it is.
import { describe, expect, it } from "vitest";
import {
  callerCacheSize,
  forgetCaller,
  forgetIngest,
  INGEST_CACHE_MAX,
  INGEST_CALLERS_MAX,
  recallCaller,
  ingestCacheSize,
  ingestKey,
  leavesContactAsIs,
  recallIngest,
  rememberIngest,
  type IngestEntry,
} from "../../src/domain/ingest-cache";
import type { ContactRow } from "../../src/conversation/resources";

const contact: ContactRow = {
  id: "ct_1",
  accountId: "acc_1",
  name: "Ana",
  email: null,
  phone: null,
  identifier: null,
  identifierScope: null,
  customAttributes: { plan: "pro", seats: 3 },
  lastEventSequence: 1,
  createdAt: 1,
  updatedAt: 1,
};

const entry = (id: string, attributes: Record<string, unknown> = {}): IngestEntry =>
  ({
    caller: { kind: "inbox", accountId: "acc_1", inboxId: "inb_1", tokenId: "tok_1" },
    called: { inbox: { id: "inb_1" }, callerIsMember: false },
    shard: "SHARD_1",
    tokenHash: "h",
    identifier: "i",
    contact: { ...contact, id, customAttributes: attributes },
    contactInbox: { id: `ci_${id}`, sourceId: id },
    conversation: { id: `cnv_${id}` },
  }) as unknown as IngestEntry;

describe("the ingest cache", () => {
  it("stops growing at its cap, evicting the least recently used entry", () => {
    for (let i = 0; i < INGEST_CACHE_MAX + 50; i++) rememberIngest(ingestKey("h", "i", `s${i}`), entry(`s${i}`));
    expect(ingestCacheSize()).toBe(INGEST_CACHE_MAX);
    // The oldest 50 went first.
    expect(recallIngest(ingestKey("h", "i", "s0"))).toBeUndefined();
    expect(recallIngest(ingestKey("h", "i", "s49"))).toBeUndefined();
    // A recalled entry is used again: the next eviction takes another one.
    expect(recallIngest(ingestKey("h", "i", "s50"))?.contact.id).toBe("s50");
    rememberIngest(ingestKey("h", "i", "new"), entry("new"));
    expect(ingestCacheSize()).toBe(INGEST_CACHE_MAX);
    expect(recallIngest(ingestKey("h", "i", "s50"))).toBeDefined();
    expect(recallIngest(ingestKey("h", "i", "s51"))).toBeUndefined();
    forgetIngest(ingestKey("h", "i", "new"));
    expect(recallIngest(ingestKey("h", "i", "new"))).toBeUndefined();
  });

  it("remembers each entry's caller per token and inbox, capped, least recently used out first", () => {
    for (let i = 0; i < INGEST_CALLERS_MAX + 50; i++) rememberIngest(ingestKey(`t${i}`, "i", "x"), { ...entry("x"), tokenHash: `t${i}` });
    expect(callerCacheSize()).toBe(INGEST_CALLERS_MAX);
    expect(recallCaller("t0", "i")).toBeUndefined();
    expect(recallCaller("t49", "i")).toBeUndefined();
    expect(recallCaller("t50", "i")).toMatchObject({ tokenHash: "t50", shard: "SHARD_1", called: { inbox: { id: "inb_1" } } });
    expect(recallCaller("t50", "j")).toBeUndefined();
    // Even a contact too big to remember leaves its caller remembered.
    rememberIngest(ingestKey("t-big", "i", "big"), { ...entry("big", { notes: "x".repeat(4096) }), tokenHash: "t-big" });
    expect(callerCacheSize()).toBe(INGEST_CALLERS_MAX);
    expect(recallCaller("t-big", "i")).toBeDefined();
    expect(recallCaller("t50", "i")).toBeDefined();
    expect(recallCaller("t51", "i")).toBeUndefined();
    forgetCaller("t-big", "i");
    expect(recallCaller("t-big", "i")).toBeUndefined();
  });

  it("keys by token, inbox and source id, and never keeps a contact with big attributes", () => {
    rememberIngest(ingestKey("h1", "i", "x"), entry("x"));
    expect(recallIngest(ingestKey("h2", "i", "x"))).toBeUndefined();
    expect(recallIngest(ingestKey("h1", "j", "x"))).toBeUndefined();
    expect(recallIngest(ingestKey("h1", "i", "x"))).toBeDefined();
    rememberIngest(ingestKey("h1", "i", "big"), entry("big", { notes: "x".repeat(4096) }));
    expect(recallIngest(ingestKey("h1", "i", "big"))).toBeUndefined();
  });

  it("serves only claims that leave the contact as it is", () => {
    expect(leavesContactAsIs(contact, {})).toBe(true);
    expect(leavesContactAsIs(contact, { name: "Ana", email: null, custom_attributes: { plan: "pro", gone: null } })).toBe(true);
    expect(leavesContactAsIs(contact, { name: "Bea" })).toBe(false);
    expect(leavesContactAsIs(contact, { email: "a@example.com" })).toBe(false);
    expect(leavesContactAsIs(contact, { custom_attributes: { seats: 4 } })).toBe(false);
    expect(leavesContactAsIs(contact, { custom_attributes: { plan: null } })).toBe(false);
    expect(leavesContactAsIs(contact, { custom_attributes: { nested: { a: 1 } } })).toBe(false);
    expect(leavesContactAsIs(contact, { custom_attributes: { toString: null } })).toBe(true);
    expect(leavesContactAsIs(contact, { custom_attributes: { toString: "x" } })).toBe(false);
    expect(leavesContactAsIs(contact, { identifier: null })).toBe(false);
    expect(leavesContactAsIs(contact, { identifier_hash: "ab" })).toBe(false);
  });
});
