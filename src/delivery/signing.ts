// Standard Webhooks signatures (https://www.standardwebhooks.com): `v1,<base64 HMAC-SHA256 of
// "id.timestamp.body">`, one per active secret, space-separated. WebCrypto, not the standardwebhooks
// library: it is asynchronous and several times cheaper per signature; the tests verify our output with
// the library, so the two are checked against each other.
import type { inboxes } from "../db/schema";
import { base64, fromBase64 } from "../core/base64";
import { SECRET_PREFIX } from "../core/crypto";
import { CappedMap } from "../core/capped-map";

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
const keys = new CappedMap<string, Promise<CryptoKey>>(1000);

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
    const raw = fromBase64(encoded);
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
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

/**
 * Chatwoot's signature (lib/webhooks/trigger.rb): `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`, keyed with
 * the secret string itself (its UTF-8 bytes, `whsec_` prefix included), as Chatwoot keys with its webhook's
 * secret. One signature, by the current secret: Chatwoot's verifiers compare one value.
 */
export async function chatwootSignature(secret: string, timestamp: number, body: string): Promise<string> {
  let key = chatwootKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    chatwootKeys.set(secret, key);
    key.catch(() => chatwootKeys.delete(secret));
  }
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await key, new TextEncoder().encode(`${timestamp}.${body}`)));
  return `sha256=${[...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

const chatwootKeys = new CappedMap<string, Promise<CryptoKey>>(keys.limit);

/** The key caches, for the test that fills them. */
export const signingKeyCaches = { standard: keys, chatwoot: chatwootKeys };

export type SignatureScheme = "standard" | "chatwoot" | "both";

/**
 * The headers of one request under the endpoint's scheme: Standard Webhooks' (webhook-id, -timestamp,
 * -signature), Chatwoot's (X-Chatwoot-Signature, X-Chatwoot-Timestamp, X-Chatwoot-Delivery = the event id,
 * stable across retries like webhook-id), or both.
 */
export async function signedHeaders(scheme: SignatureScheme, input: SignatureInput): Promise<Record<string, string>> {
  const standard: Record<string, string> = scheme === "chatwoot" ? {} : await webhookHeaders(input);
  const chatwoot: Record<string, string> =
    scheme === "standard"
      ? {}
      : {
          "x-chatwoot-signature": await chatwootSignature(input.secrets[0]!, input.timestamp, input.body),
          "x-chatwoot-timestamp": String(input.timestamp),
          "x-chatwoot-delivery": input.id,
        };
  return { "content-type": "application/json", "user-agent": WEBHOOK_USER_AGENT, ...standard, ...chatwoot };
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
