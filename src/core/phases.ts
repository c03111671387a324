// Where a request's server time goes, for `node bench/profile.mjs` only. Product code marks its phases
// (authenticate, rate limit, parse and validate…); without a recorder — always, except in the profile's
// entry (bench/profile/entry.ts) — every mark is one `undefined` check and nothing else.

/** What `enter` returned; handed back to `leave` (frames may end out of order when work overlaps). */
export type PhaseFrame = object;

export type PhaseRecorder = {
  enter(phase: string): PhaseFrame;
  leave(frame: PhaseFrame): void;
};

let recorder: PhaseRecorder | undefined;

/** Installs (or removes) the recorder: the profile's entry does, nothing else. */
export function setPhaseRecorder(next: PhaseRecorder | undefined): void {
  recorder = next;
}

export function enterPhase(phase: string): PhaseFrame | undefined {
  return recorder?.enter(phase);
}

export function leavePhase(frame: PhaseFrame | undefined): void {
  if (frame !== undefined) recorder?.leave(frame);
}

/** Runs `work` as `phase` (its own time; phases entered inside it count for themselves). */
export async function inPhase<T>(phase: string, work: () => Promise<T>): Promise<T> {
  if (!recorder) return work();
  const frame = recorder.enter(phase);
  try {
    return await work();
  } finally {
    recorder.leave(frame);
  }
}
