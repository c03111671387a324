// Random bytes, hashes and the secrets the service mints.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { base64 } from "./base64";

export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * The same digest as sha256Hex (UTF-8 of `value`, lower-case hex), computed synchronously: for the bearer
 * token, hashed on every authenticated request, without a promise and a turn of the event loop around a
 * 100-byte hash. @noble/hashes (audited, pure JavaScript) rather than node:crypto's createHash, whose
 * stream-based Hash object cost ≈ 4 % of a history page's isolate time (bench/README.md).
 */
export function sha256HexSync(value: string): string {
  return bytesToHex(sha256(utf8ToBytes(value)));
}

/** Webhook signing secrets start with this (the Standard Webhooks format). */
export const SECRET_PREFIX = "whsec_";

/** `whsec_` + base64 of 32 random bytes: the Standard Webhooks secret format (inboxes and automation rules). */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + base64(randomBytes(32));
}
