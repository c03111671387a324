// A small in-isolate cache with a time to live and a hard cap on entries. Used where a request may act
// on a decision up to `ttlMs` old (a token's caller, src/domain/tokens.ts): the bound is the TTL, and
// memory stays bounded by `maxEntries` whatever the traffic.

export class BoundedCache<V> {
  /** Insertion order = age: the first entry is the oldest, evicted first when the cache is full. */
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    private readonly options: { ttlMs: number; maxEntries: number; now?: () => number },
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    while (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expiresAt: this.now() + this.options.ttlMs });
  }

  /** Drops every entry `matches` selects (all of them without a predicate). */
  forget(matches?: (value: V, key: string) => boolean): void {
    if (!matches) return this.entries.clear();
    for (const [key, entry] of this.entries) if (matches(entry.value, key)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
