import type { Context } from "hono";

/**
 * Sets a header on the answer `await next()` produced, in place. Hono's `c.header` at that point wraps the
 * answer in a new Response (its body and headers copied) on every call — five times per API request, a fifth
 * of a 404's CPU in a profile (bench/README.md). Every answer this app builds has mutable headers
 * (secureHeaders sets its own the same way on every route), so they are set where they are.
 */
export function setAnswerHeader(c: Context, name: string, value: string): void {
  c.res.headers.set(name, value);
}
