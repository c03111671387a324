import { DurableObject } from "cloudflare:workers";
import { defaultShard, shardEnv } from "../db/shards";
import type { Bindings, WorkerEnv } from "../env";
import { eraseStep } from "./steps";

/** Rows per table per step: bounds the work (and the D1 transaction) of one invocation. */
export function erasureStepRows(env: WorkerEnv): number {
  const rows = Number(env.ERASURE_STEP_ROWS);
  return Number.isInteger(rows) && rows > 0 ? rows : 500;
}

/**
 * Finishes an erasure in the background, one bounded step per alarm, until nothing in its reach is
 * left. One object per erasure. An alarm survives restarts and is retried when it throws, so a started
 * erasure always completes; its progress is on the contact_erasures row.
 */
export class ErasureObject extends DurableObject<WorkerEnv> {
  /** Starts (or keeps) the background run of an erasure, on the account's shard. */
  async start(erasureId: string, shard?: string): Promise<void> {
    this.ctx.storage.kv.put("erasure", erasureId);
    if (shard !== undefined) this.ctx.storage.kv.put("shard", shard);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  override async alarm(): Promise<void> {
    const erasureId = this.ctx.storage.kv.get<string>("erasure");
    if (!erasureId) return;
    const env = shardEnv(this.env, this.ctx.storage.kv.get<string>("shard") ?? defaultShard(this.env));
    const done = await eraseStep(env, erasureId, erasureStepRows(env));
    if (done) {
      this.ctx.storage.kv.delete("erasure");
      console.log(JSON.stringify({ level: "info", kind: "audit", action: "contact_erasure_completed", erasure_id: erasureId }));
    } else {
      await this.ctx.storage.setAlarm(Date.now());
    }
  }
}

/** The erasure's object; `start` it with the account's shard (`env.SHARD`). */
export function erasureObject(env: Bindings, erasureId: string) {
  return env.ERASURES.get(env.ERASURES.idFromName(erasureId));
}
