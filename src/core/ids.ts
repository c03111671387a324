// Public ids are a type prefix and a ULID: time-ordered (so listings and cursors follow creation order)
// with 80 random bits (never sequential, never guessable).
import { base64url } from "./base64";
import { randomBytes } from "./crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export type IdPrefix = "acc" | "usr" | "tok" | "inb" | "ct" | "ci" | "cnv" | "msg" | "evt" | "whd" | "att" | "rule" | "run" | "rpl" | "era" | "whe" | "ses";

function ulid(now = Date.now()): string {
  let time = "";
  let remaining = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[remaining % 32] + time;
    remaining = Math.floor(remaining / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (let i = 0; i < 16; i++) tail += CROCKFORD[random[i]! % 32];
  return time + tail;
}

export function newId(prefix: IdPrefix, now?: number): string {
  return `${prefix}_${ulid(now)}`;
}

/** The public inbox identifier: 24 URL-safe characters from 18 random bytes (144 bits). */
export function newInboxIdentifier(): string {
  return base64url(randomBytes(18));
}
