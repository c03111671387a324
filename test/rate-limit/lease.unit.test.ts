import { describe, expect, it } from "vitest";
import type { Bucket, Policy } from "../../src/rate-limit/bucket";
import { LEASE_MAX, LEASE_MS, leaseSize, Leases, takeWithLease } from "../../src/rate-limit/lease";

const perMinute = (limit: number): Policy => ({ name: "per_token", limit, windowSeconds: 60 });

/** The account's object, reduced to its buckets and the pure decision it makes (src/rate-limit/object.ts). */
function limiterObject(policy: Policy) {
  let bucket: Bucket | undefined;
  return {
    take(returned: number, now: number) {
      const result = takeWithLease([{ policy, bucket, returned }], now);
      bucket = result.buckets[0];
      return result;
    },
    /** A PATCH of the limits, or the object restarting: buckets start full. */
    reset() {
      bucket = undefined;
    },
  };
}

/** One isolate's middleware (src/http/rate-limit.ts): its lease first, else the object. */
function isolate(object: ReturnType<typeof limiterObject>) {
  const leases = new Leases();
  return {
    leases,
    request(now: number) {
      const local = leases.take("acct", ["token:t"], now);
      if (local) return { decision: local, local: true };
      const { decision, granted } = object.take(leases.release("acct", ["token:t"])[0]!, now);
      leases.hold("acct", ["token:t"], decision, granted, now);
      return { decision, local: false };
    },
  };
}

describe("rate-limit leases", () => {
  it("hold one second of the limit's refill, at most LEASE_MAX; small limits get none (every request asks the object)", () => {
    expect(leaseSize(perMinute(3))).toBe(0);
    expect(leaseSize(perMinute(59))).toBe(0);
    expect(leaseSize(perMinute(120))).toBe(2);
    expect(leaseSize(perMinute(1200))).toBe(20);
    expect(leaseSize(perMinute(1_000_000_000))).toBe(LEASE_MAX);
  });

  it("tell the client the same remaining count as the object alone would, one request at a time", () => {
    const one = isolate(limiterObject(perMinute(1200)));
    const remaining: number[] = [];
    let objectCalls = 0;
    for (let i = 0; i < 50; i++) {
      const { decision, local } = one.request(1_000);
      if (!local) objectCalls++;
      remaining.push(decision.states[0]!.remaining);
    }
    expect(remaining).toEqual(Array.from({ length: 50 }, (_, i) => 1199 - i));
    expect(objectCalls).toBe(3); // 1 + 20 leased, three times
  });

  it("never admit more than the object's bucket would across N isolates (no overshoot), and waste at most a lease per isolate", () => {
    const policy = perMinute(1200);
    const object = limiterObject(policy);
    const isolates = Array.from({ length: 8 }, () => isolate(object));
    let admitted = 0;
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    // 10 s of 400 requests/s spread at random over 8 isolates: far over 1200/min.
    const seconds = 10;
    for (let i = 0; i < 400 * seconds; i++) {
      const now = 1_000 + (i * 1000) / 400;
      if (isolates[Math.floor(random() * isolates.length)]!.request(now).decision.allowed) admitted++;
    }
    const bucketAllows = policy.limit + (policy.limit / 60) * seconds; // the burst plus 10 s of refill
    expect(admitted).toBeLessThanOrEqual(bucketAllows);
    // Early refusals are bounded: at most one lease per isolate held back at any moment, plus lapsed leases.
    expect(admitted).toBeGreaterThanOrEqual(bucketAllows - isolates.length * leaseSize(policy) * (seconds * 1000 / LEASE_MS));
  });

  it("after a limit change (buckets full again) N isolates admit at most N leases beyond the new bucket, and only within LEASE_MS", () => {
    const policy = perMinute(1200);
    const object = limiterObject(policy);
    const isolates = Array.from({ length: 4 }, () => isolate(object));
    for (const one of isolates) one.request(1_000); // each holds a fresh lease of 20
    object.reset();
    let admitted = 0;
    for (let i = 0; i < 3000; i++) if (isolates[i % 4]!.request(1_000).decision.allowed) admitted++;
    expect(admitted).toBeLessThanOrEqual(policy.limit + isolates.length * leaseSize(policy));
    // Once LEASE_MS has passed, nothing is admitted from an old lease.
    const late = isolates.map((one) => one.request(1_000 + LEASE_MS));
    expect(late.every(({ local }) => !local)).toBe(true);
  });

  it("are granted only when asked for: requests that reach the object while a lease is being fetched take only themselves", () => {
    const policy = perMinute(1200);
    let bucket: Bucket | undefined;
    for (let i = 0; i < 100; i++) {
      const result = takeWithLease([{ policy, bucket, returned: 0 }], 1_000, i === 0);
      bucket = result.buckets[0];
      expect(result.granted).toBe(i === 0 ? leaseSize(policy) : 0);
      expect(result.decision.allowed).toBe(true);
    }
    expect(bucket!.tokens).toBe(1200 - 100 - leaseSize(policy));
  });

  it("give back what they did not use with the next call to the object", () => {
    const policy = perMinute(1200);
    const object = limiterObject(policy);
    const one = isolate(object);
    one.request(1_000); // 1 + 20 leased
    // The lease lapses unused; the next call returns its 20: 1179 in the bucket + 20 refilled in 1 s + 20
    // returned = full (1200), minus this request. Without the return it would be 1179 + 20 - 1 = 1198.
    const { decision } = one.request(1_000 + LEASE_MS);
    expect(decision.states[0]!.remaining).toBe(1199);
  });

  it("are capped per isolate: filling the map keeps it at its size, the oldest go first", () => {
    const leases = new Leases(100);
    for (let i = 0; i < 5000; i++) {
      const { decision, granted } = limiterObject(perMinute(1200)).take(0, 1_000);
      leases.hold("acct", [`token:${i}`], decision, granted, 1_000);
    }
    expect(leases.size).toBe(100);
    expect(leases.take("acct", ["token:0"], 1_000)).toBeUndefined();
    expect(leases.take("acct", ["token:4999"], 1_000)?.allowed).toBe(true);
  });
});
