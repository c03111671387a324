import { and, eq, isNull, sql } from "drizzle-orm";
import { database, mapRow, prepareCompiled, runBatch } from "../db/client";
import { accounts, apiTokens, inboxes, inboxMembers, users, type Role } from "../db/schema";
import { checkShardVersion, defaultShard, forgetShard, shardEnv, shardOfAccount } from "../db/shards";
import type { Bindings, WorkerEnv } from "../env";
import { ApiError } from "../errors/problem";
import { notFound } from "../errors/problem";
import { base64url } from "../core/base64";
import { randomBytes, sha256Hex, sha256HexSync } from "../core/crypto";
import { newId } from "../core/ids";
import { disconnectRealtime } from "../realtime/forward";
import { requireUser } from "./users";

/** Every token starts with this, so a leaked one is recognisable (and secret scanners can match it). */
export const TOKEN_PREFIX = "edgeinbox_";

/**
 * A token names its account (the ULID of `acc_…`) before its secret: the shard that holds the token is then
 * known without a look-up per request (docs/scaling.md). Tokens minted before sharding have no account part;
 * they live in the first shard, where the one database of that time became SHARD_1.
 */
const TOKEN_SHAPE = new RegExp(`^${TOKEN_PREFIX}(?:([0-9A-Z]{26})_)?[A-Za-z0-9_-]{43}$`);

/** The account a token names, or null for a token of the old shape (or no token of ours). */
export function accountOfToken(token: string): string | null {
  const ulid = TOKEN_SHAPE.exec(token)?.[1];
  return ulid ? `acc_${ulid}` : null;
}

/** Compares two secrets in time independent of where they differ (hashing first equalises lengths). */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [left, right] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(left, right);
}

export type IssuedToken = { id: string; token: string };

/** A new token and the row that stores only its hash. The caller writes the row (alone or in a batch). */
export async function mintToken(
  owner: { accountId: string } & ({ kind: "user"; userId: string } | { kind: "inbox"; inboxId: string }),
  now = Date.now(),
): Promise<{ issued: IssuedToken; row: typeof apiTokens.$inferInsert }> {
  const token = `${TOKEN_PREFIX}${owner.accountId.replace(/^acc_/, "")}_${base64url(randomBytes(32))}`;
  const id = newId("tok", now);
  return {
    issued: { id, token },
    row: {
      id,
      accountId: owner.accountId,
      kind: owner.kind,
      userId: owner.kind === "user" ? owner.userId : null,
      inboxId: owner.kind === "inbox" ? owner.inboxId : null,
      tokenHash: await sha256Hex(token),
      createdAt: now,
    },
  };
}

export type Caller =
  | { kind: "platform" }
  | { kind: "user"; accountId: string; userId: string; role: Role; tokenId: string }
  | { kind: "inbox"; accountId: string; inboxId: string; tokenId: string };

/** The inbox an integrator URL names, read with the token (one round trip), and whether the token's user is a member. */
export type CalledInbox = { inbox: typeof inboxes.$inferSelect | null; callerIsMember: boolean };

/**
 * Who is calling, from a bearer token; null when the token is unknown, revoked or its owner is gone.
 * With `inboxIdentifier` (an integrator URL) the inbox is read in the same D1 round trip. `env` is the
 * bindings of the token's shard (the caller's work runs there); absent for the platform token or no caller.
 * `moving`: the account is in the switch of a move to another shard (writes are refused meanwhile).
 */
export async function resolveCaller(
  workerEnv: WorkerEnv,
  bearer: string,
  platformToken: string | undefined,
  inboxIdentifier?: string,
  /**
   * More reads to make in the same round trip (their rows come back as `extra`); integrator URLs only.
   * Built for the token's shard, once it is known, with the token's hash (to read only what it may see).
   */
  extra: (env: Bindings, tokenHash: string) => D1PreparedStatement[] = () => [],
): Promise<{ caller: Caller | null; called?: CalledInbox; extra?: Record<string, unknown>[][]; env?: Bindings; moving?: boolean }> {
  if (!bearer.startsWith(TOKEN_PREFIX)) {
    if (platformToken && (await secretsEqual(bearer, platformToken))) return { caller: { kind: "platform" } };
    return { caller: null };
  }
  const accountId = accountOfToken(bearer);
  // Looked up by hash: the index finds it, and the comparison never touches the secret itself.
  const tokenHash = sha256HexSync(bearer);
  // The shard from the isolate's directory cache. A stale entry (the account moved) finds the shard's copy of
  // the account marked 'moved', or no token at all once the old rows are gone: read the directory again, once.
  for (let attempt = 0; ; attempt++) {
    const shard = accountId === null ? defaultShard(workerEnv) : await shardOfAccount(workerEnv, accountId);
    if (shard === null) return { caller: null };
    const env = shardEnv(workerEnv, shard);
    await checkShardVersion(env);
    const found = await readCaller(env, tokenHash, inboxIdentifier, extra(env, tokenHash));
    if (accountId !== null && attempt === 0 && (found.state === "moved" || found.caller === null)) {
      forgetShard(accountId);
      if ((await shardOfAccount(workerEnv, accountId)) !== shard) continue;
    }
    if (found.state === "moved") throw new ApiError("account_moving", "The account has just moved to another shard. Retry the request.", { headers: { "retry-after": "1" } });
    return { caller: found.caller, called: found.called, extra: found.extra, env, moving: found.state === "frozen" };
  }
}

async function readCaller(
  env: Bindings,
  tokenHash: string,
  inboxIdentifier: string | undefined,
  extra: D1PreparedStatement[],
): Promise<{ caller: Caller | null; called?: CalledInbox; extra?: Record<string, unknown>[][]; state?: string | null }> {
  const db = database(env);
  const tokenQuery = (hash: unknown) =>
    db
      .select({
        id: apiTokens.id,
        accountId: apiTokens.accountId,
        kind: apiTokens.kind,
        userId: apiTokens.userId,
        inboxId: apiTokens.inboxId,
        role: users.role,
        inboxDeletedAt: inboxes.deletedAt,
        // The shard's copy of the account: a move's switch ('frozen') or its end ('moved', docs/scaling.md).
        state: accounts.state,
      })
      .from(apiTokens)
      .leftJoin(accounts, eq(accounts.id, apiTokens.accountId))
      .leftJoin(users, and(eq(users.id, apiTokens.userId), isNull(users.deletedAt)))
      .leftJoin(inboxes, eq(inboxes.id, apiTokens.inboxId))
      .where(and(eq(apiTokens.tokenHash, hash as string), isNull(apiTokens.revokedAt)))
      .limit(1);
  let row: Awaited<ReturnType<typeof tokenQuery>>[number] | undefined;
  let called: CalledInbox | undefined;
  let extraRows: Record<string, unknown>[][] | undefined;
  if (inboxIdentifier === undefined) {
    [row] = await tokenQuery(tokenHash);
  } else {
    // Compiled once per isolate (prepareCompiled): every integrator request makes these reads.
    const P = sql.placeholder;
    const values = { hash: tokenHash, identifier: inboxIdentifier };
    const [tokenRows, inboxRows, memberRows, ...rest] = await runBatch(env, [
      prepareCompiled(env, "auth.token", () => tokenQuery(P("hash")), values),
      prepareCompiled(
        env,
        "auth.called-inbox",
        () => db.select().from(inboxes).where(and(eq(inboxes.identifier, P("identifier")), isNull(inboxes.deletedAt))).limit(1),
        values,
      ),
      prepareCompiled(
        env,
        "auth.membership",
        () =>
          db
            .select({ userId: inboxMembers.userId })
            .from(inboxMembers)
            .innerJoin(inboxes, eq(inboxes.id, inboxMembers.inboxId))
            .innerJoin(apiTokens, eq(apiTokens.userId, inboxMembers.userId))
            .where(and(eq(inboxes.identifier, P("identifier")), eq(apiTokens.tokenHash, P("hash"))))
            .limit(1),
        values,
      ),
      ...extra,
    ]);
    const token = tokenRows![0];
    row = token && {
      id: token.id as string,
      accountId: token.account_id as string,
      kind: token.kind as "user" | "inbox",
      userId: token.user_id as string | null,
      inboxId: token.inbox_id as string | null,
      role: token.role as Role | null,
      inboxDeletedAt: token.deleted_at as number | null,
      state: token.state as (typeof accounts.$inferSelect)["state"] | null,
    };
    called = { inbox: inboxRows![0] ? mapRow<typeof inboxes.$inferSelect>(inboxes, inboxRows![0]) : null, callerIsMember: memberRows!.length > 0 };
    extraRows = rest;
  }
  if (!row) return { caller: null };
  const state = row.state;
  if (row.kind === "user") {
    if (!row.userId || !row.role) return { caller: null, state };
    return { caller: { kind: "user", accountId: row.accountId, userId: row.userId, role: row.role, tokenId: row.id }, called, extra: extraRows, state };
  }
  if (!row.inboxId || row.inboxDeletedAt !== null) return { caller: null, state };
  return { caller: { kind: "inbox", accountId: row.accountId, inboxId: row.inboxId, tokenId: row.id }, called, extra: extraRows, state };
}

export async function issueUserToken(env: Bindings, accountId: string, userId: string): Promise<IssuedToken> {
  await requireUser(env, accountId, userId);
  const { issued, row } = await mintToken({ accountId, kind: "user", userId });
  await database(env).insert(apiTokens).values(row);
  return issued;
}

/** Revokes a token of the account; owner narrows it to one user's or one inbox's tokens. */
export async function revokeToken(
  env: Bindings,
  accountId: string,
  tokenId: string,
  owner: { userId: string } | { inboxId: string },
): Promise<void> {
  const ownerCondition = "userId" in owner ? eq(apiTokens.userId, owner.userId) : eq(apiTokens.inboxId, owner.inboxId);
  const revoked = await database(env)
    .update(apiTokens)
    .set({ revokedAt: Date.now() })
    .where(and(eq(apiTokens.accountId, accountId), eq(apiTokens.id, tokenId), ownerCondition, isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.id });
  if (revoked.length === 0) throw notFound("token_not_found", "active token", tokenId);
  // Realtime streams opened with it close now, not at their next check.
  await disconnectRealtime(env, accountId, { tokenIds: [tokenId] }, "revoked");
}
