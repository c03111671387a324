/**
 * A Map that holds at most `limit` entries: adding a new key beyond it drops the oldest one first. Every
 * cache an isolate keeps between requests is one of these — an isolate serves many requests for a long
 * time, and nothing it remembers may grow with the data it has seen. With a `budget`, the values' total
 * weight (e.g. a string's length) is capped too: the oldest entries go until the new one fits, and a value
 * heavier than the whole budget is not kept at all (nor the key's old value); there, `set` of a held key
 * makes it the newest entry, as `setNewest` does.
 */
export class CappedMap<K, V> extends Map<K, V> {
  private weight = 0;

  constructor(
    readonly limit: number,
    readonly budget?: { max: number; weigh: (value: V) => number },
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a CappedMap needs a positive integer limit, got ${limit}`);
    super();
  }

  /** The values' total weight (0 without a budget). */
  get totalWeight(): number {
    return this.weight;
  }

  override set(key: K, value: V): this {
    if (!this.budget) {
      if (!this.has(key)) {
        while (this.size >= this.limit) this.delete(this.keys().next().value as K);
      }
      return super.set(key, value);
    }
    this.delete(key);
    const weight = this.budget.weigh(value);
    if (weight > this.budget.max) return this;
    while (this.size >= this.limit || (this.size > 0 && this.weight + weight > this.budget.max)) this.delete(this.keys().next().value as K);
    this.weight += weight;
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    if (this.budget && this.has(key)) this.weight -= this.budget.weigh(this.get(key) as V);
    return super.delete(key);
  }

  override clear(): void {
    this.weight = 0;
    super.clear();
  }

  /** The value under `key`, which becomes the newest entry (the last the limit drops): a least-recently-used cache's read. */
  use(key: K): V | undefined {
    if (!this.has(key)) return undefined;
    const value = this.get(key) as V;
    this.delete(key);
    this.set(key, value);
    return value;
  }

  /** Sets `key` as the newest entry, whether or not it was there (a plain `set` keeps a held key where it was). */
  setNewest(key: K, value: V): this {
    this.delete(key);
    return this.set(key, value);
  }
}
