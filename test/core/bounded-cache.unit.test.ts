import { describe, expect, it } from "vitest";
import { BoundedCache } from "../../src/core/bounded-cache";

describe("BoundedCache", () => {
  it("forgets an entry once its time to live has passed", () => {
    let now = 1_000;
    const cache = new BoundedCache<string>({ ttlMs: 1000, maxEntries: 10, now: () => now });
    cache.set("a", "caller");
    now += 999;
    expect(cache.get("a")).toBe("caller");
    now += 1;
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("never holds more than maxEntries: filling it evicts the oldest first", () => {
    const cache = new BoundedCache<number>({ ttlMs: 60_000, maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) cache.set(`key-${i}`, i);
    expect(cache.size).toBe(100);
    expect(cache.get("key-9899")).toBeUndefined();
    expect(cache.get("key-9900")).toBe(9900);
    expect(cache.get("key-9999")).toBe(9999);
  });

  it("setting a key again refreshes it rather than adding a second entry", () => {
    let now = 0;
    const cache = new BoundedCache<number>({ ttlMs: 100, maxEntries: 2, now: () => now });
    cache.set("a", 1);
    cache.set("b", 2);
    now = 50;
    cache.set("a", 3);
    cache.set("c", 4); // evicts b, the oldest now
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(3);
    now = 149;
    expect(cache.get("a")).toBe(3);
  });

  it("forget drops what matches, or everything", () => {
    const cache = new BoundedCache<{ account: string }>({ ttlMs: 1000, maxEntries: 10 });
    cache.set("1", { account: "a" });
    cache.set("2", { account: "b" });
    cache.forget((value) => value.account === "a");
    expect(cache.get("1")).toBeUndefined();
    expect(cache.get("2")).toEqual({ account: "b" });
    cache.forget();
    expect(cache.size).toBe(0);
  });
});
