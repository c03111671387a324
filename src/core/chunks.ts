/**
 * Ids per statement in bulk reads and writes: D1 binds at most 100 parameters per statement, and a
 * statement binds a few values besides the ids. Also under the queue's 100 messages per sendBatch.
 */
export const ID_CHUNK = 90;

/** `items` in slices of at most `size`, in order. */
export function chunks<T>(items: T[], size = ID_CHUNK): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}
