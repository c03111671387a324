// Token buckets, as plain functions of time so they can be tested without waiting.
// A bucket holds up to `limit` requests and refills at `limit` per `windowSeconds`, so a client may burst
// its whole minute's allowance at once and then continue at the steady rate.

export type PolicyName = "per_token" | "per_inbox";

export type Policy = { name: PolicyName; limit: number; windowSeconds: number };

export type Bucket = { tokens: number; updatedAt: number };

/** What a client is told about one policy after a request (the IETF RateLimit field's r and t). */
export type PolicyState = {
  policy: Policy;
  /** Whole requests left right now. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
};

export type Decision = {
  allowed: boolean;
  states: PolicyState[];
  /** The policies that refused the request (empty when allowed). */
  violated: PolicyName[];
  /** Seconds until every violated policy has a request to spare again (0 when allowed). */
  retryAfterSeconds: number;
};

function ratePerMs(policy: Policy): number {
  return policy.limit / (policy.windowSeconds * 1000);
}

/** The bucket as it stands at `now`: refilled for the time passed, never over the limit (which may have been lowered). */
export function refill(bucket: Bucket | undefined, policy: Policy, now: number): Bucket {
  if (!bucket) return { tokens: policy.limit, updatedAt: now };
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return { tokens: Math.min(policy.limit, bucket.tokens + elapsed * ratePerMs(policy)), updatedAt: now };
}

function stateOf(bucket: Bucket, policy: Policy): PolicyState {
  const missing = policy.limit - bucket.tokens;
  return {
    policy,
    remaining: Math.max(0, Math.floor(bucket.tokens)),
    resetSeconds: missing <= 0 ? 0 : Math.ceil(missing / ratePerMs(policy) / 1000),
  };
}

/**
 * Takes one request from every bucket, or from none: a request refused by one policy does not use up
 * the others. Returns the buckets to store and the decision.
 */
export function take(
  entries: { policy: Policy; bucket: Bucket | undefined }[],
  now: number,
): { buckets: Bucket[]; decision: Decision } {
  const current = entries.map(({ policy, bucket }) => refill(bucket, policy, now));
  const refusing = entries.flatMap(({ policy }, i) => (current[i]!.tokens < 1 ? [{ policy, tokens: current[i]!.tokens }] : []));
  const allowed = refusing.length === 0;
  const buckets = allowed ? current.map((bucket) => ({ ...bucket, tokens: bucket.tokens - 1 })) : current;
  const retryAfterMs = Math.max(0, ...refusing.map(({ policy, tokens }) => (1 - tokens) / ratePerMs(policy)));
  return {
    buckets,
    decision: {
      allowed,
      states: entries.map(({ policy }, i) => stateOf(buckets[i]!, policy)),
      violated: refusing.map(({ policy }) => policy.name),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(retryAfterMs / 1000)),
    },
  };
}
