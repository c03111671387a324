import { and, eq, getTableColumns, isNull, sql } from "drizzle-orm";
import { compiledQuery, database, mapRow, runBatch } from "../db/client";
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
  extra: (env: Bindings, tokenHash: string) => D1PreparedStatement[] | RidingRead = () => [],
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

/**
 * A read that rides in the caller's own statement instead of a batch beside it (each statement of a batch
 * costs the local D1 ≈ 0.1 ms of CPU: bench/README.md, fourth pass): one SELECT (`sql` with its `params`,
 * ORDER BY and LIMIT allowed) whose rows follow the caller's row (UNION ALL), with `columns` named in order
 * (at least CALLER_COLUMNS of them). Its rows come back as `extra[0]`, keyed by those names.
 */
export type RidingRead = { key: string; sql: string; params: unknown[]; columns: readonly string[] };

/** The caller's row in a statement with a RidingRead: the token's columns, the called inbox (JSON), the membership. */
const CALLER_COLUMNS = 10;

async function readCaller(
  env: Bindings,
  tokenHash: string,
  inboxIdentifier: string | undefined,
  extra: D1PreparedStatement[] | RidingRead,
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
    // Compiled once per isolate (compiledQuery): every integrator request makes these reads.
    const P = sql.placeholder;
    const values = { hash: tokenHash, identifier: inboxIdentifier };
    const reads = [
      ["auth.token", () => tokenQuery(P("hash"))],
      ["auth.called-inbox", () => db.select().from(inboxes).where(and(eq(inboxes.identifier, P("identifier")), isNull(inboxes.deletedAt))).limit(1)],
      [
        "auth.membership",
        () =>
          db
            .select({ userId: inboxMembers.userId })
            .from(inboxMembers)
            .innerJoin(inboxes, eq(inboxes.id, inboxMembers.inboxId))
            .innerJoin(apiTokens, eq(apiTokens.userId, inboxMembers.userId))
            .where(and(eq(inboxes.identifier, P("identifier")), eq(apiTokens.tokenHash, P("hash"))))
            .limit(1),
      ],
    ] as const;
    const [tokenQ, inboxQ, memberQ] = reads.map(([key, build]) => compiledQuery(key, build, values));
    let tokenRows: Record<string, unknown>[], inboxRows: Record<string, unknown>[], memberRows: unknown[], rest: Record<string, unknown>[][];
    if (Array.isArray(extra)) {
      [tokenRows, inboxRows, memberRows, ...rest] = await runBatch(env, [
        ...[tokenQ!, inboxQ!, memberQ!].map((query) => env.DB.prepare(query.sql).bind(...query.params)),
        ...extra,
      ]) as [Record<string, unknown>[], Record<string, unknown>[], unknown[], ...Record<string, unknown>[][]];
    } else {
      // One statement: the same three reads as the caller's row, then the riding read's rows.
      const [header, ...rows] = (await env.DB.prepare(callerWithRead(extra, tokenQ!.sql, inboxQ!.sql, memberQ!.sql))
        .bind(...inboxQ!.params, ...memberQ!.params, ...tokenQ!.params, ...extra.params)
        .raw()) as unknown[][];
      if (!header) throw new Error("the caller's row is missing from its statement");
      tokenRows = header[0] === null ? [] : [Object.fromEntries(TOKEN_COLUMNS.map((name, i) => [name, header[i]]))];
      inboxRows = header[8] === null ? [] : [JSON.parse(header[8] as string) as Record<string, unknown>];
      memberRows = header[9] === 1 ? [header[9]] : [];
      rest = [rows.map((row) => Object.fromEntries(extra.columns.map((name, i) => [name, row[i]])))];
    }
    const token = tokenRows[0];
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
    called = { inbox: inboxRows[0] ? mapRow<typeof inboxes.$inferSelect>(inboxes, inboxRows[0]) : null, callerIsMember: memberRows.length > 0 };
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

/** The token read's columns, in the order of its SELECT (readCaller's tokenQuery). */
const TOKEN_COLUMNS = ["id", "account_id", "kind", "user_id", "inbox_id", "role", "deleted_at", "state"] as const;

/**
 * One statement: a row of the caller's three reads (the token's columns; the called inbox as a JSON object of
 * its columns; 1 when the token's user is a member), NULL-padded to the riding read's width, then that read's
 * rows (UNION ALL yields its left side first). Each read is the batch's own SQL, as a subquery.
 */
function callerWithRead(read: RidingRead, tokenSql: string, inboxSql: string, memberSql: string): string {
  // Built once per riding read (compiledQuery's capped cache, keyed by the read's call site).
  return compiledQuery(`auth.with:${read.key}`, () => {
    if (read.columns.length < CALLER_COLUMNS) throw new Error(`a riding read needs at least ${CALLER_COLUMNS} columns`);
    const inboxJson = Object.values(getTableColumns(inboxes))
      .map((column) => `'${column.name}', i."${column.name}"`)
      .join(", ");
    const padding = ", NULL".repeat(read.columns.length - CALLER_COLUMNS);
    const text =
      `select ${TOKEN_COLUMNS.map((name) => `t."${name}"`).join(", ")}, (select json_object(${inboxJson}) from (${inboxSql}) i), ` +
      `exists (${memberSql})${padding} from (select 1) left join (${tokenSql}) t on 1 ` +
      `union all select * from (${read.sql})`;
    return sql.raw(text);
  }).sql;
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
