import type { Context, MiddlewareHandler } from "hono";
import { config } from "../env";
import { ApiError } from "../errors/problem";
import { describeForLog } from "../errors/handler";
import type { Decision, PolicyState } from "../rate-limit/bucket";
import { isolateLeases as leases } from "../rate-limit/lease";
import { rateLimiter } from "../rate-limit/object";
import type { AppEnv } from "./context";
import { safeDecode } from "./path";
import { setAnswerHeader } from "./answer-headers";

const INTEGRATOR_PATH = /^\/v1\/inboxes\/([^/]+)/;

/** The scope and keys this isolate is asking its object for a lease for right now (gone when answered). */
const asking = new Set<string>();

/** Structured-field strings (RFC 8941) for the policy names: they are fixed ASCII words. */
function item(state: PolicyState, parameters: string): string {
  return `"${state.policy.name}";${parameters}`;
}

/** The IETF draft's fields (draft-ietf-httpapi-ratelimit-headers-10/11): the policies and where the caller stands. */
export function rateLimitHeaders(decision: Decision): Record<string, string> {
  return {
    "ratelimit-policy": decision.states.map((state) => item(state, `q=${state.policy.limit};w=${state.policy.windowSeconds}`)).join(", "),
    ratelimit: decision.states.map((state) => item(state, `r=${state.remaining};t=${state.resetSeconds}`)).join(", "),
  };
}

function refusal(decision: Decision, subject: { token: string; inbox?: string }): ApiError {
  const reasons = decision.states
    .filter((state) => decision.violated.includes(state.policy.name))
    .map((state) =>
      state.policy.name === "per_token"
        ? `token ${subject.token} is over its limit of ${state.policy.limit} requests per minute (per_token)`
        : `inbox '${subject.inbox}' is over its limit of ${state.policy.limit} requests per minute from this account (per_inbox)`,
    );
  return new ApiError(
    "rate_limited",
    `Rate limit exceeded: ${reasons.join("; ")}. Retry after ${decision.retryAfterSeconds} s; the RateLimit header shows what is left.`,
    {
      headers: { ...rateLimitHeaders(decision), "retry-after": String(decision.retryAfterSeconds) },
      // The draft's quota-exceeded problem names the policies; `limit` is the first, for a switch statement.
      extensions: { "violated-policies": decision.violated, limit: decision.violated[0] },
    },
  );
}

/**
 * Counts every authenticated request against the caller's token and, on integrator routes, the inbox
 * identifier in the URL; answers 429 `rate_limited` naming the limit hit. Requests without a token are
 * not counted here: their route answers 401 before doing any work.
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const caller = c.get("caller");
  if (!caller) return next();
  const inbox = INTEGRATOR_PATH.exec(c.req.path)?.[1];
  const subject = {
    token: caller.kind === "platform" ? "platform" : caller.tokenId,
    inbox: inbox === undefined ? undefined : safeDecode(inbox).slice(0, 200),
  };
  const decision = await admit(c, caller.kind === "platform" ? "platform" : caller.accountId, caller.kind === "platform" ? null : caller.accountId, subject);
  if (decision && !decision.allowed) throw refusal(decision, subject);
  await next();
  if (decision) setRateLimitHeaders(c, decision);
};

/** The RateLimit fields on the answer `next()` produced (this middleware's, and Chatwoot's Client API's). */
export function setRateLimitHeaders(c: Context, decision: Decision): void {
  for (const [name, value] of Object.entries(rateLimitHeaders(decision))) setAnswerHeader(c, name, value);
}

/**
 * The decision for one request of `subject` (a token, and an inbox identifier when the URL has one) in
 * `scope` (an account, or "platform"); undefined when the limiter failed (fail open). Shared by the
 * middleware above and Chatwoot's Client API, whose subject is its inbox identifier.
 */
export async function admit(
  c: Context<AppEnv>,
  scope: string,
  accountId: string | null,
  subject: { token: string; inbox?: string },
): Promise<Decision | undefined> {
  const keys = subject.inbox === undefined ? [`token:${subject.token}`] : [`token:${subject.token}`, `inbox:${subject.inbox}`];
  // Admitted from this isolate's lease when it holds one for every key; else the account's object decides.
  // One request at a time per key asks it for a lease: the others that arrive meanwhile take only their own
  // request (a lease each would drain the bucket). Nothing waits on another request's promise: workerd
  // would run the waiter's continuation in the other request's context.
  const id = `${scope} ${keys.join(" ")}`;
  let decision = leases.take(scope, keys, Date.now());
  if (decision === undefined) {
    const defaults = config(c.env).rateLimits;
    const lease = !asking.has(id);
    if (lease) asking.add(id);
    try {
      const result = await rateLimiter(c.env, scope).take({
        accountId,
        token: subject.token,
        inbox: subject.inbox,
        defaults: { per_token: defaults.perToken, per_inbox: defaults.perInbox },
        returned: lease ? leases.release(scope, keys) : undefined,
        lease,
      });
      decision = result.decision;
      if (lease) leases.hold(scope, keys, result.decision, result.granted, Date.now());
    } catch (error) {
      // Fail open: a limiter hiccup must not turn away legitimate traffic.
      console.error(JSON.stringify({ level: "error", request_id: c.get("requestId"), kind: "rate_limit", message: describeForLog(error) }));
      return undefined;
    } finally {
      if (lease) asking.delete(id);
    }
  }
  return decision;
}
