// A killed `npm start` leaves nothing running: starts `npm start` (scripts/start.mjs) on a free port and a
// fresh state folder, kills its whole process group with SIGKILL (a power cut, an OOM kill), and checks
// that within a few seconds wrangler's group is gone and the port is free again. Part of `npm test`.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, projectRoot } from "./dev-server.mjs";

/** Starts `npm start` in its own group; resolves once it printed its credentials. */
export async function startNpmStart({ port, persistTo, timeoutMs = 90_000, log = () => {} }) {
  const child = spawn(process.execPath, [path.join(projectRoot, "scripts", "start.mjs")], {
    cwd: projectRoot,
    env: { ...process.env, PORT: String(port), PERSIST_TO: persistTo },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  const collect = (chunk) => {
    output += chunk;
    log(String(chunk));
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const deadline = Date.now() + timeoutMs;
  while (!/ADMIN_TOKEN=\S+/.test(output)) {
    if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}) before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      killGroup(child.pid);
      throw new Error(`npm start was not ready within ${timeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const value = (name) => output.match(new RegExp(`${name}=(\\S+)`))[1];
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    platformToken: value("PLATFORM_TOKEN"),
    accountId: value("ACCOUNT_ID"),
    adminToken: value("ADMIN_TOKEN"),
    output: () => output,
  };
}

export function killGroup(groupId, signal = "SIGKILL") {
  try {
    process.kill(-groupId, signal);
  } catch {}
}

/** Pids of processes whose command line names this port (wrangler and its guardian), with their groups. */
export function processesOnPort(port) {
  const lines = execFileSync("ps", ["-eo", "pid=,pgid=,args="], { encoding: "utf8" }).split("\n");
  return lines
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((match) => match && match[3].includes("wrangler") && match[3].includes(`--port ${port}`))
    .map((match) => ({ pid: Number(match[1]), pgid: Number(match[2]), args: match[3] }));
}

export function groupMembers(pgid) {
  try {
    return execFileSync("ps", ["-o", "pid=,args=", "-g", String(pgid)], { encoding: "utf8" }).split("\n").map((line) => line.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

export async function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** SIGKILLs the group of `npm start`; resolves with how long until wrangler's group was gone and the port free. */
export async function killAndWaitForCleanUp(started, port, timeoutMs = 10_000) {
  const groups = [...new Set(processesOnPort(port).map((item) => item.pgid))];
  const killedAt = Date.now();
  killGroup(started.child.pid);
  for (;;) {
    const left = groups.flatMap(groupMembers);
    if (left.length === 0 && (await portIsFree(port))) return { ms: Date.now() - killedAt, groups };
    if (Date.now() - killedAt > timeoutMs) {
      for (const group of groups) killGroup(group);
      throw new Error(`${timeoutMs / 1000} s after SIGKILL, still running: ${left.join(" | ") || `(port ${port} busy)`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = await freePort();
  const persistTo = mkdtempSync(path.join(tmpdir(), "edge-inbox-orphans-"));
  try {
    const started = await startNpmStart({ port, persistTo });
    const health = await fetch(`${started.url}/health`);
    if (!health.ok) throw new Error(`/health answered ${health.status}`);
    const groups = processesOnPort(port);
    if (groups.length === 0) throw new Error("found no wrangler process for the port: the check would prove nothing");
    const { ms } = await killAndWaitForCleanUp(started, port);
    console.log(`check-orphans: npm start killed with SIGKILL; wrangler's group gone and port ${port} free after ${ms} ms`);
  } finally {
    rmSync(persistTo, { recursive: true, force: true });
  }
}
