import { DurableObject } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { accounts } from "../db/control/schema";
import { controlDatabase } from "../db/shards";
import type { WorkerEnv } from "../env";
import { refill, type Bucket, type Decision, type Policy } from "./bucket";
import { isolateLeases, takeWithLease } from "./lease";

/** Requests per minute, as stored in accounts.rate_limits and shown by GET /v1/accounts/{id}. */
export type RateLimits = { per_token: number; per_inbox: number };

export type TakeRequest = {
  /** null for the platform token. */
  accountId: string | null;
  /** The token's id (never the token itself). */
  token: string;
  /** The inbox identifier of an integrator route, when the request has one. */
  inbox?: string;
  /** The deployment's defaults (Worker variables), overridden by the account's own limits. */
  defaults: RateLimits;
  /** What the isolate gives back of its previous leases, per key in order (token, then inbox). */
  returned?: number[];
  /** Whether to grant a lease with an allowed decision (false: this request only). */
  lease?: boolean;
};

/** The decision, and how many further requests of every key the isolate may admit itself (./lease.ts). */
export type TakeResult = { decision: Decision; granted: number };

export const WINDOW_SECONDS = 60;
/** An account's own limits are re-read at least this often (PATCH also tells the object at once). */
const OVERRIDES_TTL_MS = 60_000;
/** Beyond this many buckets, full ones (which carry no information) are dropped. */
const SWEEP_THRESHOLD = 10_000;

/** Only positive integers count; anything else in the column falls back to the default. */
export function parseOverrides(stored: unknown): Partial<RateLimits> {
  const result: Partial<RateLimits> = {};
  if (typeof stored !== "object" || stored === null) return result;
  for (const name of ["per_token", "per_inbox"] as const) {
    const value = (stored as Record<string, unknown>)[name];
    if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) result[name] = value;
  }
  return result;
}

/**
 * The token buckets of one account (or of the platform token): one object per account makes the
 * account's limits one read and each decision one round trip — which isolates make only every so often,
 * admitting the requests in between from a lease (./lease.ts). Buckets live in memory: if the object is
 * evicted, its clients simply start again with full buckets.
 */
export class RateLimitObject extends DurableObject<WorkerEnv> {
  private buckets = new Map<string, Bucket>();
  private overrides?: { value: Partial<RateLimits>; loadedAt: number };

  async take(request: TakeRequest): Promise<TakeResult> {
    const limits = { ...request.defaults, ...(await this.accountOverrides(request.accountId)) };
    const entries: { key: string; policy: Policy }[] = [
      { key: `token:${request.token}`, policy: { name: "per_token", limit: limits.per_token, windowSeconds: WINDOW_SECONDS } },
    ];
    if (request.inbox !== undefined) {
      entries.push({
        key: `inbox:${request.inbox}`,
        policy: { name: "per_inbox", limit: limits.per_inbox, windowSeconds: WINDOW_SECONDS },
      });
    }
    // From here on nothing awaits, so concurrent requests cannot interleave between read and write.
    const now = Date.now();
    const { buckets, decision, granted } = takeWithLease(
      entries.map(({ key, policy }, i) => ({ policy, bucket: this.buckets.get(key), returned: request.returned?.[i] ?? 0 })),
      now,
      request.lease ?? false,
    );
    entries.forEach(({ key }, i) => this.buckets.set(key, buckets[i]!));
    if (this.buckets.size > SWEEP_THRESHOLD) this.sweep(now, limits);
    return { decision, granted };
  }

  /**
   * The operator changed the account's limits: read them again, and start every bucket full at the new
   * limit (raising a limit to unblock a customer should work at once).
   */
  async limitsChanged(): Promise<void> {
    this.overrides = undefined;
    this.buckets.clear();
  }

  private async accountOverrides(accountId: string | null): Promise<Partial<RateLimits>> {
    if (accountId === null) return {};
    if (this.overrides && Date.now() - this.overrides.loadedAt < OVERRIDES_TTL_MS) return this.overrides.value;
    const row = await controlDatabase(this.env)
      .select({ rateLimits: accounts.rateLimits })
      .from(accounts)
      .where(eq(accounts.id, accountId))
      .get();
    this.overrides = { value: parseOverrides(row?.rateLimits), loadedAt: Date.now() };
    return this.overrides.value;
  }

  private sweep(now: number, limits: RateLimits) {
    for (const [key, bucket] of this.buckets) {
      const limit = key.startsWith("inbox:") ? limits.per_inbox : limits.per_token;
      if (refill(bucket, { name: "per_token", limit, windowSeconds: WINDOW_SECONDS }, now).tokens >= limit) this.buckets.delete(key);
    }
  }
}

/** The rate-limit object of an account (or "platform"). */
export function rateLimiter(env: WorkerEnv, scope: string) {
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(scope));
}

/**
 * The account's limits changed: its object re-reads them and starts every bucket full, and this isolate's
 * leases of the account end at once (other isolates' within LEASE_MS: ./lease.ts).
 */
export async function limitsChanged(env: WorkerEnv, accountId: string): Promise<void> {
  isolateLeases.forget(accountId);
  await rateLimiter(env, accountId).limitsChanged();
}
