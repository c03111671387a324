// Group commit across the concurrent work of one invocation (docs/delivery.md, "Shared round trips"). A
// queue consumer's batch runs up to ten deliveries at once, and each sends its own D1 batches: the lease
// on arrival, then one per outcome. A round trip costs far more than a statement in it, so the batches of
// one invocation are sent together: a batch waits until every tracked piece of work is waiting too, or
// at most SHARED_BATCH_WINDOW_MS, and one round trip carries them all. Only within one invocation:
// Workers do not share I/O between requests.
import type { Bindings } from "../env";
import { isStatementFailure } from "./client";

/** The longest a batch waits for the others of its invocation before it is sent. */
export const SHARED_BATCH_WINDOW_MS = 2;

/** At most this many statements go in one shared round trip; a caller's own batch is never split. */
export const SHARED_BATCH_MAX_STATEMENTS = 100;

type Waiting = { statements: D1PreparedStatement[]; resolve: (results: D1Result[]) => void; reject: (error: unknown) => void };

export type SharedBatches<E> = {
  /** `env` whose D1 batches share round trips; statements, `exec` and `dump` go straight through. */
  env: E;
  /**
   * Runs one piece of the invocation's concurrent work (a queue message). While pieces run, a batch
   * waits for the others until each running piece is waiting on a batch (or the window ends).
   */
  track<T>(work: () => Promise<T>): Promise<T>;
};

export function withSharedBatches<E extends Pick<Bindings, "DB">>(env: E): SharedBatches<E> {
  const shared = sharedBatches(env.DB);
  return { env: { ...env, DB: shared.db }, track: shared.track };
}

/**
 * D1 runs a batch as one transaction, so a shared batch is its callers' batches run one after the other,
 * all committed or none: what each caller asked for. Every caller gets its own statements' results. If a
 * statement fails the shared batch (a constraint, the move fence, a commit guard, an error SQLite reports
 * for a statement: rolled back, nothing written), that may be one caller's doing, so each batch is sent
 * again alone and only its own failure reaches it. Any other failure — the database's own (busy, full) or
 * on the way to it, which leaves unknown whether the batch committed — reaches every caller, as it would
 * have for its own batch. Shared batches do not wait for each other: one on its way counts its callers as
 * waiting, so the next is sent beside it.
 */
export function sharedBatches(
  db: D1Database,
  { windowMs = SHARED_BATCH_WINDOW_MS }: { windowMs?: number } = {},
): { db: D1Database; track: SharedBatches<unknown>["track"] } {
  const waiting: Waiting[] = [];
  /** Tracked pieces of work running. */
  let running = 0;
  /** Callers whose batch is on its way: they wait too. */
  let sent = 0;
  let windowOver = false;
  let window: ReturnType<typeof setTimeout> | undefined;

  const sendAlone = async (caller: Waiting) => {
    try {
      caller.resolve(await db.batch(caller.statements));
    } catch (error) {
      caller.reject(error);
    }
  };

  const sendTogether = async (callers: Waiting[]) => {
    if (callers.length === 1) return sendAlone(callers[0]!);
    const statements = callers.flatMap((caller) => caller.statements);
    let results: D1Result[];
    try {
      results = await db.batch(statements);
    } catch (error) {
      if (isStatementFailure(error)) await Promise.all(callers.map(sendAlone));
      else for (const caller of callers) caller.reject(error);
      return;
    }
    if (results.length !== statements.length) {
      const error = new Error(`D1 answered ${results.length} results for a batch of ${statements.length} statements`);
      for (const caller of callers) caller.reject(error);
      return;
    }
    let offset = 0;
    for (const caller of callers) {
      caller.resolve(results.slice(offset, offset + caller.statements.length));
      offset += caller.statements.length;
    }
  };

  /** The oldest waiting batches, up to the statement cap (at least one). */
  const takeWaiting = () => {
    let statements = 0;
    let taken = 0;
    while (taken < waiting.length && (taken === 0 || statements + waiting[taken]!.statements.length <= SHARED_BATCH_MAX_STATEMENTS)) {
      statements += waiting[taken]!.statements.length;
      taken += 1;
    }
    return waiting.splice(0, taken);
  };

  const sendWhenReady = () => {
    while (waiting.length > 0) {
      if (!windowOver && waiting.length + sent < running) {
        window ??= setTimeout(() => {
          window = undefined;
          windowOver = true;
          sendWhenReady();
        }, windowMs);
        return;
      }
      const callers = takeWaiting();
      if (waiting.length === 0) {
        clearTimeout(window);
        window = undefined;
        windowOver = false;
      }
      sent += callers.length;
      void sendTogether(callers).finally(() => {
        sent -= callers.length;
        sendWhenReady();
      });
    }
  };

  const shared: D1Database = {
    prepare: (query: string) => db.prepare(query),
    batch: <T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> => {
      if (statements.length === 0) return Promise.resolve([]);
      return new Promise<D1Result<T>[]>((resolve, reject) => {
        waiting.push({ statements, resolve: resolve as (results: D1Result[]) => void, reject });
        // After the current turn: work that starts together (a consumer's messages) is all tracked by then.
        queueMicrotask(sendWhenReady);
      });
    },
    exec: (query: string) => db.exec(query),
    dump: () => db.dump(),
    withSession: (constraintOrBookmark?: string) => db.withSession(constraintOrBookmark),
  };

  const track = async <T>(work: () => Promise<T>): Promise<T> => {
    running += 1;
    try {
      return await work();
    } finally {
      running -= 1;
      sendWhenReady();
    }
  };

  return { db: shared, track };
}
