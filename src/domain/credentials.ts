// Whether the tokens and webhook secrets an earlier answer showed are still in force. The idempotency
// layer asks before it replays a stored answer: a revoked token or a rotated secret is never handed out again.
import { and, eq, isNull } from "drizzle-orm";
import { database } from "../db/client";
import { automationRules, inboxes, webhookEndpoints } from "../db/schema";
import { SECRET_PREFIX } from "../core/crypto";
import type { Bindings } from "../env";
import { IDENTITY_SECRET_PREFIX } from "./identity";
import { resolveCaller, TOKEN_PREFIX } from "./tokens";

// Exactly what mintToken and newWebhookSecret produce: base64url / base64 of 32 random bytes.
const TOKEN = new RegExp(`${TOKEN_PREFIX}(?:[0-9A-Z]{26}_)?[A-Za-z0-9_-]{43}`, "g");
const SECRET = new RegExp(`${SECRET_PREFIX}[A-Za-z0-9+/]{43}=`, "g");
const IDENTITY_SECRET = new RegExp(`${IDENTITY_SECRET_PREFIX}[0-9a-f]{64}`, "g");

/** The tokens, webhook secrets and inbox identity secrets a text (a response body) contains. */
export function credentialsIn(text: string): { tokens: string[]; secrets: string[]; identitySecrets: string[] } {
  return {
    tokens: [...new Set(text.match(TOKEN) ?? [])],
    secrets: [...new Set(text.match(SECRET) ?? [])],
    identitySecrets: [...new Set(text.match(IDENTITY_SECRET) ?? [])],
  };
}

/**
 * True when every credential in `text` still works as it did when it was shown: each token is unrevoked
 * and its owner (user or inbox) still exists; each secret is the current one of a live inbox, automation
 * rule or account-level webhook endpoint of the account. A rotated secret fails at once, though it keeps signing for 24 h.
 */
export async function credentialsInForce(env: Bindings, accountId: string | null, text: string): Promise<boolean> {
  const { tokens, secrets, identitySecrets } = credentialsIn(text);
  for (const token of tokens) {
    const { caller } = await resolveCaller(env, token, undefined);
    if (!caller) return false;
  }
  if (secrets.length === 0 && identitySecrets.length === 0) return true;
  if (accountId === null) return false;
  const db = database(env);
  for (const secret of identitySecrets) {
    const current = await db
      .select({ id: inboxes.id })
      .from(inboxes)
      .where(and(eq(inboxes.accountId, accountId), eq(inboxes.identitySecret, secret), isNull(inboxes.deletedAt)))
      .limit(1);
    if (current.length === 0) return false;
  }
  for (const secret of secrets) {
    const current = await db
      .select({ id: inboxes.id })
      .from(inboxes)
      .where(and(eq(inboxes.accountId, accountId), eq(inboxes.webhookSecret, secret), isNull(inboxes.deletedAt)))
      .union(
        db
          .select({ id: automationRules.id })
          .from(automationRules)
          .where(and(eq(automationRules.accountId, accountId), eq(automationRules.webhookSecret, secret), isNull(automationRules.deletedAt))),
      )
      .union(
        db
          .select({ id: webhookEndpoints.id })
          .from(webhookEndpoints)
          .where(and(eq(webhookEndpoints.accountId, accountId), eq(webhookEndpoints.webhookSecret, secret), isNull(webhookEndpoints.deletedAt))),
      )
      .limit(1);
    if (current.length === 0) return false;
  }
  return true;
}
