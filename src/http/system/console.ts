import { Hono } from "hono";
import type { AppEnv } from "../context";

// The web console (docs/console.md): a single-page app whose script and styles are static assets built
// from console/ into public/app/ (scripts/build-console.mjs). Every path under /app that is not a file
// gets this page (the app routes in the browser). It talks to the public API with the session cookie.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-inbox</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app/console.css">
</head>
<body>
<div id="app"><p>Loading the console…</p></div>
<noscript>The console needs JavaScript.</noscript>
<script type="module" src="/app/console.js"></script>
</body>
</html>
`;

/** Only this origin: scripts, styles, images (attachments are served by this Worker), the API and its WebSocket. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function shell(c: import("hono").Context<AppEnv>) {
  c.header("content-security-policy", CONSOLE_CSP);
  c.header("cache-control", "no-cache");
  return c.html(page);
}

export const consoleRoutes = new Hono<AppEnv>().get("/app", shell).get("/app/*", shell);
