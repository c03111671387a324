// Random bytes, hashes and the secrets the service mints.
import { createHash } from "node:crypto";
import { base64 } from "./base64";

export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * The same digest as sha256Hex (UTF-8 of `value`, lower-case hex), computed synchronously (node:crypto,
 * nodejs_compat): for the bearer token, hashed on every authenticated request, without a promise and a
 * turn of the event loop around a 100-byte hash.
 */
export function sha256HexSync(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Webhook signing secrets start with this (the Standard Webhooks format). */
export const SECRET_PREFIX = "whsec_";

/** `whsec_` + base64 of 32 random bytes: the Standard Webhooks secret format (inboxes and automation rules). */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + base64(randomBytes(32));
}
