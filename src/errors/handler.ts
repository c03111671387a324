import type { Context, Env as HonoEnv } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { isOutcomeUnknown } from "./outcome";
import { ApiError, problemResponse, type FieldError } from "./problem";

/** Storage or a Durable Object failed in a way a retry can cure: the client gets a 503, not a 500. */
export class TransientFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransientFailure";
  }
}

/** The error and the errors it wraps (drizzle wraps D1's own error as `cause`). */
function errorChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let current = error; current instanceof Error && chain.length < 5; current = current.cause) chain.push(current);
  return chain;
}

export function isStorageFailure(error: unknown): boolean {
  // D1 prefixes its errors with D1_ (D1_ERROR, D1_EXEC_ERROR…); constraint violations are answered by
  // the domain code before they get here, so what is left is the database being unavailable. Drizzle
  // wraps them ("Failed query: …" / "Failed to run the query …"), so look through the causes.
  return errorChain(error).some((link) => /^D1_|D1 DB|Network connection lost/i.test(link.message));
}

/** A single drizzle write that failed: drizzle names the statement ("Failed query: insert into …"). */
function isSentWrite(error: unknown): boolean {
  return errorChain(error).some((link) => /^Failed query: \s*(insert|update|delete|replace)\b/i.test(link.message));
}

function isDurableObjectFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const flags = error as Error & { retryable?: boolean; overloaded?: boolean; remote?: boolean };
  return flags.retryable === true || flags.overloaded === true || /Durable Object/i.test(error.message);
}

/**
 * What is safe to log about an error: names and messages along the cause chain, without the bound
 * parameters drizzle puts in its messages (they hold emails, token hashes and webhook secrets).
 */
export function describeForLog(error: unknown): string {
  const chain = errorChain(error);
  if (chain.length === 0) return String(error);
  return chain
    .map((link) => {
      const message = "params" in link ? link.message.replace(/\nparams: [\s\S]*$/, "") : link.message;
      return `${link.name}: ${message}`;
    })
    .join(" <- caused by ");
}

/** Only the "at …" lines: the stack's first lines repeat the message, parameters included. */
function stackFrames(error: Error): string | undefined {
  return error.stack
    ?.split("\n")
    .filter((line) => /^\s+at /.test(line))
    .join("\n");
}

/** Turns anything thrown into the API's error model. Unknown exceptions become a logged 500 with a request id. */
export function toApiError(error: unknown, requestId: string): ApiError {
  if (error instanceof ApiError) return error;
  // The move fence (src/db/moves.sql) refused a write of an account in the switch: nothing was written.
  if (errorChain(error).some((link) => /account_moving/.test(link.message))) {
    return new ApiError("account_moving", "The account is being switched to another shard; nothing was written. Retry after the Retry-After delay.", {
      headers: { "retry-after": "2" },
    });
  }
  // Before the storage check: a storage failure too, but one that came after a write was sent.
  if (isOutcomeUnknown(error) || (isStorageFailure(error) && isSentWrite(error))) {
    console.error(JSON.stringify({ level: "error", request_id: requestId, kind: "outcome_unknown", message: describeForLog(error) }));
    return new ApiError(
      "outcome_unknown",
      "The write was sent, but the database or the conversation stopped answering before it confirmed it: it may or may not have been written. " +
        "Find out before writing again: retry with the same Idempotency-Key or the same source_id (safe: a written change is returned, not repeated), " +
        "or read the conversation's history (GET …/messages) to see whether it is there.",
      { headers: { "retry-after": "1" } },
    );
  }
  if (error instanceof TransientFailure || isStorageFailure(error)) {
    console.error(JSON.stringify({ level: "error", request_id: requestId, kind: "storage", message: describeForLog(error) }));
    return new ApiError("storage_unavailable", "The database did not answer; nothing was written. Retry the request.", {
      headers: { "retry-after": "1" },
    });
  }
  if (isDurableObjectFailure(error)) {
    console.error(JSON.stringify({ level: "error", request_id: requestId, kind: "durable_object", message: describeForLog(error) }));
    return new ApiError("service_unavailable", "The conversation was briefly unavailable. Retry the request.", {
      headers: { "retry-after": "1" },
    });
  }
  if (error instanceof HTTPException) {
    // Hono's own validators and body-limit raise these; zod-openapi's media-type gate says only
    // "Unsupported Media Type", so the status decides.
    if (error.status === 413) return new ApiError("payload_too_large", "The request body is over the 1 MiB limit.");
    if (error.status === 415 || /content-type/i.test(error.message)) {
      return new ApiError("unsupported_media_type", "Send the body as JSON with 'Content-Type: application/json'.");
    }
    if (/json/i.test(error.message)) return new ApiError("invalid_json", "The request body is not valid JSON.");
  }
  console.error(
    JSON.stringify({
      level: "error",
      request_id: requestId,
      message: describeForLog(error),
      // The stack stays in the log; the client only ever sees the request id.
      stack: error instanceof Error ? stackFrames(error) : undefined,
    }),
  );
  return new ApiError("internal_error", `An unexpected error occurred. Quote request id ${requestId} when reporting it.`);
}

export function onError<E extends HonoEnv>(error: Error, c: Context<E>): Response {
  const requestId = (c.get("requestId" as never) as string | undefined) ?? crypto.randomUUID();
  return problemResponse(toApiError(error, requestId), new URL(c.req.url).pathname, requestId);
}

export function fieldErrors(error: ZodError, location: FieldError["location"]): FieldError[] {
  return error.issues.map((issue) => ({
    location,
    pointer: "/" + issue.path.map((part) => String(part).replaceAll("~", "~0").replaceAll("/", "~1")).join("/"),
    detail: issue.message,
  }));
}

const targetLocation: Record<string, FieldError["location"]> = {
  json: "body",
  query: "query",
  param: "path",
  header: "header",
};

/** The zod-openapi defaultHook: a failed schema is a 422 naming every offending field. */
export function validationHook(
  result: { success: true } | { success: false; error: ZodError; target?: string },
  c: Context,
): Response | undefined {
  if (result.success) return undefined;
  const location = targetLocation[result.target ?? "json"] ?? "body";
  const errors = fieldErrors(result.error, location);
  const first = errors[0];
  const detail = first
    ? `${location === "body" ? "Body" : location[0]!.toUpperCase() + location.slice(1)} field '${first.pointer}' is invalid: ${first.detail}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}.`
    : "The request does not match the schema.";
  return problemResponse(new ApiError("validation_failed", detail, { errors }), new URL(c.req.url).pathname);
}
