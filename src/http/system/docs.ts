import { Hono } from "hono";
import type { AppEnv } from "../context";

// The rendered API reference. Swagger UI's bundle is served from this Worker's static assets
// (public/vendor/swagger-ui/, copied by scripts/vendor-docs.mjs), so the page needs no CDN and works
// offline. It is not an API operation, so it is not in /openapi.json.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-inbox API reference</title>
<link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="api-reference"></div>
<script src="/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/docs.js"></script>
</body>
</html>
`;

/** Only this origin's scripts and data; Swagger UI sets inline styles, so style-src allows them. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const docsRoutes = new Hono<AppEnv>().get("/docs", (c) => {
  c.header("content-security-policy", DOCS_CSP);
  c.header("cache-control", "no-cache");
  return c.html(page);
});
