// Starts `wrangler dev` for this project in its own process group (killing only wrangler's PID would
// orphan workerd, which keeps the port and serves stale code), applies migrations first, and waits
// until /health answers. Used by `npm start`, the README walk-through check, the crash test and the
// benchmark. The group is led by scripts/guardian.mjs, which kills it when this process dies — even by
// SIGKILL — so nothing is left running.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const wranglerBin = path.join(projectRoot, "node_modules", ".bin", "wrangler");
const guardianScript = path.join(projectRoot, "scripts", "guardian.mjs");

const quietEnv = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  // Node 22 from node_modules/.bin first: wrangler refuses to run on the machine's Node 20.
  PATH: `${path.join(projectRoot, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}`,
};

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The D1 bindings of a config to migrate: for edge-inbox, CONTROL and every SHARD_… (docs/scaling.md). */
export function databaseBindings(config = "wrangler.toml") {
  const text = readFileSync(path.resolve(projectRoot, config), "utf8");
  const blocks = text.split(/^\[\[/m).filter((block) => block.startsWith("d1_databases]]"));
  const bindings = blocks.map((block) => /^\s*binding\s*=\s*"([^"]+)"/m.exec(block)?.[1]).filter(Boolean);
  if (bindings.length === 0) throw new Error(`${config} binds no D1 database`);
  return bindings;
}

/** Applies the migrations of the control database and of every shard (each shard gets migrations/shard/). */
export function applyMigrations({ persistTo, config = "wrangler.toml" } = {}) {
  for (const binding of databaseBindings(config)) {
    const args = ["d1", "migrations", "apply", binding, "--local", "--config", config];
    if (persistTo) args.push("--persist-to", persistTo);
    const result = spawnSync(wranglerBin, args, { cwd: projectRoot, env: { ...quietEnv, CI: "true" }, encoding: "utf8" });
    if (result.status !== 0) {
      throw new Error(`wrangler d1 migrations apply ${binding} failed:\n${result.stdout}\n${result.stderr}`);
    }
  }
}

/**
 * @param {{ port: number, persistTo?: string, vars?: Record<string,string>, config?: string,
 *           stdio?: "inherit" | "ignore" | "pipe", extraArgs?: string[] }} options
 */
export async function startDevServer({ port, persistTo, vars = {}, config = "wrangler.toml", stdio = "ignore", extraArgs = [] }) {
  applyMigrations({ persistTo, config });
  const args = ["dev", "--config", config, "--port", String(port), "--ip", "127.0.0.1", "--show-interactive-dev-session=false"];
  if (persistTo) args.push("--persist-to", persistTo);
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  args.push(...extraArgs);
  // `child` is the guardian (the group's leader; wrangler and workerd are in its group). Its stdin is a pipe
  // from us that only our death closes.
  const child = spawn(process.execPath, [guardianScript, wranglerBin, ...args], {
    cwd: projectRoot,
    env: quietEnv,
    stdio: ["pipe", stdio, stdio],
    detached: true,
  });
  let exited = false;
  child.once("exit", () => (exited = true));

  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const deadline = Date.now() + 5000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!exited) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`wrangler dev exited before it was ready (port ${port})`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer /health within 60 s (port ${port})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, child, stop };
}
