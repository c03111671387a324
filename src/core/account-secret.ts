// Credentials that name their account (docs/scaling.md): `<prefix><the account id's ULID>_<32 random bytes,
// base64url>`. The account part routes the request to its shard without a look-up; only the random part is
// secret, and the whole string is what is hashed and stored.
import { base64url } from "./base64";
import { randomBytes } from "./crypto";

export function accountSecret(prefix: string, accountId: string): string {
  return `${prefix}${accountId.replace(/^acc_/, "")}_${base64url(randomBytes(32))}`;
}

/** The account a credential names, or null when it has no account part (or is not of this kind). */
export function accountOfSecret(prefix: string, secret: string): string | null {
  const ulid = new RegExp(`^${prefix}([0-9A-Z]{26})_[A-Za-z0-9_-]{43}$`).exec(secret)?.[1];
  return ulid ? `acc_${ulid}` : null;
}
