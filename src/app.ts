import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { onError, validationHook } from "./errors/handler";
import { ApiError, problemResponse } from "./errors/problem";
import { accountRoutes } from "./http/accounts/routes";
import { attachmentRoutes } from "./http/attachments/routes";
import { authenticate } from "./http/auth";
import { automationRoutes } from "./http/automation/routes";
import { chatwootAppRoutes } from "./http/chatwoot/app";
import { chatwootClientRoutes } from "./http/chatwoot/client";
import { accountContactRoutes } from "./http/contacts/routes";
import { conversationRoutes } from "./http/conversations/routes";
import { deliveryRoutes } from "./http/deliveries/routes";
import { integratorRoutes } from "./http/integrator/routes";
import { inboxRoutes } from "./http/inboxes/routes";
import { inboxIdentityRoutes } from "./http/inboxes/identity";
import { jsonBody } from "./http/body";
import { rateLimit } from "./http/rate-limit";
import { realtimeRoutes } from "./http/realtime/routes";
import type { AppEnv } from "./http/context";
import { docsRoutes } from "./http/system/docs";
import { systemRoutes } from "./http/system/routes";
import { userRoutes } from "./http/users/routes";
import { sessionRoutes } from "./http/session/routes";
import { consoleRoutes } from "./http/system/console";
import { webhookEndpointRoutes } from "./http/webhook-endpoints/routes";
import { describeWebhooks } from "./http/webhooks";
import { timed, validation } from "./http/phases";
import { setAnswerHeader } from "./http/answer-headers";

export const API_VERSION = "1.0.0";

/** Builds the app once: middleware, every resource, the OpenAPI document and the one error model. */
export function buildApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use("*", async (c, next) => {
    c.set("requestId", c.req.header("cf-ray") ?? crypto.randomUUID());
    await next();
    setAnswerHeader(c, "x-request-id", c.get("requestId"));
  });
  app.use("*", secureHeaders({ crossOriginResourcePolicy: false, crossOriginOpenerPolicy: false }));
  app.use("*", async (c, next) => {
    await next();
    // API answers are data, never a page to render or frame; /docs sets its own policy.
    if (!c.res.headers.has("content-security-policy")) setAnswerHeader(c, "content-security-policy", "default-src 'none'; frame-ancestors 'none'");
  });
  app.use("/v1/*", async (c, next) => {
    await next();
    // Answers carry tokens, secrets and one account's data: no shared or browser cache may keep them.
    if (!c.res.headers.has("cache-control")) setAnswerHeader(c, "cache-control", "no-store");
  });
  // Idempotency is not here: it runs inside each POST route, after the route's own guard (see idempotent()).
  // Each named for `node bench/profile.mjs` (src/http/phases.ts); without its recorder they only call through.
  app.use("/v1/*", timed("parse/validate", jsonBody), timed("authenticate", authenticate), timed("rate limit", rateLimit), validation);

  app.route("/", systemRoutes);
  app.route("/", docsRoutes);
  app.route("/", accountRoutes);
  app.route("/", userRoutes);
  app.route("/", integratorRoutes);
  app.route("/", deliveryRoutes);
  app.route("/", conversationRoutes);
  app.route("/", accountContactRoutes);
  app.route("/", inboxRoutes);
  app.route("/", inboxIdentityRoutes);
  app.route("/", automationRoutes);
  app.route("/", webhookEndpointRoutes);
  app.route("/", attachmentRoutes);
  app.route("/", realtimeRoutes);
  app.route("/", sessionRoutes);
  app.route("/", consoleRoutes);
  // Chatwoot's surface (docs/chatwoot.md): its own auth, bodies and error shape; not in /openapi.json.
  app.route("/", chatwootClientRoutes);
  app.route("/", chatwootAppRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "A user token, or an inbox token on the integrator routes of its inbox (/v1/inboxes/…). In the web console the session cookie (sessionCookie) stands in for the user's token on every route a user token may call.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "platformToken", {
    type: "http",
    scheme: "bearer",
    description: "The operator's PLATFORM_TOKEN (a Worker secret): creates and configures accounts.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "sessionCookie", {
    type: "apiKey",
    in: "cookie",
    name: "edge_inbox_session",
    description: "The console's session (POST /v1/session). Changes made with it also need the session's csrf_token in X-CSRF-Token.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "realtimeTicket", {
    type: "apiKey",
    in: "query",
    name: "ticket",
    description: "A single-use ticket from POST /v1/accounts/{account_id}/realtime/tickets (60 s).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "pubsubToken", {
    type: "apiKey",
    in: "query",
    name: "pubsub_token",
    description: "The contact's pubsub_token, returned by the contact upsert (rotatable).",
  });
  describeWebhooks(app);
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "edge-inbox API",
      version: API_VERSION,
      description:
        "The API channel of a customer-conversation platform. Errors are RFC 9457 problem+json with a stable `code`.",
      contact: { name: "The operator of this edge-inbox deployment" },
      license: LICENSE,
    },
    servers: [{ url: "/" }],
    tags: API_TAGS,
  });

  app.notFound((c) => routeNotFound(app, c));
  app.onError(onError);
  return app;
}

/**
 * The project declares no licence (no LICENSE file; package.json is private): all rights reserved. An SPDX
 * `LicenseRef-` id says so in OpenAPI 3.1's `identifier` field, which doc31's config type (OpenAPI 3.0's) lacks.
 */
const LICENSE = { name: "Proprietary", identifier: "LicenseRef-Proprietary" };

/** Every tag an operation uses, in the order the reference shows them. */
const API_TAGS = [
  { name: "System", description: "Liveness of the service, for load balancers and uptime checks. No token." },
  { name: "Accounts", description: "Accounts and their rate limits. Created and configured by the operator with the PLATFORM_TOKEN." },
  { name: "Users", description: "Administrators and agents of an account, and their API tokens." },
  {
    name: "Inboxes",
    description: "API inboxes: where one integration's conversations arrive. Webhook URL and secret, members, inbox tokens for the integrator.",
  },
  {
    name: "Integrator",
    description:
      "What your server calls, with an inbox token under /v1/inboxes/{inbox_identifier}: contacts, conversations, incoming messages, delivery receipts, and the pull fallback of the events.",
  },
  {
    name: "Contacts",
    description:
      "The account's people for agents and administrators: find, read and correct contacts, and erase one (GDPR / LGPD) with an audit log.",
  },
  {
    name: "Agent",
    description: "What the people answering conversations use: the conversation list, history, replies and private notes, assignment, labels, status.",
  },
  {
    name: "Automation rules",
    description: "Rules that act on events: if the conditions hold, assign, label, reply, note, change status or POST the event to a URL.",
  },
  {
    name: "Realtime",
    description:
      "Live updates over WebSockets: the agents' stream per account (single-use tickets), a contact's stream for your live chat UI (pubsub_token), typing and last-seen.",
  },
  {
    name: "Webhook deliveries",
    description: "The delivery log of an inbox's webhooks, with every attempt, and the ways to recover: retry one delivery, replay since a time.",
  },
  {
    name: "Attachments",
    description: "Stored files: the signed, expiring data_url links that messages carry. No token: the signature is the permission.",
  },
  {
    name: "Console sessions",
    description: "Signing in to the web console at /app: email and password, one-time sign-in and invite links, sign-out, password change. The session cookie then works on every route a user token does.",
  },
  {
    name: "Webhooks",
    description:
      "Account-level webhook endpoints (each with its own secret, event and inbox filters, delivery log, retry and replay), and what edge-inbox POSTs to them and to an inbox's webhook_url: Standard Webhooks signatures, at-least-once, in sequence order per conversation.",
  },
];

/** 405 with Allow when the path exists under other methods, else 404; both as problems. */
const routePatterns = new WeakMap<OpenAPIHono<AppEnv>, { method: string; pattern: RegExp }[]>();

/** The app's routes as patterns, built once (the app is complete before it serves its first request). */
function patternsOf(app: OpenAPIHono<AppEnv>) {
  let patterns = routePatterns.get(app);
  if (!patterns) {
    patterns = app.routes
      .filter((route) => route.method !== "ALL" && !route.path.includes("*"))
      // Exactly as the router matches (strict: a trailing slash is another path), else a 405 would
      // list the very method that was used.
      .map((route) => ({ method: route.method, pattern: new RegExp("^" + route.path.replace(/:[^/]+/g, "[^/]+") + "$") }));
    routePatterns.set(app, patterns);
  }
  return patterns;
}

function routeNotFound(app: OpenAPIHono<AppEnv>, c: Context<AppEnv>): Response {
  const path = new URL(c.req.url).pathname;
  const allowed = new Set<string>();
  for (const route of patternsOf(app)) if (route.pattern.test(path)) allowed.add(route.method);
  if (allowed.size > 0) {
    const allow = [...allowed].sort().join(", ");
    return problemResponse(
      new ApiError("method_not_allowed", `${c.req.method} is not supported on ${path}; use ${allow}.`, {
        headers: { allow },
      }),
      path,
      c.get("requestId"),
    );
  }
  return problemResponse(
    new ApiError("route_not_found", `No route matches ${c.req.method} ${path}. See /openapi.json for the API.`),
    path,
    c.get("requestId"),
  );
}
