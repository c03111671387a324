// SSRF: every URL field of every request body in /openapi.json (an inbox's webhook_url, an automation's
// send_webhook_event URL, whatever comes next) refuses addresses the Worker must never call. Tests run
// with ALLOW_LOOPBACK_WEBHOOKS=true, which allows http://127.0.0.1 and http://localhost only.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "../support/api";
import { exampleValue, fillPath, loadDocument, resolve, type Operation, type Schema } from "./openapi";
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

type UrlSlot = { path: (string | number)[]; schemas: Schema[] };

/** String fields named like a URL, through objects, arrays and the alternatives of unions. */
function urlSlots(node: Schema, path: (string | number)[] = [], schemas: Schema[] = [], depth = 0): UrlSlot[] {
  const schema = resolve(doc, node);
  if (!schema || depth > 8) return [];
  const here = [...schemas, schema];
  const found: UrlSlot[] = [];
  const name = path[path.length - 1];
  if (typeof name === "string" && /(^|_)url$/i.test(name)) found.push({ path, schemas: here });
  for (const alternative of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])]) {
    found.push(...urlSlots(alternative, path, schemas, depth + 1));
  }
  for (const [property, child] of Object.entries<Schema>(schema.properties ?? {})) {
    found.push(...urlSlots(child, [...path, property], here, depth + 1));
  }
  if (schema.items && !Array.isArray(schema.items)) found.push(...urlSlots(schema.items, [...path, 0], here, depth + 1));
  return found;
}

/** A valid body with the URL field set: parents are built from the schema branch that holds the field. */
function bodyWith(op: Operation, slot: UrlSlot, url: string): unknown {
  const root = exampleValue(doc, op.body!.schema) as any;
  let node = root;
  for (let i = 0; i < slot.path.length - 1; i++) {
    const key = slot.path[i]!;
    const made = exampleValue(doc, slot.schemas[i + 1]!);
    if (typeof slot.path[i + 1] === "number") node[key] = [made];
    else if (typeof key === "number" && Array.isArray(node)) node[key] = made;
    else if (node[key] === undefined || typeof node[key] !== "object") node[key] = made;
    node = node[key];
  }
  node[slot.path[slot.path.length - 1]!] = url;
  return root;
}

const { doc, operations } = await loadDocument();
const targets = operations.flatMap((op) =>
  op.body && op.method !== "GET" ? urlSlots(op.body.schema).map((slot) => [`${op.id} /${slot.path.join("/")}`, op, slot] as const) : [],
);

let world: World;
let tables: string[];
beforeAll(async () => {
  world = await buildWorld(operations, { tenants: 1, webhooks: false });
  tables = await tableNames();
}, 120_000);

describe("URL fields refuse private, loopback, metadata and non-https addresses", () => {
  if (targets.length === 0) it.skip("no operation takes a URL yet", () => {});
  it.each(targets)("%s", async (_, op, slot) => {
    const path = fillPath(op, paramsFor(world.a.main, op));
    const pointer = "/" + slot.path.join("/");
    for (const url of REFUSED) {
      const before = await rowCounts(tables);
      const res = await api(op.method, path, { token: op.platformOnly ? undefined : world.a.adminToken, body: bodyWith(op, slot, url) });
      const what = `${op.method} ${op.path} with ${pointer}=${url}: ${res.status} ${res.text}`;
      expect(res.status, what).toBe(422);
      expect(res.headers.get("content-type"), what).toBe("application/problem+json");
      expect(res.body.errors?.map((error: { pointer: string }) => error.pointer), what).toContain(pointer);
      expect(await rowCounts(tables), `${what}\nrow counts changed`).toEqual(before);
    }
    // Control: the same body with an allowed URL passes the URL check, so the refusals above are the URL's.
    const allowed = await api(op.method, path, { token: world.a.adminToken, body: bodyWith(op, slot, `${env.RECEIVER_URL}/ssrf-control`) });
    const pointers = (allowed.body?.errors ?? []).map((error: { pointer: string }) => error.pointer);
    expect(pointers, `${op.method} ${op.path} with an allowed URL: ${allowed.status} ${allowed.text}`).not.toContain(pointer);
    expect(allowed.status, allowed.text).toBeLessThan(500);
  });
});
