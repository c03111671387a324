// `npm run lint:api`: exports the OpenAPI document (scripts/export-openapi.mjs, no server) and lints it
// with two stock rule sets, Redocly `recommended` (redocly.yaml) and Spectral `spectral:oas`
// (.spectral.yaml). Zero tolerance: any error or warning from either fails the run. Offline.
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const doc = "dist/openapi.json";
const run = (command, args, options = {}) =>
  spawnSync(command, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...options });

const exported = run(process.execPath, ["scripts/export-openapi.mjs", doc], { stdio: "inherit" });
if (exported.status !== 0) process.exit(exported.status ?? 1);

// Redocly exits 0 on warnings; its JSON report gives the totals to judge by.
const redocly = run("redocly", ["lint", doc, "--config", "redocly.yaml", "--format", "json"]);
let report;
try {
  report = JSON.parse(redocly.stdout);
} catch {
  console.error(redocly.stdout);
  console.error(`redocly lint failed to report (exit ${redocly.status})`);
  process.exit(1);
}
for (const problem of report.problems) {
  const where = problem.location?.[0]?.pointer ?? "";
  console.log(`  ${problem.severity.padEnd(5)} ${problem.ruleId.padEnd(28)} ${where}  ${problem.message}`);
}
const { errors, warnings, ignored } = report.totals;
console.log(`redocly ${report.version} recommended: ${errors} errors, ${warnings} warnings (${ignored} explicitly ignored in .redocly.lint-ignore.yaml)`);

// Spectral: every result, down to hints, fails the run.
const spectral = run("spectral", ["lint", doc, "--ruleset", ".spectral.yaml", "--fail-severity", "hint"], { stdio: "inherit" });
console.log(`spectral spectral:oas: exit ${spectral.status}`);

process.exit(errors + warnings > 0 || spectral.status !== 0 ? 1 : 0);
