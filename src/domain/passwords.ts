// Console passwords: PBKDF2-SHA256 through WebCrypto at 100,000 iterations (the most the Workers runtime
// allows), a random 16-byte salt per password, compared in constant time. The stored form names its
// parameters, so a later change of iterations can still verify old hashes.
import { base64, fromBase64 } from "../core/base64";
import { randomBytes } from "../core/crypto";

export const PBKDF2_ITERATIONS = 100_000;
export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;
const HASH_BYTES = 32;

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, HASH_BYTES * 8);
  return new Uint8Array(bits);
}

/** `pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>` */
export async function hashPassword(password: string, salt: Uint8Array = randomBytes(16), iterations = PBKDF2_ITERATIONS): Promise<string> {
  const hash = await derive(password, salt, iterations);
  return `pbkdf2-sha256$${iterations}$${base64(salt)}$${base64(hash)}`;
}

/** Equal lengths compared without an early exit: the time does not depend on where they differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** A hash to verify against when no user matched, so an unknown email costs as long as a wrong password. */
const DUMMY_HASH = `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${base64(new Uint8Array(16))}$${base64(new Uint8Array(HASH_BYTES))}`;

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = (stored ?? DUMMY_HASH).split("$");
  if (parts.length !== 4 || parts[0] !== "pbkdf2-sha256") return false;
  const iterations = Number(parts[1]);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_ITERATIONS) return false;
  const actual = await derive(password, fromBase64(parts[2]!), iterations);
  return constantTimeEqual(actual, fromBase64(parts[3]!)) && stored !== null;
}
