// Writes the API's OpenAPI document to dist/openapi.json without a server or workerd: bundles
// src/app.ts for Node (the Durable Object classes' `cloudflare:workers` import becomes an empty base
// class; building the document never touches a binding) and asks the app for GET /openapi.json.
// Usage: node scripts/export-openapi.mjs [out-file]
import { build } from "esbuild";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(root, process.argv[2] ?? "dist/openapi.json");
const bundle = join(root, "dist", `openapi-export-${process.pid}.mjs`);

const cloudflareStub = {
  name: "cloudflare-stub",
  setup(b) {
    b.onResolve({ filter: /^cloudflare:/ }, (args) => ({ path: args.path, namespace: "cloudflare-stub" }));
    b.onLoad({ filter: /.*/, namespace: "cloudflare-stub" }, () => ({
      contents: "export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }\nexport const env = {};\nexport function waitUntil() {}\n",
      loader: "js",
    }));
  },
};

await mkdir(dirname(bundle), { recursive: true });
try {
  await build({
    stdin: { contents: 'export { buildApp } from "./src/app";', resolveDir: root, loader: "ts" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    outfile: bundle,
    logLevel: "error",
    plugins: [cloudflareStub],
  });
  const { buildApp } = await import(pathToFileURL(bundle).href);
  const res = await buildApp().request("/openapi.json");
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}: ${await res.text()}`);
  const doc = await res.json();
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(doc, null, 2) + "\n");
  console.log(`wrote ${out} (${Object.keys(doc.paths).length} paths, ${Object.keys(doc.webhooks ?? {}).length} webhooks)`);
} finally {
  await rm(bundle, { force: true });
}
