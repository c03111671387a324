/**
 * Named points where tests inject failures ("queue.send", "d1.batch", …) to prove that nothing is lost.
 * Nothing arms them in production: only code running in the same isolate (the vitest pool) can.
 */
const armed = new Map<string, number>();

export class InjectedFault extends Error {
  constructor(point: string) {
    super(`D1_ERROR: injected fault at ${point}`);
    this.name = "InjectedFault";
  }
}

export const faults = {
  /** Fail the next `times` passes through `point` (Infinity until disarmed). */
  arm(point: string, times = 1) {
    armed.set(point, times);
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
  check(point: string) {
    const remaining = armed.get(point);
    if (!remaining) return;
    if (remaining === 1) armed.delete(point);
    else armed.set(point, remaining - 1);
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
