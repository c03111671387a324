// Which shard a request's work runs on (docs/scaling.md), for the HTTP edge: http/ never reaches src/db itself.
import { accountOfInbox, checkShardVersion, defaultShard, isShard, shardEnv, shardOfAccount } from "../db/shards";
import type { Bindings, WorkerEnv } from "../env";

/**
 * The shard of a request that carries no token of ours: its URL names the account (`/v1/accounts/{id}/…`)
 * or a public inbox identifier (`/v1/inboxes/{identifier}/…`, looked up once per isolate). A URL that names
 * nothing known is served by the first shard, where whatever it names is not found (a plain 404). An
 * attachment's data_url names its shard (`shard`).
 */
export async function shardForPath(env: WorkerEnv, path: string, query: (name: string) => string | undefined): Promise<Bindings> {
  const named = path.startsWith("/v1/attachments/") ? query("shard") : undefined;
  if (named !== undefined && isShard(env, named)) return checked(shardEnv(env, named));
  const account = /^\/v1\/accounts\/(acc_[0-9A-Z]{26})(?:\/|$)/.exec(path)?.[1];
  const identifier = account === undefined ? /^\/v1\/inboxes\/([^/]+)\//.exec(path)?.[1] : undefined;
  const accountId = account ?? (identifier === undefined ? null : await accountOfInbox(env, safeDecode(identifier)));
  const shard = accountId === null ? null : await shardOfAccount(env, accountId);
  return checked(shardEnv(env, shard ?? defaultShard(env)));
}

/** The bindings of the shard of the account that owns a public inbox identifier. */
export async function shardForInbox(env: WorkerEnv, identifier: string): Promise<Bindings> {
  return shardForAccount(env, await accountOfInbox(env, identifier));
}

/** The bindings of an account's shard (the first shard for an unknown account, where nothing is found). */
export async function shardForAccount(env: WorkerEnv, accountId: string | null): Promise<Bindings> {
  const shard = accountId === null ? null : await shardOfAccount(env, accountId);
  return checked(shardEnv(env, shard ?? defaultShard(env)));
}

async function checked(routed: Bindings): Promise<Bindings> {
  await checkShardVersion(routed);
  return routed;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The bindings of a shard named by work remembered from an earlier request (the one-call message's isolate cache). */
export function shardNamed(env: WorkerEnv, shard: string): Bindings {
  return shardEnv(env, shard);
}
