import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";

describe("GET /docs", () => {
  it("is an HTML page that loads its reference only from this origin", async () => {
    const res = await api("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    const assets = [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets).toEqual(["/vendor/swagger-ui/swagger-ui.css", "/vendor/swagger-ui/swagger-ui-bundle.js", "/docs.js"]);
    expect(res.text).not.toMatch(/https?:\/\//);
  });

  it("every file it loads is in the Worker's static assets (committed, no build step)", async () => {
    const page = await api("GET", "/docs");
    for (const [, asset] of page.text.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const file = await env.ASSETS.fetch(new Request(`http://edge-inbox.test${asset}`));
      expect(file.status, asset).toBe(200);
      expect((await file.arrayBuffer()).byteLength, asset).toBeGreaterThan(100);
    }
  });

  it("points Swagger UI at /openapi.json with the online validator badge turned off", async () => {
    const script = await (await env.ASSETS.fetch(new Request("http://edge-inbox.test/docs.js"))).text();
    expect(script).toContain('url: "/openapi.json"');
    expect(script).toContain("validatorUrl: null");
  });
});
