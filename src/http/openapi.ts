import { z } from "@hono/zod-openapi";
import { problemCodes, type ProblemCode } from "../errors/codes";
import { PROBLEM_CONTENT_TYPE } from "../errors/problem";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "/problems/inbox_not_found" }),
    title: z.string().openapi({ example: "Inbox not found" }),
    status: z.number().int().openapi({ example: 404 }),
    detail: z.string().openapi({ example: "No inbox with identifier 'Xy3…' exists for this token." }),
    code: z.enum(Object.keys(problemCodes) as [ProblemCode, ...ProblemCode[]]),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z
      .array(
        z.object({
          location: z.enum(["body", "query", "path", "header"]),
          pointer: z.string().openapi({ example: "/contact/source_id" }),
          detail: z.string(),
        }),
      )
      .optional(),
  })
  .openapi("Problem", { description: "RFC 9457 problem details." });

const statusDescriptions: Record<number, string> = {
  400: "Malformed request (bad JSON, bad cursor, bad Idempotency-Key)",
  401: "Missing, unknown or revoked token",
  403: "The token may not perform this operation",
  404: "Unknown id, or one belonging to another account",
  409: "Conflicts with the current state (or the Idempotency-Key's answer was withdrawn or is still running)",
  410: "The cursor points before events deleted by retention (cursor_expired)",
  413: "Body over 1 MiB, or a file over ATTACHMENT_MAX_BYTES",
  415: "Body is not JSON, or a file's content does not match its declared type",
  416: "The byte range is outside the file",
  422: "Body, query or path fails validation",
  429: "Rate limit exceeded",
  503: "`storage_unavailable` / `service_unavailable`: nothing was written, retry. `outcome_unknown`: the write may have committed; retry with the same Idempotency-Key or source_id, or read the history, to find out",
};

/** The error responses a route can give, all as problem+json. 401/429/503 apply to every authenticated route. */
export function errorResponses(...statuses: number[]) {
  const all = [...new Set([401, 429, 503, ...statuses])].sort();
  return Object.fromEntries(
    all.map((status) => [
      status,
      { description: statusDescriptions[status] ?? "Error", content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } },
    ]),
  );
}

/** A path parameter carrying an id: bounded, and named in the OpenAPI document. */
export const pathParam = (name: string) => z.string().max(64).openapi({ param: { name, in: "path" } });

export const bearerSecurity = [{ bearerAuth: [] }];
/** Operations only the operator's PLATFORM_TOKEN may call (the document says so; the test suites read it). */
export const platformSecurity = [{ platformToken: [] }];

/** Request bodies reject unknown fields: a typo is a 422, not silently ignored. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { required: true, description, content: { "application/json": { schema } } } as const;
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

export const IdempotencyKeyHeader = z.object({
  "idempotency-key": z
    .string()
    .max(255)
    .optional()
    .openapi({
      description:
        "Makes the POST safe to retry: a repeat within 24 h returns the first response with `Idempotent-Replayed: true`; the same key with another body is 422 `idempotency_key_reused`. " +
        "Only a 2xx is remembered (the operation ran); a 4xx (400, 401, 403, 404, 409 on a precondition, 413, 415, 422, 429) or 5xx is not, so a corrected retry with the same key runs — like Stripe, which stores a result only once the endpoint started executing. " +
        "A replay goes only to a caller who may still perform the operation; an answer showing a token or secret since revoked or rotated is withdrawn (409 `idempotency_answer_withdrawn`).",
    }),
});

export const PaginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(25).openapi({ example: 25 }),
  cursor: z.string().max(200).optional().openapi({ description: "next_cursor of the previous page" }),
});

export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({ data: z.array(item), next_cursor: z.string().nullable() })
    .openapi(name);
}
