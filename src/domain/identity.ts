// Who a contact is, and who may say so. A contact's `identifier` links the same person across the
// inboxes of an account only when it was proven: by an `identifier_hash` (HMAC-SHA256 of the identifier
// keyed with the inbox's identity secret — Chatwoot's hmac_token) or by a user token of the account.
// Without proof an identifier is scoped to the one inbox whose integrator claimed it, so an inbox token
// can never reach another inbox's contacts by guessing or knowing an identifier. docs/contacts.md.
import { and, eq, isNull } from "drizzle-orm";
import { database } from "../db/client";
import { inboxes } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError, notFound } from "../errors/problem";
import { randomBytes } from "../core/crypto";
import type { Caller } from "./tokens";

import { ACCOUNT_SCOPE } from "../conversation/resources";

export { ACCOUNT_SCOPE };

export type IdentityInbox = { id: string; identitySecret: string | null; hmacMandatory: boolean };

/** What the request claims about the person: the identifier, and the proof if any. */
export type IdentityClaim = { identifier?: string | null; identifier_hash?: string };

/**
 * Where the claimed identifier is unique: ACCOUNT_SCOPE when it is proven, the inbox's id when it is not.
 * undefined: the request claims no identifier. Throws when a hash is wrong, or missing while the inbox
 * makes it mandatory.
 */
export async function identifierScope(
  inbox: IdentityInbox,
  caller: Exclude<Caller, { kind: "platform" }>,
  claim: IdentityClaim,
): Promise<string | undefined> {
  const identifier = claim.identifier;
  if (claim.identifier_hash !== undefined && (identifier === undefined || identifier === null)) {
    throw new ApiError("validation_failed", "identifier_hash proves an identifier: send it together with identifier.", {
      errors: [{ location: "body", pointer: "/identifier_hash", detail: "only allowed together with identifier" }],
    });
  }
  if (identifier === undefined || identifier === null) return undefined;
  if (claim.identifier_hash !== undefined) {
    if (!(await identifierHashValid(inbox.identitySecret, identifier, claim.identifier_hash))) {
      throw new ApiError(
        "identifier_hash_invalid",
        "identifier_hash is not the HMAC-SHA256 (hex) of the identifier keyed with this inbox's identity secret (GET …/inboxes/{inbox_id}/identity).",
      );
    }
    return ACCOUNT_SCOPE;
  }
  // A user of the account is trusted with the account's contacts already.
  if (caller.kind === "user") return ACCOUNT_SCOPE;
  if (inbox.hmacMandatory) {
    throw new ApiError(
      "identifier_hash_required",
      "This inbox requires identity verification: send identifier_hash, the HMAC-SHA256 (hex) of the identifier keyed with the inbox's identity secret.",
    );
  }
  return inbox.id;
}

/** HMAC-SHA256(secret, identifier) as lowercase hex: what an integrator sends as identifier_hash. */
export async function identifierHash(secret: string, identifier: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(identifier));
  return [...new Uint8Array(mac)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function identifierHashValid(secret: string | null, identifier: string, hash: string): Promise<boolean> {
  if (secret === null) return false;
  const expected = new TextEncoder().encode(await identifierHash(secret, identifier));
  const given = new TextEncoder().encode(hash.toLowerCase());
  return expected.byteLength === given.byteLength && crypto.subtle.timingSafeEqual(expected, given);
}

export type InboxIdentity = { hmac_mandatory: boolean; identity_secret: string };

/** Recognisable (secret scanners, the idempotency layer's credential check): `idsec_` + 64 hex characters. */
export const IDENTITY_SECRET_PREFIX = "idsec_";

export function newIdentitySecret(): string {
  return IDENTITY_SECRET_PREFIX + [...randomBytes(32)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

const liveInbox = (accountId: string, inboxId: string) =>
  and(eq(inboxes.accountId, accountId), eq(inboxes.id, inboxId), isNull(inboxes.deletedAt));

/** The inbox's identity settings. */
export async function getInboxIdentity(env: Bindings, accountId: string, inboxId: string): Promise<InboxIdentity> {
  const row = await database(env)
    .select({ identitySecret: inboxes.identitySecret, hmacMandatory: inboxes.hmacMandatory })
    .from(inboxes)
    .where(liveInbox(accountId, inboxId))
    .get();
  if (!row) throw notFound("inbox_not_found", "inbox", inboxId);
  return { hmac_mandatory: row.hmacMandatory, identity_secret: row.identitySecret! };
}

/** Turns mandatory verification on or off, and/or replaces the secret (hashes made with the old one stop working at once). */
export async function updateInboxIdentity(
  env: Bindings,
  accountId: string,
  inboxId: string,
  change: { hmac_mandatory?: boolean; rotate?: boolean },
): Promise<InboxIdentity> {
  const [row] = await database(env)
    .update(inboxes)
    .set({
      ...(change.rotate ? { identitySecret: newIdentitySecret() } : {}),
      ...(change.hmac_mandatory === undefined ? {} : { hmacMandatory: change.hmac_mandatory }),
      updatedAt: Date.now(),
    })
    .where(liveInbox(accountId, inboxId))
    .returning({ identitySecret: inboxes.identitySecret, hmacMandatory: inboxes.hmacMandatory });
  if (!row) throw notFound("inbox_not_found", "inbox", inboxId);
  return { hmac_mandatory: row.hmacMandatory, identity_secret: row.identitySecret! };
}
