// Builds the web console (console/ → public/app/console.js + console.css) with esbuild. Deterministic and
// quick (≈ 0.2 s), so it runs before `npm start`, the tests and the deploy dry run instead of being committed
// (public/app/ is git-ignored). `--check-size` fails when the script is over the first-load budget.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { projectRoot } from "./dev-server.mjs";

/** docs/console.md: the first load carries at most this much JavaScript, gzip-compressed. */
const BUDGET_BYTES = 200 * 1024;
const outdir = path.join(projectRoot, "public", "app");
mkdirSync(outdir, { recursive: true });

await build({
  entryPoints: [path.join(projectRoot, "console", "main.tsx")],
  outfile: path.join(outdir, "console.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
  absWorkingDir: projectRoot,
});
copyFileSync(path.join(projectRoot, "console", "console.css"), path.join(outdir, "console.css"));

const js = readFileSync(path.join(outdir, "console.js"));
const gzipped = gzipSync(js, { level: 9 }).length;
if (process.argv.includes("--check-size") || process.argv.includes("--verbose")) {
  console.log(`console.js: ${js.length} bytes, ${gzipped} bytes gzip (budget ${BUDGET_BYTES})`);
}
if (gzipped > BUDGET_BYTES) {
  console.error(`console.js is ${gzipped} bytes gzip, over the ${BUDGET_BYTES} byte budget (docs/console.md)`);
  process.exit(1);
}
