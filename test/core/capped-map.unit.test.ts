// CappedMap (src/core/capped-map.ts) and the isolate caches built on it (quiet realtime accounts: test/realtime/quiet.unit.test.ts): filled past their limits, each
// stops growing and keeps its newest entries.
import { describe, expect, it } from "vitest";
import { CappedMap } from "../../src/core/capped-map";
import { directoryCaches, remember } from "../../src/db/shards";
import { signPayload, signingKeyCaches } from "../../src/delivery/signing";

describe("CappedMap", () => {
  it("drops the oldest entries beyond its limit", () => {
    const map = new CappedMap<number, string>(3);
    for (let i = 0; i < 10; i++) map.set(i, `v${i}`);
    expect(map.size).toBe(3);
    expect([...map.keys()]).toEqual([7, 8, 9]);
  });

  it("replacing a key it holds drops nothing", () => {
    const map = new CappedMap<string, number>(2);
    map.set("a", 1).set("b", 2).set("a", 3);
    expect([...map.entries()]).toEqual([
      ["a", 3],
      ["b", 2],
    ]);
  });

  it("use and setNewest make a key the newest, so the limit drops the least recently used", () => {
    const map = new CappedMap<string, number>(3);
    map.set("a", 1).set("b", 2).set("c", 3);
    expect(map.use("a")).toBe(1);
    expect(map.use("missing")).toBeUndefined();
    map.setNewest("b", 20);
    map.set("d", 4);
    expect([...map.entries()]).toEqual([
      ["a", 1],
      ["b", 20],
      ["d", 4],
    ]);
  });

  it("with a budget, keeps the values' total weight under it: the oldest go first, a value heavier than it is not kept", () => {
    const map = new CappedMap<string, string>(10, { max: 10, weigh: (value) => value.length });
    map.set("a", "xxxx").set("b", "xxxx");
    expect(map.totalWeight).toBe(8);
    map.set("c", "xxx"); // 11 > 10: "a" goes
    expect([...map.keys()]).toEqual(["b", "c"]);
    expect(map.totalWeight).toBe(7);
    map.set("b", "x"); // a replaced value's weight is its new one
    expect(map.totalWeight).toBe(4);
    map.set("huge", "x".repeat(11));
    expect(map.has("huge")).toBe(false);
    expect(map.totalWeight).toBe(4);
    expect(map.use("c")).toBe("xxx");
    expect([...map.keys()]).toEqual(["b", "c"]);
    expect(map.totalWeight).toBe(4);
    map.delete("b");
    expect(map.totalWeight).toBe(3);
    map.clear();
    expect(map.totalWeight).toBe(0);
  });

  it("refuses a limit that is not a positive integer", () => {
    expect(() => new CappedMap(0)).toThrow(RangeError);
    expect(() => new CappedMap(1.5)).toThrow(RangeError);
  });
});

describe("the isolate's caches are capped", () => {
  it("the account → shard directory", () => {
    const { accounts } = directoryCaches;
    for (let i = 0; i < accounts.limit + 50; i++) remember(`acc_fill_${i}`, "SHARD_1");
    expect(accounts.size).toBe(accounts.limit);
    expect(accounts.has(`acc_fill_${accounts.limit + 49}`)).toBe(true);
    expect(accounts.has("acc_fill_0")).toBe(false);
    // The other directory caches are filled by reads of the control database; they share the limit.
    expect(directoryCaches.inboxes.limit).toBe(accounts.limit);
    expect(directoryCaches.names.limit).toBe(accounts.limit);
  });

  it("webhook signing keys", async () => {
    const { standard, chatwoot } = signingKeyCaches;
    const secret = (i: number) => `whsec_${btoa(`fill-${i}`.padEnd(24, "x"))}`;
    for (let i = 0; i < standard.limit + 5; i++) await signPayload({ secrets: [secret(i)], id: "msg_1", timestamp: 1, body: "{}" });
    expect(standard.size).toBe(standard.limit);
    expect(chatwoot.limit).toBe(standard.limit);
  });
});
