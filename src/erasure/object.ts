import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env";
import { eraseStep } from "./steps";

/** Rows per table per step: bounds the work (and the D1 transaction) of one invocation. */
export function erasureStepRows(env: Bindings): number {
  const rows = Number(env.ERASURE_STEP_ROWS);
  return Number.isInteger(rows) && rows > 0 ? rows : 500;
}

/**
 * Finishes an erasure in the background, one bounded step per alarm, until nothing in its reach is
 * left. One object per erasure. An alarm survives restarts and is retried when it throws, so a started
 * erasure always completes; its progress is on the contact_erasures row.
 */
export class ErasureObject extends DurableObject<Bindings> {
  /** Starts (or keeps) the background run of an erasure. */
  async start(erasureId: string): Promise<void> {
    this.ctx.storage.kv.put("erasure", erasureId);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  override async alarm(): Promise<void> {
    const erasureId = this.ctx.storage.kv.get<string>("erasure");
    if (!erasureId) return;
    const done = await eraseStep(this.env, erasureId, erasureStepRows(this.env));
    if (done) {
      this.ctx.storage.kv.delete("erasure");
      console.log(JSON.stringify({ level: "info", kind: "audit", action: "contact_erasure_completed", erasure_id: erasureId }));
    } else {
      await this.ctx.storage.setAlarm(Date.now());
    }
  }
}

export function erasureObject(env: Bindings, erasureId: string) {
  return env.ERASURES.get(env.ERASURES.idFromName(erasureId));
}
