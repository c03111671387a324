/**
 * Named points where tests inject failures ("queue.send", "d1.batch", …) to prove that nothing is lost.
 * Nothing arms them in production: only code running in the same isolate (the vitest pool) can.
 */
const armed = new Map<string, { times: number; kind: FaultKind }>();

/** `storage`: fails the way D1 does when unreachable. `bug`: a programming error (a TypeError), as a bug would. */
export type FaultKind = "storage" | "bug";

export class InjectedFault extends Error {
  constructor(point: string) {
    super(`D1_ERROR: injected fault at ${point}`);
    this.name = "InjectedFault";
  }
}

const holds = new Map<string, Promise<void>>();

/** Passes through points a test counts (only those: one entry per counted point). */
const passes = new Map<string, number>();

export const faults = {
  /** Make every pass through `point` wait until the returned function is called (to order a race). */
  hold(point: string): () => void {
    let release!: () => void;
    holds.set(point, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      holds.delete(point);
      release();
    };
  },
  async pause(point: string): Promise<void> {
    await holds.get(point);
  },
  /** Fail the next `times` passes through `point` (Infinity until disarmed). */
  arm(point: string, times = 1, kind: FaultKind = "storage") {
    armed.set(point, { times, kind });
  },
  disarm(point?: string) {
    if (point) armed.delete(point);
    else armed.clear();
  },
  /** True (once per arming) when `point` is armed: for faults that are not exceptions, like a reset. */
  take(point: string): boolean {
    try {
      this.check(point);
      return false;
    } catch {
      return true;
    }
  },
  /** Count the passes through `point` from now on (e.g. how many commits a burst of messages took). */
  count(point: string): () => number {
    passes.set(point, 0);
    return () => passes.get(point) ?? 0;
  },
  check(point: string) {
    const counted = passes.get(point);
    if (counted !== undefined) passes.set(point, counted + 1);
    const fault = armed.get(point);
    if (!fault) return;
    if (fault.times === 1) armed.delete(point);
    else armed.set(point, { ...fault, times: fault.times - 1 });
    if (fault.kind === "bug") throw new TypeError(`injected bug at ${point}: cannot read properties of undefined`);
    throw new InjectedFault(point);
  },
};

let skewMs = 0;

/**
 * The delivery machinery's clock: the real time, unless a test moves it forward to play out hours of
 * schedule or outage in seconds. Nothing moves it in production.
 */
export const clock = {
  now: () => Date.now() + skewMs,
  advance(ms: number) {
    skewMs += ms;
  },
  reset() {
    skewMs = 0;
  },
};
