import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { acceptInvite, changePassword, issueLink, redeemSignInLink } from "../../domain/invites";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../../domain/passwords";
import { describeSession, endSession, signIn, type OpenedSession } from "../../domain/sessions";
import { config } from "../../env";
import { ApiError } from "../../errors/problem";
import { accountUser } from "../auth";
import type { AppContext, AppEnv } from "../context";
import type { MiddlewareHandler } from "hono";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse } from "../openapi";
import { idempotent } from "../idempotency";
import { AccountParams, AccountUserParams, UserSchema } from "../users/schemas";
import { clearSessionCookie, requireSameOrigin, setSessionCookie } from "./cookie";

const tags = ["Console sessions"];
const sessionSecurity = [{ sessionCookie: [] }];
/**
 * The session's own operations (who am I, sign out, change password) are declared without a security
 * requirement: they need no token, answer 401 `unauthorized` without a live session cookie, and serve
 * whoever the cookie names, so there is no tenant in their path.
 */
const noSecurity: Record<string, string[]>[] = [];
/** Sign-in and link redemption are open to anyone; the Idempotency-Key is validated, and nothing is stored for an anonymous caller. */
const anyone: MiddlewareHandler<AppEnv> = async (_c, next) => next();
const COOKIE_ONLY = " Works with the console's session cookie only (a bearer token is not a session): without a live one, 401 `unauthorized`.";

const Password = z.string().min(PASSWORD_MIN_LENGTH).max(PASSWORD_MAX_LENGTH).openapi({ example: "correct horse battery staple" });

const SessionSchema = z
  .object({
    user: UserSchema,
    account_id: z.string(),
    account_name: z.string(),
    csrf_token: z.string().openapi({ description: "Send it in the X-CSRF-Token header with every change made with the session cookie." }),
    expires_at: z.string(),
  })
  .openapi("Session");

const LinkSchema = z
  .object({
    url: z.string().openapi({ example: "https://inbox.example.com/app/invite#token=eil_…" }),
    expires_at: z.string(),
  })
  .openapi("OneTimeLink");

const sessionCreated = {
  201: {
    ...jsonResponse(SessionSchema, "Signed in; the session cookie is set (HttpOnly, Secure, SameSite=Lax)"),
    headers: { "set-cookie": { description: "edge_inbox_session=…; HttpOnly; Secure; SameSite=Lax", schema: { type: "string" as const } } },
  },
};

const signInRoute = createRoute({
  middleware: [idempotent(anyone)] as const,
  method: "post",
  path: "/v1/session",
  operationId: "signIn",
  tags,
  security: noSecurity,
  summary: "Sign in to the console with email and password",
  description: `Opens a session (7 days) behind an HttpOnly cookie. Failed attempts are limited per email (5) and per account (50) over 15 minutes: past that, 429. A person whose email is in several accounts sends account_id. Passwords are ${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH} characters.`,
  request: {
    headers: IdempotencyKeyHeader,
    body: jsonBody(
      z
        .strictObject({
          email: z.email().max(320).openapi({ example: "ana@example.com" }),
          password: z.string().min(1).max(PASSWORD_MAX_LENGTH),
          account_id: z.string().max(64).optional(),
        })
        .openapi("SignIn"),
    ),
  },
  responses: { ...sessionCreated, ...errorResponses(400, 403, 413, 415, 422) },
});

const getSessionRoute = createRoute({
  method: "get",
  path: "/v1/session",
  operationId: "getSession",
  tags,
  security: noSecurity,
  summary: "Who is signed in, and the CSRF token",
  description: "The console reads this on load." + COOKIE_ONLY,
  responses: { 200: jsonResponse(SessionSchema, "The session"), ...errorResponses() },
});

const signOutRoute = createRoute({
  method: "delete",
  path: "/v1/session",
  operationId: "signOut",
  tags,
  security: noSecurity,
  summary: "Sign out (ends this session)",
  description: "Ends the session and clears its cookie; its realtime stream closes. Needs X-CSRF-Token." + COOKIE_ONLY,
  responses: { 204: { description: "Signed out" }, ...errorResponses(403) },
});

const redeemLinkRoute = createRoute({
  middleware: [idempotent(anyone)] as const,
  method: "post",
  path: "/v1/session/links",
  operationId: "redeemSignInLink",
  tags,
  security: noSecurity,
  summary: "Sign in with a one-time sign-in link",
  description: "The token from a sign-in link (`/app/sign-in#token=…`, e.g. `npm start`'s SIGN_IN_URL). Works once, within 15 minutes.",
  request: { headers: IdempotencyKeyHeader, body: jsonBody(z.strictObject({ token: z.string().min(1).max(200) }).openapi("SignInLinkRedemption")) },
  responses: { ...sessionCreated, ...errorResponses(400, 403, 413, 415, 422) },
});

const acceptInviteRoute = createRoute({
  middleware: [idempotent(anyone)] as const,
  method: "post",
  path: "/v1/session/invites",
  operationId: "acceptInvite",
  tags,
  security: noSecurity,
  summary: "Accept an invite: set a password and sign in",
  description: "The token from an invite link (`/app/invite#token=…`). Works once, within 7 days; sets the user's password (ending any other session of theirs).",
  request: { headers: IdempotencyKeyHeader, body: jsonBody(z.strictObject({ token: z.string().min(1).max(200), password: Password }).openapi("InviteAcceptance")) },
  responses: { ...sessionCreated, ...errorResponses(400, 403, 413, 415, 422) },
});

const changePasswordRoute = createRoute({
  middleware: [idempotent(anyone)] as const,
  method: "post",
  path: "/v1/session/password",
  operationId: "changePassword",
  tags,
  security: noSecurity,
  summary: "Change your password",
  description: "Ends every session of the user, then opens a new one for this browser. Needs X-CSRF-Token." + COOKIE_ONLY,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(z.strictObject({ current_password: z.string().min(1).max(PASSWORD_MAX_LENGTH), new_password: Password }).openapi("PasswordChange")) },
  responses: { ...sessionCreated, ...errorResponses(400, 403, 413, 415, 422) },
});

const inviteRoute = createRoute({
  middleware: [idempotent(accountUser("administrator"))] as const,
  method: "post",
  path: "/v1/accounts/{account_id}/users/{user_id}/invites",
  operationId: "inviteUser",
  tags: ["Users"],
  security: [...bearerSecurity, ...sessionSecurity],
  summary: "A one-time invite link for a user to set their password (administrators only)",
  description: "Returns a link valid once, for 7 days. Give it to the person; opening it lets them choose a password and signs them in.",
  request: { params: AccountUserParams, headers: IdempotencyKeyHeader },
  responses: { 201: jsonResponse(LinkSchema, "The invite link"), ...errorResponses(403, 404, 422) },
});

const signInLinkRoute = createRoute({
  middleware: [idempotent(accountUser())] as const,
  method: "post",
  path: "/v1/accounts/{account_id}/sign_in_links",
  operationId: "createSignInLink",
  tags: ["Users"],
  security: bearerSecurity,
  summary: "A one-time link that signs you in to the console",
  description: "For the user behind the token only; valid once, for 15 minutes. `npm start` prints one for the dev administrator.",
  request: { params: AccountParams, headers: IdempotencyKeyHeader },
  responses: { 201: jsonResponse(LinkSchema, "The sign-in link"), ...errorResponses(403, 404, 422) },
});

/** Where links point: PUBLIC_URL when set, else the origin the request came to. */
function linkUrl(c: AppContext, path: string): string {
  return (config(c.env).attachments.publicUrl ?? new URL(c.req.url).origin) + path;
}

function opened(c: AppContext, session: OpenedSession) {
  setSessionCookie(c, session.cookie, session.maxAgeSeconds);
  return c.json(session.view, 201);
}

function currentSession(c: AppContext) {
  const session = c.get("session");
  if (!session) throw new ApiError("unauthorized", "Sign in first: no live console session (the cookie is missing, expired or signed out).");
  return session;
}

export const sessionRoutes = new OpenAPIHono<AppEnv>()
  .openapi(signInRoute, async (c) => {
    requireSameOrigin(c);
    return opened(c, await signIn(c.env, c.req.valid("json")));
  })
  .openapi(getSessionRoute, async (c) => c.json(await describeSession(c.env, currentSession(c)), 200))
  .openapi(signOutRoute, async (c) => {
    const session = currentSession(c);
    await endSession(c.env, session.caller.accountId, session.sessionId);
    clearSessionCookie(c);
    return c.body(null, 204);
  })
  .openapi(redeemLinkRoute, async (c) => {
    requireSameOrigin(c);
    return opened(c, await redeemSignInLink(c.env, c.req.valid("json").token));
  })
  .openapi(acceptInviteRoute, async (c) => {
    requireSameOrigin(c);
    const { token, password } = c.req.valid("json");
    return opened(c, await acceptInvite(c.env, token, password));
  })
  .openapi(changePasswordRoute, async (c) => {
    const session = currentSession(c);
    return opened(c, await changePassword(c.env, session.caller, c.req.valid("json")));
  })
  .openapi(inviteRoute, async (c) => {
    const { account_id, user_id } = c.req.valid("param");
    const link = await issueLink(c.env, account_id, user_id, "invite");
    return c.json({ url: linkUrl(c, link.path), expires_at: link.expires_at }, 201);
  })
  .openapi(signInLinkRoute, async (c) => {
    const user = c.get("user");
    const link = await issueLink(c.env, user.accountId, user.userId, "sign_in");
    return c.json({ url: linkUrl(c, link.path), expires_at: link.expires_at }, 201);
  });
