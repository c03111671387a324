import { DurableObject } from "cloudflare:workers";
import { shardEnv, shardNames } from "../db/shards";
import type { WorkerEnv } from "../env";
import { faults } from "../faults";
import { armMoves } from "../moves/object";
import { recover } from "./recover";

/** How often recovery runs. Short, so a restarted `npm start` delivers what its queue lost within a minute or two. */
export const RECOVERY_PERIOD_MS = 15_000;

/**
 * The one recovery object: its persisted alarm runs `recover` every RECOVERY_PERIOD_MS and re-arms itself.
 * A Durable Object alarm survives restarts and fires under `wrangler dev`, in tests and in a deployment; a
 * Cron Trigger fires only in a deployment. Nobody has to start it: the Worker arms it once per isolate (its
 * first request or queue batch), and the deployment's cron pokes it every minute.
 */
export class RecoveryObject extends DurableObject<WorkerEnv> {
  /**
   * Sets the alarm if none is set; returns when it fires. Cheap and idempotent. There is one object per
   * shard (named after it): each recovers its own shard's rows, so recovery scales with the shards.
   */
  async arm(shard: string): Promise<number> {
    if (this.ctx.storage.kv.get<string>("shard") !== shard) this.ctx.storage.kv.put("shard", shard);
    const at = await this.ctx.storage.getAlarm();
    if (at !== null) return at;
    const next = Date.now() + 1_000;
    await this.ctx.storage.setAlarm(next);
    return next;
  }

  override async alarm(): Promise<void> {
    // Re-arm first: a sweep that throws (D1 down) or an isolate that dies mid-sweep must not end recovery,
    // and an alarm handler's own retries are limited.
    await this.ctx.storage.setAlarm(Date.now() + RECOVERY_PERIOD_MS);
    // Tests that play the delivery machinery out on a simulated queue and clock over rows they wrote into
    // the real D1 pause the real recovery, which would otherwise deliver those rows itself (src/faults.ts).
    if (faults.take("recovery.paused")) return;
    const shard = this.ctx.storage.kv.get<string>("shard");
    if (shard === undefined) return;
    try {
      const report = await recover(shardEnv(this.env, shard));
      // Moves are the control database's: the first shard's recovery keeps them going.
      if (shard === shardNames(this.env)[0]) await armMoves(this.env);
      if (Object.values(report).some((value) => value > 0)) console.log(JSON.stringify({ level: "info", message: "recovery", shard, ...report }));
    } catch (error) {
      console.error(JSON.stringify({ level: "error", message: "recovery failed; it runs again at the next alarm", error: String(error) }));
    }
  }
}

/** The recovery object of a shard. */
export function recoveryStub(env: WorkerEnv, shard: string) {
  return env.RECOVERY.get(env.RECOVERY.idFromName(`recovery:${shard}`));
}

/** Makes sure every shard's recovery alarm is armed (one RPC each; a no-op when it already is). */
export async function armRecovery(env: WorkerEnv): Promise<number[]> {
  return Promise.all(shardNames(env).map((shard) => recoveryStub(env, shard).arm(shard)));
}

let armedInThisIsolate = false;

/**
 * Arms recovery once per isolate, off the request's path (waitUntil): every later request pays one boolean
 * check. A failed arm is tried again by the next request.
 */
export function armRecoveryOnce(env: WorkerEnv, ctx: { waitUntil(promise: Promise<unknown>): void }): void {
  if (armedInThisIsolate) return;
  armedInThisIsolate = true;
  ctx.waitUntil(
    armRecovery(env).catch((error) => {
      armedInThisIsolate = false;
      console.warn(JSON.stringify({ level: "warn", message: "arming recovery failed; the next request tries again", error: String(error) }));
    }),
  );
}
