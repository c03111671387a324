// `npm run db:generate [-- --name what]`: drizzle-kit generate for both databases — the shard schema
// (drizzle.config.ts → migrations/shard/) and the control schema (drizzle.control.config.ts → migrations/control/).
// Each writes a migration only when its schema changed.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const drizzleKit = path.join(projectRoot, "node_modules", ".bin", "drizzle-kit");
for (const config of ["drizzle.config.ts", "drizzle.control.config.ts"]) {
  const result = spawnSync(drizzleKit, ["generate", "--config", config, ...process.argv.slice(2)], { cwd: projectRoot, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
