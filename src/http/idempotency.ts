import type { MiddlewareHandler } from "hono";
import { sha256Hex } from "../core/crypto";
import { ApiError } from "../errors/problem";
import { isStreamedUpload } from "./body";
import type { AppEnv } from "./context";
import type { StoredResponse } from "../idempotency/object";

const LEASE_MS = 30_000;
const WAIT_MS = 25_000;
/** Responses worth replaying: final answers. Auth failures, rate limits and 5xx may change on retry. */
const REPLAYABLE = (status: number) => status < 500 && ![401, 403, 404, 429].includes(status);

/**
 * `Idempotency-Key` on any POST: the first response (status and body) is stored for 24 h and replayed to
 * repeats with `Idempotent-Replayed: true`; the same key with another body is a 422. The key is scoped to
 * the caller (user or inbox, within its account) and the request path.
 */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (c.req.method !== "POST" || key === undefined) return next();
  if (key.length === 0 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new ApiError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters.");
  }
  const caller = c.get("caller");
  // Unauthenticated requests fail in the route's guard; nothing worth remembering.
  if (!caller) return next();
  // Scoped to who is calling, not only to the account: the guards run after this middleware, so a
  // replay to another user of the account would hand them a response they may not see (a new token).
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
  if (claim.outcome === "replay") return replay(claim.response);
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

  try {
    await next();
  } catch (error) {
    await stub.release(claim.leaseId);
    throw error;
  }
  const response = c.res;
  if (REPLAYABLE(response.status)) {
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

function replay(stored: StoredResponse): Response {
  return new Response(stored.body, {
    status: stored.status,
    headers: { ...stored.headers, "idempotent-replayed": "true" },
  });
}
