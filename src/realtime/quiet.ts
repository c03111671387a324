/**
 * How long an isolate skips an account's realtime nudges after its object answered "nobody listens"
 * (forward.ts); the object pumps once more this long (plus a margin) after each connect (object.ts).
 */
export const QUIET_MS = 1000;
