// Rate limits decided in the isolate: the account's limiter object (./object.ts) hands an isolate a small
// lease of requests together with a decision, and the isolate answers the next requests of that token
// (and inbox) from the lease without a Durable Object call. Pure functions and a bounded map, tested in
// Node (test/rate-limit/lease.unit.test.ts).
//
// The bound (docs/rate-limits.md): every request an isolate admits from a lease was taken out of the
// object's bucket when the lease was granted, so N isolates together never admit more than the bucket
// does. Unused requests go back to the bucket with the isolate's next call (or are lost when it never
// calls again: at most one lease, one second of refill). What becomes eventually consistent:
//   - a lease lives LEASE_MS: after a PATCH of the account's limits, or when the object restarts with
//     full buckets, isolates may still admit what they hold — at most N × one lease (≤ LEASE_MAX) more;
//   - requests leased to one isolate are not available to another for up to LEASE_MS (early 429s, never
//     late ones); the RateLimit header's `r` counts this isolate's lease, not refill since the grant.
import { refill, take, type Bucket, type Decision, type Policy, type PolicyState } from "./bucket";

/** How long an isolate may spend a lease. */
export const LEASE_MS = 1000;
/** The most requests one lease holds, whatever the limit. */
export const LEASE_MAX = 100;
/** Leases an isolate keeps (token and inbox keys of every account it serves); the oldest go first. */
export const LEASE_ENTRIES = 5000;

/** Requests a lease holds for a policy: what the bucket refills in LEASE_MS. Below 60/min: none, every request asks the object. */
export function leaseSize(policy: Policy): number {
  return Math.min(LEASE_MAX, Math.floor((policy.limit * LEASE_MS) / (policy.windowSeconds * 1000)));
}

/**
 * The object's side: gives back what the isolate returns, takes this request from every bucket (or from
 * none) and, if it was allowed, leases the same number of further requests from each — as many as every
 * bucket can spare, at most one lease. The decision's `remaining` includes the lease (the client's view).
 */
export function takeWithLease(
  entries: { policy: Policy; bucket: Bucket | undefined; returned: number }[],
  now: number,
  lease = true,
): { buckets: Bucket[]; decision: Decision; granted: number } {
  const withReturns = entries.map(({ policy, bucket, returned }) => {
    if (!bucket || returned <= 0) return { policy, bucket };
    const current = refill(bucket, policy, now);
    return { policy, bucket: { tokens: Math.min(policy.limit, current.tokens + returned), updatedAt: now } };
  });
  const { buckets, decision } = take(withReturns, now);
  if (!decision.allowed || !lease) return { buckets, decision, granted: 0 };
  const granted = Math.max(0, Math.min(...entries.map(({ policy }, i) => Math.min(leaseSize(policy), Math.floor(buckets[i]!.tokens)))));
  return { buckets: buckets.map((bucket) => ({ ...bucket, tokens: bucket.tokens - granted })), decision, granted };
}

type Lease = { state: PolicyState; left: number; expiresAt: number };

/** The isolate's side: the leases it holds, by `${scope} ${key}`; at most LEASE_ENTRIES of them. */
export class Leases {
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly maxEntries = LEASE_ENTRIES) {}

  /** This request from the leases of every key, or undefined (nothing taken) when one has none left. */
  take(scope: string, keys: string[], now: number): Decision | undefined {
    const held = keys.map((key) => this.leases.get(`${scope} ${key}`));
    if (held.some((lease) => lease === undefined || lease.left < 1 || lease.expiresAt <= now)) return undefined;
    const states = held.map((lease) => {
      lease!.left -= 1;
      return stateAfter(lease!);
    });
    return { allowed: true, states, violated: [], retryAfterSeconds: 0 };
  }

  /** Ends the keys' leases and says how many requests of each go back to the object. */
  release(scope: string, keys: string[]): number[] {
    return keys.map((key) => {
      const lease = this.leases.get(`${scope} ${key}`);
      this.leases.delete(`${scope} ${key}`);
      return lease ? Math.max(0, lease.left) : 0;
    });
  }

  /** Holds what the object granted with an allowed decision (one lease per key, `granted` requests each). */
  hold(scope: string, keys: string[], decision: Decision, granted: number, now: number): void {
    if (!decision.allowed || granted < 1) return;
    keys.forEach((key, i) => {
      const id = `${scope} ${key}`;
      // Concurrent requests of this isolate may each have been granted one: they add up to one lease at
      // most (the rest is dropped: early 429s, never late ones).
      const current = this.leases.get(id);
      const kept = current !== undefined && current.expiresAt > now ? current.left : 0;
      this.leases.delete(id);
      while (this.leases.size >= this.maxEntries) this.leases.delete(this.leases.keys().next().value as string);
      // The decision's remaining counts the new lease: the object's own bucket holds `remaining - granted`.
      const state = decision.states[i]!;
      this.leases.set(id, { state: { ...state, remaining: state.remaining - granted }, left: Math.min(leaseSize(state.policy), kept + granted), expiresAt: now + LEASE_MS });
    });
  }

  /** Drops every lease of a scope (its limits changed); what they held is not returned. */
  forget(scope: string): void {
    for (const id of this.leases.keys()) if (id.startsWith(`${scope} `)) this.leases.delete(id);
  }

  get size(): number {
    return this.leases.size;
  }
}

/** What the client is told after a request admitted from a lease: the object's remaining plus what the lease still holds. */
function stateAfter(lease: Lease): PolicyState {
  const { policy } = lease.state;
  const remaining = Math.max(0, lease.state.remaining + lease.left);
  const missing = policy.limit - remaining;
  const perSecond = policy.limit / policy.windowSeconds;
  return { policy, remaining, resetSeconds: missing <= 0 ? 0 : Math.ceil(missing / perSecond) };
}

/** This isolate's leases (the middleware's; src/http/rate-limit.ts). */
export const isolateLeases = new Leases();
