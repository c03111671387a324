import { describe, expect, it } from "vitest";
import { refill, take, type Bucket, type Policy } from "../../src/rate-limit/bucket";

const perToken: Policy = { name: "per_token", limit: 3, windowSeconds: 60 };
const perInbox: Policy = { name: "per_inbox", limit: 2, windowSeconds: 60 };

/** Runs n requests at `now` through one policy, carrying the bucket along. */
function burst(n: number, policy: Policy, now: number, start?: Bucket) {
  let bucket = start;
  const allowed: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const result = take([{ policy, bucket }], now);
    bucket = result.buckets[0];
    allowed.push(result.decision.allowed);
  }
  return { bucket: bucket!, allowed };
}

describe("token bucket", () => {
  it("lets a full limit through at once, then refuses", () => {
    expect(burst(4, perToken, 0).allowed).toEqual([true, true, true, false]);
  });

  it("refills at limit per window: one request every 20 s for 3 per minute", () => {
    const { bucket } = burst(3, perToken, 0);
    expect(take([{ policy: perToken, bucket }], 19_999).decision.allowed).toBe(false);
    expect(take([{ policy: perToken, bucket }], 20_000).decision.allowed).toBe(true);
  });

  it("tells how many are left and when the bucket is full again", () => {
    const first = take([{ policy: perToken, bucket: undefined }], 0).decision;
    expect(first.states[0]).toMatchObject({ remaining: 2, resetSeconds: 20 });
    const { bucket } = burst(3, perToken, 0);
    const refused = take([{ policy: perToken, bucket }], 5_000).decision;
    expect(refused).toMatchObject({ allowed: false, violated: ["per_token"], retryAfterSeconds: 15 });
    expect(refused.states[0]).toMatchObject({ remaining: 0, resetSeconds: 55 });
  });

  it("never fills over the limit, and a lowered limit caps a fuller bucket", () => {
    expect(refill({ tokens: 1, updatedAt: 0 }, perToken, 10 * 60_000).tokens).toBe(3);
    expect(refill({ tokens: 1000, updatedAt: 0 }, perToken, 0).tokens).toBe(3);
  });

  it("does not let a clock going backwards add requests", () => {
    expect(refill({ tokens: 1, updatedAt: 10_000 }, perToken, 0).tokens).toBe(1);
  });

  it("takes from every policy or from none, and names the one that refused", () => {
    let token: Bucket | undefined;
    let inbox: Bucket | undefined;
    const results = [];
    for (let i = 0; i < 3; i++) {
      const result = take([{ policy: perToken, bucket: token }, { policy: perInbox, bucket: inbox }], 0);
      [token, inbox] = result.buckets;
      results.push(result.decision);
    }
    expect(results.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(results[2]!.violated).toEqual(["per_inbox"]);
    // The refused request did not use the token's allowance.
    expect(token!.tokens).toBe(1);
  });

  it("Retry-After covers the slowest of several refusing policies", () => {
    const slow: Policy = { name: "per_inbox", limit: 1, windowSeconds: 60 };
    const emptyFast = { tokens: 0, updatedAt: 0 };
    const emptySlow = { tokens: 0, updatedAt: 0 };
    const decision = take([{ policy: perToken, bucket: emptyFast }, { policy: slow, bucket: emptySlow }], 0).decision;
    expect(decision.violated).toEqual(["per_token", "per_inbox"]);
    expect(decision.retryAfterSeconds).toBe(60);
  });
});
