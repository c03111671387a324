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
}
