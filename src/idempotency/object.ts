import { DurableObject } from "cloudflare:workers";
import type { WorkerEnv } from "../env";

/** A response as first sent, replayed verbatim for a repeat of the same key. */
export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

export type Claim =
  /** `waited`: this request waited for a duplicate to finish, so its caller's rights must be checked again. */
  | { outcome: "proceed"; leaseId: string; waited: boolean }
  | { outcome: "replay"; response: StoredResponse; waited: boolean }
  /** The request ran, but its answer showed a credential since revoked or rotated, and was dropped. */
  | { outcome: "withdrawn"; resourceId: string | null }
  | { outcome: "mismatch" }
  | { outcome: "busy" };

type Record_ =
  | { state: "running"; fingerprint: string; leaseId: string; leaseExpiresAt: number }
  | { state: "done"; fingerprint: string; response: StoredResponse }
  | { state: "withdrawn"; fingerprint: string; resourceId: string | null };

/** Keys are kept at least this long (DESIGN: 24 h at least). */
export const RETENTION_MS = 25 * 60 * 60 * 1000;

/**
 * One object per (caller, route, Idempotency-Key). It serialises concurrent duplicates: the first caller
 * gets a lease and runs the request; the others wait here and then receive its stored response. A lease
 * that is never completed (the Worker died) expires, and the next caller runs the request again — the
 * write paths below are themselves idempotent (the conversation object dedupes by key, contacts upsert).
 */
export class IdempotencyObject extends DurableObject<WorkerEnv> {
  private waiters = new Set<() => void>();

  private read(): Record_ | undefined {
    return this.ctx.storage.kv.get<Record_>("record");
  }

  async claim(fingerprint: string, leaseMs: number, waitMs: number): Promise<Claim> {
    const deadline = Date.now() + waitMs;
    for (let waited = false; ; waited = true) {
      const record = this.read();
      const now = Date.now();
      if (record && record.fingerprint !== fingerprint) return { outcome: "mismatch" };
      if (record?.state === "done") return { outcome: "replay", response: record.response, waited };
      if (record?.state === "withdrawn") return { outcome: "withdrawn", resourceId: record.resourceId };
      if (!record || record.leaseExpiresAt <= now) {
        const leaseId = crypto.randomUUID();
        this.ctx.storage.kv.put<Record_>("record", { state: "running", fingerprint, leaseId, leaseExpiresAt: now + leaseMs });
        await this.ctx.storage.setAlarm(now + RETENTION_MS);
        return { outcome: "proceed", leaseId, waited };
      }
      const remaining = Math.min(deadline, record.leaseExpiresAt) - now;
      if (deadline <= now) return { outcome: "busy" };
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(remaining, 1));
        this.waiters.add(wake);
      });
    }
  }

  async complete(leaseId: string, response: StoredResponse): Promise<void> {
    const record = this.read();
    if (record?.state === "running" && record.leaseId === leaseId) {
      this.ctx.storage.kv.put<Record_>("record", { state: "done", fingerprint: record.fingerprint, response });
    }
    this.wakeAll();
  }

  /**
   * Forgets a stored answer whose token was revoked or secret rotated, but not that the request ran: a
   * retry with the key must not run it a second time (another inbox, another token).
   */
  async withdraw(resourceId: string | null): Promise<void> {
    const record = this.read();
    if (record?.state === "done") this.ctx.storage.kv.put<Record_>("record", { state: "withdrawn", fingerprint: record.fingerprint, resourceId });
  }

  /** The request was refused or failed (4xx, 5xx): nothing is remembered, the next duplicate runs it again. */
  async release(leaseId: string): Promise<void> {
    const record = this.read();
    if (record?.state === "running" && record.leaseId === leaseId) this.ctx.storage.kv.delete("record");
    this.wakeAll();
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  private wakeAll() {
    for (const wake of [...this.waiters]) wake();
  }
}
