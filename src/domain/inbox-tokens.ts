// Inbox tokens: each one can use the integrator API of its inbox and nothing else.
import { apiTokens } from "../db/schema";
import { database } from "../db/client";
import type { Bindings } from "../env";
import { requireInbox } from "./inboxes";
import { mintToken, revokeToken, type IssuedToken } from "./tokens";

/** A token that can use the integrator API of this one inbox and nothing else. */
export async function createInboxToken(env: Bindings, accountId: string, inboxId: string): Promise<IssuedToken> {
  await requireInbox(env, accountId, inboxId);
  const { issued, row } = await mintToken({ accountId, kind: "inbox", inboxId });
  await database(env).insert(apiTokens).values(row);
  return issued;
}

export async function revokeInboxToken(env: Bindings, accountId: string, inboxId: string, tokenId: string): Promise<void> {
  await requireInbox(env, accountId, inboxId);
  await revokeToken(env, accountId, tokenId, { inboxId });
}
