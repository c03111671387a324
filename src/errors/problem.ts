import { problemCodes, type ProblemCode } from "./codes";

/** One offending field of a request: where it is (RFC 6901 pointer) and what is wrong with it. */
export type FieldError = { location: "body" | "query" | "path" | "header"; pointer: string; detail: string };

/** Every error the API answers with. Thrown anywhere; rendered once by the app's error handler. */
export class ApiError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly detail: string;
  readonly errors?: FieldError[];
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(
    code: ProblemCode,
    detail: string,
    options: { errors?: FieldError[]; headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
  ) {
    super(`${code}: ${detail}`);
    this.name = "ApiError";
    this.code = code;
    this.status = problemCodes[code].status;
    this.detail = detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
};

export function problemBody(error: ApiError, instance?: string, requestId?: string): ProblemBody {
  return {
    ...error.extensions,
    type: `/problems/${error.code}`,
    title: problemCodes[error.code].title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    ...(instance ? { instance } : {}),
    ...(requestId ? { request_id: requestId } : {}),
    ...(error.errors ? { errors: error.errors } : {}),
  };
}

export function problemResponse(error: ApiError, instance?: string, requestId?: string): Response {
  return new Response(JSON.stringify(problemBody(error, instance, requestId)), {
    status: error.status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE, ...error.headers },
  });
}

/** `<thing>_not_found` naming the id the caller sent, so the detail says what to fix. */
export function notFound(
  code: Extract<ProblemCode, `${string}_not_found`>,
  what: string,
  id: string,
): ApiError {
  return new ApiError(code, `No ${what} with id '${id}' exists in this account.`);
}
