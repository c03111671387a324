import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { shardEnv, shardNames } from "../../src/db/shards";

// The control database and every shard, as `npm start` and a deployment migrate them.
await applyD1Migrations(env.CONTROL, env.TEST_CONTROL_MIGRATIONS);
for (const shard of shardNames(env)) await applyD1Migrations(shardEnv(env, shard).DB, env.TEST_SHARD_MIGRATIONS);
