import { DurableObject } from "cloudflare:workers";
import { isNotNull } from "drizzle-orm";
import { accounts } from "../db/control/schema";
import { controlDatabase } from "../db/shards";
import type { WorkerEnv } from "../env";
import { moveStep } from "./move";

/**
 * One per moving account: its alarm runs the move's steps (./move.ts) one after another until the move is
 * done. An alarm survives restarts; a step that fails is tried again after a pause, and recovery re-arms the
 * object of every account still moving (armMoves), so a move always finishes.
 */
export class MoveObject extends DurableObject<WorkerEnv> {
  async start(accountId: string): Promise<void> {
    if (this.ctx.storage.kv.get<string>("account") !== accountId) this.ctx.storage.kv.put("account", accountId);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  override async alarm(): Promise<void> {
    const accountId = this.ctx.storage.kv.get<string>("account");
    if (!accountId) return;
    let delay: number | null;
    try {
      delay = await moveStep(this.env, accountId);
    } catch (error) {
      console.error(JSON.stringify({ level: "error", message: "move step failed; it runs again", account_id: accountId, error: String(error) }));
      delay = 2_000;
    }
    if (delay !== null) await this.ctx.storage.setAlarm(Date.now() + delay);
  }
}

export function moveObject(env: WorkerEnv, accountId: string) {
  return env.MOVES.get(env.MOVES.idFromName(accountId));
}

/** Re-arms the move of every account still moving (recovery calls it: a lost alarm never strands a move). */
export async function armMoves(env: WorkerEnv): Promise<number> {
  const moving = await controlDatabase(env).select({ id: accounts.id }).from(accounts).where(isNotNull(accounts.moveState)).limit(100);
  await Promise.all(moving.map((row) => moveObject(env, row.id).start(row.id)));
  return moving.length;
}

