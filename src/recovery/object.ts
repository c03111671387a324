import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env";
import { faults } from "../faults";
import { recover } from "./recover";

/** How often recovery runs. Short, so a restarted `npm start` delivers what its queue lost within a minute or two. */
export const RECOVERY_PERIOD_MS = 15_000;

/**
 * The one recovery object: its persisted alarm runs `recover` every RECOVERY_PERIOD_MS and re-arms itself.
 * A Durable Object alarm survives restarts and fires under `wrangler dev`, in tests and in a deployment; a
 * Cron Trigger fires only in a deployment. Nobody has to start it: the Worker arms it once per isolate (its
 * first request or queue batch), and the deployment's cron pokes it every minute.
 */
export class RecoveryObject extends DurableObject<Bindings> {
  /** Sets the alarm if none is set; returns when it fires. Cheap and idempotent. */
  async arm(): Promise<number> {
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
    try {
      const report = await recover(this.env);
      if (Object.values(report).some((value) => value > 0)) console.log(JSON.stringify({ level: "info", message: "recovery", ...report }));
    } catch (error) {
      console.error(JSON.stringify({ level: "error", message: "recovery failed; it runs again at the next alarm", error: String(error) }));
    }
  }
}

function recoveryStub(env: Bindings) {
  return env.RECOVERY.get(env.RECOVERY.idFromName("recovery"));
}

/** Makes sure the recovery alarm is armed (one RPC; a no-op when it already is). */
export async function armRecovery(env: Bindings): Promise<number> {
  return recoveryStub(env).arm();
}

let armedInThisIsolate = false;

/**
 * Arms recovery once per isolate, off the request's path (waitUntil): every later request pays one boolean
 * check. A failed arm is tried again by the next request.
 */
export function armRecoveryOnce(env: Bindings, ctx: { waitUntil(promise: Promise<unknown>): void }): void {
  if (armedInThisIsolate) return;
  armedInThisIsolate = true;
  ctx.waitUntil(
    armRecovery(env).catch((error) => {
      armedInThisIsolate = false;
      console.warn(JSON.stringify({ level: "warn", message: "arming recovery failed; the next request tries again", error: String(error) }));
    }),
  );
}
