import type { Context } from "hono";

/**
 * Sets a header on the answer `await next()` produced, in place. Hono's `c.header` at that point wraps the
 * answer in a new Response (its body and headers copied) on every call — five times per API request, a fifth
 * of a 404's CPU in a profile (bench/README.md). An answer passed through from elsewhere — a Durable
 * Object's WebSocket upgrade — has immutable headers: that one is wrapped, as before.
 */
export function setAnswerHeader(c: Context, name: string, value: string): void {
  try {
    c.res.headers.set(name, value);
  } catch {
    c.header(name, value);
  }
}
