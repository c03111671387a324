// data_urls: GET /v1/attachments/{id}?expires=…&signature=…, where signature is an HMAC-SHA-256 of
// "{id}.{expires}" under ATTACHMENT_SIGNING_SECRET. Anyone holding the link may fetch the file until it
// expires; nobody can make one for another id or a later time without the secret.
import { base64url, fromBase64url } from "../core/base64";
import { CappedMap } from "../core/capped-map";

// One signing secret per deployment (two while it rotates): the cap only guards against surprises.
const keys = new CappedMap<string, Promise<CryptoKey>>(16);

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keys.set(secret, key);
  }
  return key;
}

const signed = (id: string, expires: number) => new TextEncoder().encode(`${id}.${expires}`);

/**
 * The signed download URL of an attachment, valid until `expires` (seconds since the epoch). `shard` names
 * the shard that holds its row (routing, not authority: another shard simply has no such attachment).
 */
export async function signedUrl(secret: string, baseUrl: string, id: string, expires: number, shard: string): Promise<string> {
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), signed(id, expires));
  return `${baseUrl}/v1/attachments/${encodeURIComponent(id)}?expires=${expires}&signature=${base64url(signature)}&shard=${encodeURIComponent(shard)}`;
}

/** Whether the link's signature is ours and it has not expired (compared in constant time by WebCrypto). */
export async function verifySignature(secret: string, id: string, expires: number, signature: string, nowSeconds: number): Promise<"valid" | "expired" | "invalid"> {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(signature);
  } catch {
    return "invalid";
  }
  if (bytes.length !== 32) return "invalid";
  const ok = await crypto.subtle.verify("HMAC", await hmacKey(secret), bytes, signed(id, expires));
  if (!ok) return "invalid";
  return expires < nowSeconds ? "expired" : "valid";
}
