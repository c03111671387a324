// Standard Webhooks signatures (https://www.standardwebhooks.com): `v1,<base64 HMAC-SHA256 of
// "id.timestamp.body">`, one per active secret, space-separated. WebCrypto, not the standardwebhooks
// library: it is asynchronous and several times cheaper per signature; the tests verify our output with
// the library, so the two are checked against each other.
import type { inboxes } from "../db/schema";
import { base64, fromBase64 } from "../core/base64";
import { SECRET_PREFIX } from "../core/crypto";

export const WEBHOOK_USER_AGENT = "edge-inbox-webhooks/1";

export type SignatureInput = {
  /** Active secrets (`whsec_…`), newest first. */
  secrets: string[];
  /** The webhook-id: the event id, stable across retries. */
  id: string;
  /** Unix seconds. */
  timestamp: number;
  /** The exact bytes sent, as a string. */
  body: string;
};

// Importing a key costs more than the HMAC itself; an isolate signs for few inboxes, so keep their keys.
// Bounded so a long-lived isolate that has seen many inboxes does not grow without limit.
const KEY_CACHE_LIMIT = 1000;
const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
    const raw = fromBase64(encoded);
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    if (keys.size >= KEY_CACHE_LIMIT) keys.delete(keys.keys().next().value!);
    keys.set(secret, key);
    // A failed import must not stay cached.
    key.catch(() => keys.delete(secret));
  }
  return key;
}

/** The `webhook-signature` header value: `v1,<sig>` per secret, space-separated. */
export async function signPayload({ secrets, id, timestamp, body }: SignatureInput): Promise<string> {
  const message = new TextEncoder().encode(`${id}.${timestamp}.${body}`);
  const signatures = await Promise.all(
    secrets.map(async (secret) => `v1,${base64(await crypto.subtle.sign("HMAC", await hmacKey(secret), message))}`),
  );
  return signatures.join(" ");
}

/** Every header a webhook request carries. */
export async function webhookHeaders(input: SignatureInput): Promise<Record<string, string>> {
  return {
    "content-type": "application/json",
    "webhook-id": input.id,
    "webhook-timestamp": String(input.timestamp),
    "webhook-signature": await signPayload(input),
    "user-agent": WEBHOOK_USER_AGENT,
  };
}

type SecretColumns = Pick<typeof inboxes.$inferSelect, "webhookSecret" | "previousWebhookSecret" | "previousSecretExpiresAt">;

/** The secrets that sign at `now` (ms): the current one, plus the previous one during its 24 h grace. */
export function activeSecrets(inbox: SecretColumns, now: number): string[] {
  const secrets = [inbox.webhookSecret];
  if (inbox.previousWebhookSecret && inbox.previousSecretExpiresAt !== null && inbox.previousSecretExpiresAt > now) {
    secrets.push(inbox.previousWebhookSecret);
  }
  return secrets;
}
