// SSRF: every place in a request body of /openapi.json where a client names a URL the platform will
// call (an inbox's webhook_url, an automation's send_webhook_event, …) refuses addresses the Worker
// must never call. Tests run with ALLOW_LOOPBACK_WEBHOOKS=true, which allows http://127.0.0.1 and
// http://localhost only.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, TEST_PLATFORM_TOKEN, type ApiResponse } from "../support/api";
import { exampleValue, fillPath, flattenAllOf, loadDocument, type Operation, type Schema } from "./openapi";
import { buildWorld, paramsFor, rowCounts, tableNames, type World } from "./world";

// https throughout, so each address is refused for what it is, not for being http.
const REFUSED = [
  "https://10.0.0.1/hook",
  "https://172.16.5.4/hook",
  "https://192.168.1.1/hook",
  "https://100.64.0.1/hook",
  "https://169.254.169.254/latest/meta-data/",
  "https://metadata.google.internal/computeMetadata/v1/",
  "https://0.0.0.0/hook",
  "https://127.0.0.2/hook",
  "https://[::1]/hook",
  "https://[::ffff:127.0.0.1]/hook",
  "https://[::ffff:169.254.169.254]/hook",
  "https://[fd00::1]/hook",
  "https://[fe80::1]/hook",
  "https://167772161/hook", // 10.0.0.1 as one number
  "https://0xa9.0xfe.0xa9.0xfe/hook", // 169.254.169.254 in hex
  "https://user:secret@example.com/hook",
  "https://printer.local/hook",
  "https://intranet/hook",
  "http://example.com/hook",
  "ftp://example.com/hook",
  "file:///etc/passwd",
  "javascript:alert(1)",
  "data:text/plain,hello",
  "not a url",
  "https://",
];

/** Where a request puts a URL that the platform will later call, and how to put one there. */
type CallSite = { label: string; pointer: string; body: (url: string) => unknown };

/**
 * The URLs the platform calls: every `…webhook_url` / `…callback_url` field (through objects, arrays and
 * unions), every field marked `x-called-by-platform` (an account-level endpoint's `url`), and automation actions `{name: "send_webhook_event", params: [url]}`. Other URL fields (an
 * attachment's url) are links the platform stores and shows, never fetches.
 */
function callSites(op: Operation): CallSite[] {
  const root = op.body!.schema;
  const sites: CallSite[] = [];
  const walk = (node: Schema, path: (string | number)[], schemas: Schema[], depth: number) => {
    const schema = flattenAllOf(doc, node);
    if (!schema || depth > 8) return;
    const here = [...schemas, schema];
    const name = path[path.length - 1];
    if (typeof name === "string" && (/(webhook|callback)_url$/i.test(name) || schema["x-called-by-platform"] === true)) {
      sites.push({ label: "/" + path.join("/"), pointer: "/" + path.join("/"), body: (url) => bodyWith(root, path, here, url) });
    }
    const items = flattenAllOf(doc, schema.items ?? {});
    if (name === "actions" && items?.properties?.name && items?.properties?.params) {
      const pointer = "/" + [...path, 0].join("/");
      sites.push({
        label: `${pointer} send_webhook_event`,
        pointer,
        body: (url) => bodyWith(root, path, here, [{ name: "send_webhook_event", params: [url] }]),
      });
    }
    for (const alternative of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) walk(alternative, path, schemas, depth + 1);
    for (const [property, child] of Object.entries<Schema>(schema.properties ?? {})) walk(child, [...path, property], here, depth + 1);
    if (schema.items && !Array.isArray(schema.items)) walk(schema.items, [...path, 0], here, depth + 1);
  };
  walk(root, [], [], 0);
  return sites;
}

/** A valid body with `value` at `path`: parents are built from the schema branch that holds the field. */
function bodyWith(root: Schema, path: (string | number)[], schemas: Schema[], value: unknown): unknown {
  const body = exampleValue(doc, root) as any;
  let node = body;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const made = exampleValue(doc, schemas[i + 1]!);
    if (typeof path[i + 1] === "number") node[key] = [made];
    else if (node[key] === undefined || node[key] === null || typeof node[key] !== "object") node[key] = made;
    node = node[key];
  }
  node[path[path.length - 1]!] = value;
  return body;
}

const { doc, operations } = await loadDocument();
const targets = operations.flatMap((op) =>
  op.body && op.method !== "GET" ? callSites(op).map((site) => [`${op.id} ${site.label}`, op, site] as const) : [],
);

let world: World;
let tables: string[];
beforeAll(async () => {
  world = await buildWorld(operations, { tenants: 1, webhooks: false });
  tables = await tableNames();
}, 120_000);

describe("URL fields refuse private, loopback, metadata and non-https addresses", () => {
  it("finds the operations that take a URL the platform calls (inbox webhooks, rule webhooks)", () => {
    expect(targets.length).toBeGreaterThanOrEqual(2);
  });
  it.each(targets)("%s", async (_, op, site) => {
    const path = fillPath(op, paramsFor(world.a.main, op));
    const token = op.platformOnly ? TEST_PLATFORM_TOKEN : world.a.adminToken;
    const names = (res: ApiResponse) => (res.body?.errors ?? []).map((error: { pointer: string }) => error.pointer) as string[];
    for (const url of REFUSED) {
      const before = await rowCounts(tables);
      const res = await api(op.method, path, { token, body: site.body(url) });
      const what = `${op.method} ${op.path} with ${site.label} = ${url}: ${res.status} ${res.text}`;
      expect(res.status, what).toBe(422);
      expect(res.headers.get("content-type"), what).toBe("application/problem+json");
      expect(names(res).some((pointer) => pointer.startsWith(site.pointer)), what).toBe(true);
      expect(await rowCounts(tables), `${what}\nrow counts changed`).toEqual(before);
    }
    // Control: the same body with an allowed URL passes the URL check, so the refusals above are the URL's.
    const allowed = await api(op.method, path, { token, body: site.body(`${env.RECEIVER_URL}/ssrf-control`) });
    const what = `${op.method} ${op.path} with an allowed URL: ${allowed.status} ${allowed.text}`;
    expect(names(allowed).some((pointer) => pointer.startsWith(site.pointer)), what).toBe(false);
    expect(allowed.status, what).toBeLessThan(500);
  });
});
