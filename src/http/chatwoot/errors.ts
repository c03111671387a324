// Chatwoot's error bodies on the Chatwoot surface, not problem+json: its clients read `error` (Rails'
// render_not_found_error / render_could_not_create_error / render_unauthorized all answer `{ error }`), and
// the status codes are Chatwoot's. Our stable `code` rides along, for logs and support.
import type { Context } from "hono";
import { toApiError } from "../../errors/handler";
import type { ApiError } from "../../errors/problem";

/** Where Chatwoot answers another status than our table: a wrong identifier_hash is its 401 "HMAC failed". */
const CHATWOOT_STATUS: Partial<Record<ApiError["code"], number>> = { identifier_hash_invalid: 401, identifier_hash_required: 401 };

export function chatwootErrorBody(error: ApiError) {
  return {
    error: error.detail,
    code: error.code,
    ...(error.errors ? { message: error.detail, attributes: error.errors.map((field) => field.pointer.replace(/^\//, "").replace(/\//g, ".")) } : {}),
  };
}

export function chatwootError(error: unknown, c: Context): Response {
  const requestId = (c.get("requestId" as never) as string | undefined) ?? crypto.randomUUID();
  const apiError = toApiError(error, requestId);
  return new Response(JSON.stringify(chatwootErrorBody(apiError)), {
    status: CHATWOOT_STATUS[apiError.code] ?? apiError.status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...apiError.headers },
  });
}
