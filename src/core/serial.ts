/**
 * A queue of async work that runs one piece at a time, in call order: while a Durable Object awaits D1
 * (outside the object), other calls may start, so work that must not interleave (a commit, a round-robin
 * turn) waits here.
 * A failed piece does not stop the ones queued after it.
 */
export function serialized(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };
}
