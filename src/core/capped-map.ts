/**
 * A Map that holds at most `limit` entries: adding a new key beyond it drops the oldest one first. Every
 * cache an isolate keeps between requests is one of these — an isolate serves many requests for a long
 * time, and nothing it remembers may grow with the data it has seen.
 */
export class CappedMap<K, V> extends Map<K, V> {
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a CappedMap needs a positive integer limit, got ${limit}`);
    super();
  }

  override set(key: K, value: V): this {
    if (!this.has(key)) {
      while (this.size >= this.limit) this.delete(this.keys().next().value as K);
    }
    return super.set(key, value);
  }

  /** The value under `key`, which becomes the newest entry (the last the limit drops): a least-recently-used cache's read. */
  use(key: K): V | undefined {
    if (!this.has(key)) return undefined;
    const value = this.get(key) as V;
    this.delete(key);
    super.set(key, value);
    return value;
  }

  /** Sets `key` as the newest entry, whether or not it was there (a plain `set` keeps a held key where it was). */
  setNewest(key: K, value: V): this {
    this.delete(key);
    return this.set(key, value);
  }
}
