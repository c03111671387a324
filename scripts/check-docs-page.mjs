// Checks /docs in a real browser, offline: starts `wrangler dev` on a free port with a fresh state
// folder, opens /docs in headless Chromium that cannot resolve any host but 127.0.0.1, and confirms
// every path of /openapi.json was rendered. Leaves a screenshot to look at. Not part of `npm test`
// (needs Debian's chromium: `apt-get install -y chromium`). Usage: npm run check:docs
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, startDevServer } from "./dev-server.mjs";

const run = promisify(execFile);
const browser = process.env.CHROMIUM ?? "chromium";
const work = mkdtempSync(path.join(tmpdir(), "edge-inbox-docs-"));
const screenshot = process.env.SCREENSHOT ?? path.join(work, "docs.png");

function chromiumArgs(profile) {
  return [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    `--user-data-dir=${path.join(work, profile)}`,
    // No internet for the page: any host other than the local server fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    // Let Swagger UI fetch /openapi.json and render before the DOM is taken.
    "--virtual-time-budget=20000",
    "--window-size=1280,1800",
  ];
}

const port = await freePort();
const server = await startDevServer({
  port,
  persistTo: path.join(work, "state"),
  vars: { PLATFORM_TOKEN: "docs-check-platform-token-0123456789" },
});
let failed = false;
try {
  const document = await (await fetch(`${server.url}/openapi.json`)).json();
  const paths = Object.keys(document.paths);
  const url = `${server.url}/docs`;

  const { stdout: dom } = await run(browser, [...chromiumArgs("dump"), "--dump-dom", url], { maxBuffer: 64 * 1024 * 1024 });
  const rendered = new Set([...dom.matchAll(/data-path="([^"]+)"/g)].map((match) => match[1]));
  const operations = (dom.match(/class="opblock opblock-/g) ?? []).length;
  const missing = paths.filter((p) => !rendered.has(p));
  console.log(`/docs rendered ${operations} operations over ${rendered.size} of ${paths.length} paths`);
  if (missing.length > 0 || operations === 0) {
    failed = true;
    console.error(`not rendered: ${missing.join(", ") || "(no operations at all)"}`);
  }
  if (/Failed to load API definition|Fetch error/i.test(dom)) {
    failed = true;
    console.error("Swagger UI reports it could not load /openapi.json");
  }

  await run(browser, [...chromiumArgs("shot"), `--screenshot=${screenshot}`, url]);
  console.log(`screenshot: ${screenshot}`);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await server.stop();
  for (const dir of ["state", "dump", "shot"]) rmSync(path.join(work, dir), { recursive: true, force: true });
}
console.log(failed ? "docs check FAILED" : "docs check passed");
process.exit(failed ? 1 : 0);
