// The console's session cookie: reading it (auth middleware), setting and clearing it (session routes), and
// the CSRF rule. A cookie is sent by the browser on its own, so every cookie-authenticated change must also
// carry the session's CSRF token in X-CSRF-Token, which only this origin's script can read (GET /v1/session).
// Bearer-token requests never read the cookie and are unaffected.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { accountOfSession, resolveSession } from "../../domain/sessions";
import { secretsEqual, type Caller } from "../../domain/tokens";
import { ApiError } from "../../errors/problem";
import type { AppEnv } from "../context";

export const SESSION_COOKIE = "edge_inbox_session";
export const CSRF_HEADER = "x-csrf-token";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** Sign-in itself creates the session: there is nothing to forge yet (an Origin check guards it instead). */
const SESSION_ENTRY_PATHS = new Set(["/v1/session", "/v1/session/links", "/v1/session/invites"]);

/** Loopback is the only place a browser gets plain http: there the Secure flag would drop the cookie. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** A browser's cross-origin request says so in Origin; requests from this origin, curl and tests pass. */
export function requireSameOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header("origin");
  if (origin && origin !== new URL(c.req.url).origin) {
    throw new ApiError("forbidden", `Requests from ${origin} may not use the console's session; open the console on ${new URL(c.req.url).origin}.`);
  }
}

/** The account the request's session cookie names (its shard serves the request), or null. */
export function sessionAccountOf(c: Context<AppEnv>): string | null {
  const secret = getCookie(c, SESSION_COOKIE);
  return secret ? accountOfSession(secret) : null;
}

export async function sessionCaller(c: Context<AppEnv>): Promise<Caller | null> {
  const secret = getCookie(c, SESSION_COOKIE);
  if (!secret) return null;
  // Signing in acts for nobody yet, whatever cookie the browser still holds.
  if (c.req.method === "POST" && SESSION_ENTRY_PATHS.has(c.req.path)) return null;
  const session = await resolveSession(c.env, secret);
  // An ended session is no credential: routes answer 401 as for a request without one.
  if (!session) return null;
  c.set("session", session);
  if (!SAFE_METHODS.has(c.req.method)) {
    const sent = c.req.header(CSRF_HEADER);
    if (!sent || !(await secretsEqual(sent, session.csrfToken))) {
      throw new ApiError("csrf_token_invalid", "Send the session's csrf_token (from GET /v1/session) in the X-CSRF-Token header, or use a bearer token.");
    }
    requireSameOrigin(c);
  }
  return session.caller;
}

export function setSessionCookie(c: Context<AppEnv>, secret: string, maxAgeSeconds: number): void {
  setCookie(c, SESSION_COOKIE, secret, {
    path: "/",
    httpOnly: true,
    secure: !isLoopbackHost(new URL(c.req.url).hostname),
    sameSite: "Lax",
    maxAge: maxAgeSeconds,
  });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, secure: !isLoopbackHost(new URL(c.req.url).hostname), sameSite: "Lax" });
}
