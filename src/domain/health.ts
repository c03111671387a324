import { shardEnv, shardNames } from "../db/shards";
import type { WorkerEnv } from "../env";

/**
 * Resolves once the control database and every shard answer a query; throws (a 503 through the error
 * handler) when one does not. A health check is the one place that asks every shard.
 */
export async function checkDatabase(env: WorkerEnv): Promise<void> {
  await Promise.all([env.CONTROL.prepare("SELECT 1").run(), ...shardNames(env).map((shard) => shardEnv(env, shard).DB.prepare("SELECT 1").run())]);
}
