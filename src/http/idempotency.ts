import type { Context, MiddlewareHandler } from "hono";
import { sha256Hex } from "../core/crypto";
import { credentialsInForce } from "../domain/credentials";
import { ApiError } from "../errors/problem";
import { faults } from "../faults";
import type { StoredResponse } from "../idempotency/object";
import { reauthenticate } from "./auth";
import { isStreamedUpload } from "./body";
import type { AppEnv } from "./context";

const LEASE_MS = 30_000;
const WAIT_MS = 25_000;

/**
 * The one rule for what a key remembers: an answer is stored only when the operation ran, that is a
 * 2xx. Every 4xx is a refusal before anything was written (bad JSON 400, 401, 403, 404, a 409 on a
 * precondition, 413, 415, 422, 429), and a 5xx may not have run at all: neither is remembered, and a
 * retry with the same key runs again — corrected, or once the condition has passed.
 */
export const remembers = (status: number) => status >= 200 && status < 300;

type Check = (c: Context<AppEnv>) => Promise<unknown>;

/** The route middlewares made by `idempotent`, so a test can prove every POST route has one. */
export const idempotentMiddlewares = new WeakSet<MiddlewareHandler<AppEnv>>();

/**
 * `Idempotency-Key` on a POST route, behind the route's own authorisation: `guard` (the route's guard
 * middleware) runs first, so a caller it refuses gets its 401/403/404, never a stored answer.
 * - A request that waited for a duplicate reads its token again and passes `guard` again before it
 *   replays the answer or, if the duplicate's answer was not remembered, runs itself (a demotion or a
 *   removal during the wait counts).
 * - Before a replay, `beforeReplay` re-checks what the handler itself would check about the resource
 *   (an agent may still see the conversation), as it is now.
 * - Every token or webhook secret a stored answer shows must still be in force: once revoked or
 *   rotated, the answer is dropped and the key answers 409 `idempotency_answer_withdrawn` — the request
 *   is not run a second time.
 * The first response (status and body) is stored for 24 h when `remembers` says so; the same key with
 * another body is a 422. Keys are scoped to the caller (the user, or an inbox token's inbox) and the path.
 */
export function idempotent(guard: MiddlewareHandler<AppEnv>, options: { beforeReplay?: Check } = {}): MiddlewareHandler<AppEnv> {
  const passes = (c: Context<AppEnv>) => guard(c, async () => {});
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    await passes(c);
    const key = c.req.header("idempotency-key");
    if (key === undefined) return next();
    if (key.length === 0 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
      throw new ApiError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters.");
    }
    const caller = c.get("caller");
    // The guard let an anonymous caller through only on a route without authentication; none exists.
    if (!caller) return next();
    const scope =
      caller.kind === "platform" ? "platform" : `${caller.accountId} ${caller.kind === "user" ? caller.userId : caller.inboxId}`;
    const path = new URL(c.req.url).pathname;
    const stub = c.env.IDEMPOTENCY.get(c.env.IDEMPOTENCY.idFromName(`${scope} ${path} ${key}`));
    // A streamed upload is not read twice (nor held whole) to fingerprint it: its key stands for the request.
    const body = isStreamedUpload(c.req.method, path, c.req.header("content-type")) ? "(multipart upload)" : await c.req.text();
    const fingerprint = await sha256Hex(`${c.req.method} ${path}\n${body}`);

    // Write paths that can be re-run after a crash (the conversation object) dedupe on this too.
    c.set("idempotency", { key: `${scope} ${path} ${key}`, fingerprint });
    const claim = await stub.claim(fingerprint, LEASE_MS, WAIT_MS);
    if (claim.outcome === "mismatch") {
      throw new ApiError(
        "idempotency_key_reused",
        `Idempotency-Key '${key}' was already used for a different request body on ${path}; use a new key.`,
      );
    }
    if (claim.outcome === "busy") {
      throw new ApiError("idempotency_key_in_use", `A request with Idempotency-Key '${key}' is still running; retry shortly.`, {
        headers: { "retry-after": "1" },
      });
    }
    if (claim.outcome === "withdrawn") throw withdrawn(key, claim.resourceId);
    // Whatever it waited for (an answer to replay, or a refused request it now runs itself), a request
    // that waited is authorised again against the caller as it is now.
    if (claim.waited) {
      try {
        await reauthenticate(c);
        await passes(c);
      } catch (error) {
        if (claim.outcome === "proceed") await stub.release(claim.leaseId);
        throw error;
      }
    }
    if (claim.outcome === "replay") {
      await options.beforeReplay?.(c);
      if (!(await credentialsInForce(c.env, caller.kind === "platform" ? null : caller.accountId, claim.response.body))) {
        const resourceId = resourceIdOf(claim.response.body);
        await stub.withdraw(resourceId);
        throw withdrawn(key, resourceId);
      }
      return replay(claim.response);
    }

    try {
      await faults.pause("idempotency.lease_held");
      await next();
    } catch (error) {
      await stub.release(claim.leaseId);
      throw error;
    }
    const response = c.res;
    if (remembers(response.status)) {
      const stored: StoredResponse = {
        status: response.status,
        headers: Object.fromEntries([...response.headers].filter(([name]) => name === "content-type" || name === "location")),
        body: await response.clone().text(),
      };
      await stub.complete(claim.leaseId, stored);
    } else {
      await stub.release(claim.leaseId);
    }
  };
  idempotentMiddlewares.add(middleware);
  return middleware;
}

function withdrawn(key: string, resourceId: string | null): ApiError {
  const what = resourceId ? ` (it created or changed '${resourceId}'; read it there)` : "";
  return new ApiError(
    "idempotency_answer_withdrawn",
    `The request with Idempotency-Key '${key}' ran${what}, but its answer showed a token or webhook secret that has since been revoked or rotated, so it is no longer replayed and the request is not run again. Send a new request with a new key for a new credential.`,
  );
}

/** The id of the object an answer describes (`{id, …}`), for the withdrawn answer's detail. */
function resourceIdOf(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { id?: unknown; account?: { id?: unknown } };
    const id = parsed.id ?? parsed.account?.id;
    return typeof id === "string" ? id : null;
  } catch {
    return null;
  }
}

function replay(stored: StoredResponse): Response {
  return new Response(stored.body, {
    status: stored.status,
    headers: { ...stored.headers, "idempotent-replayed": "true" },
  });
}
