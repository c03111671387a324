// Hosts a Worker for the benchmark with `wrangler dev` (scripts/dev-server.mjs: migrations, own process
// group, waits for /health) and finds the URL of the Worker behind wrangler's proxy.
//
// `wrangler dev` runs two workerd processes: a proxy (the port you pass) whose ProxyWorker funnels every
// request through one Durable Object and re-fetches it from the user Worker's own socket. The bench
// measures both ports, so the proxy's cost is a number in the results, and drives the scenarios through
// the same path as the ceilings.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, startDevServer } from "../../scripts/dev-server.mjs";

/**
 * @param {{ name: string, config?: string, vars?: Record<string,string>, persistTo?: string }} options
 *   persistTo: the state folder; a fresh temporary one unless given (to restart on the same state).
 * @returns {Promise<{ url: string, proxyUrl: string, directUrl: string | null, persistTo: string, stop: () => Promise<void> }>}
 */
export async function startHost({ name, config = "wrangler.toml", vars = {}, persistTo = mkdtempSync(path.join(tmpdir(), `edge-inbox-bench-${name}-`)) }) {
  const port = await freePort();
  const server = await startDevServer({
    port,
    persistTo,
    config,
    vars,
    // BENCH_WRANGLER_LOGS=1 shows wrangler's output (requests, the Worker's console) for debugging.
    stdio: process.env.BENCH_WRANGLER_LOGS ? "inherit" : "ignore",
    // Its own inspector port: the default 9229 may be taken by another wrangler on this machine.
    extraArgs: ["--inspector-port", String(await freePort())],
  });
  const directUrl = await findDirectUrl(server.child.pid, port, server.url).catch(() => null);
  const groupId = server.child.pid;
  return {
    url: server.url,
    proxyUrl: server.url,
    directUrl,
    persistTo,
    stop: server.stop,
    /** CPU seconds used so far by every process wrangler dev started (wrangler, both workerd). */
    cpuSeconds: () => cpuSecondsOfGroup(groupId),
    /** Resident memory (bytes) of each process wrangler dev started, by pid with its command name. */
    rss: () => rssOfGroup(groupId),
    /** Resident memory of every process wrangler dev started, in bytes. */
    rssBytes: () => rssBytesOfGroup(groupId),
  };
}

const CLOCK_TICKS = 100;

/** utime + stime of every process in the group, from /proc (Linux); 0 where unreadable. */
export function cpuSecondsOfGroup(groupId) {
  let ticks = 0;
  for (const pid of pidsOfGroup(groupId)) {
    try {
      // The command name may contain spaces; fields after it start at ") ".
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return ticks / CLOCK_TICKS;
}

/** { pid: { name, bytes } } of VmRSS for every process in the group (Linux /proc). */
export function rssOfGroup(groupId) {
  const out = {};
  for (const pid of pidsOfGroup(groupId)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      out[pid] = { name: /Name:\s+(\S+)/.exec(status)?.[1] ?? "?", bytes: kb * 1024 };
    } catch {}
  }
  return out;
/** VmRSS of every process in the group, from /proc (Linux); 0 where unreadable. */
export function rssBytesOfGroup(groupId) {
  let kb = 0;
  for (const pid of pidsOfGroup(groupId)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return kb * 1024;
}

function pidsOfGroup(groupId) {
  try {
    return execFileSync("ps", ["-o", "pid=", "-g", String(groupId)], { encoding: "utf8" })
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The user Worker's own socket: a port listened on by a process of wrangler's group, other than the
 * proxy's, that answers GET /health exactly as the proxy does. Linux only (/proc); null elsewhere.
 */
async function findDirectUrl(groupId, proxyPort, proxyUrl) {
  const expected = await (await fetch(`${proxyUrl}/health`)).text();
  for (const port of listeningPortsOfGroup(groupId)) {
    if (port === proxyPort) continue;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200 && (await response.text()) === expected) return `http://127.0.0.1:${port}`;
    } catch {}
  }
  return null;
}

function listeningPortsOfGroup(groupId) {
  const pids = pidsOfGroup(groupId);
  const inodes = new Set();
  for (const pid of pids) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]);
      } catch {}
    }
  }
  const ports = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // fields: sl local_address rem_address st … inode (index 9); st 0A = LISTEN.
    if (fields.length < 10 || fields[3] !== "0A" || !inodes.has(fields[9])) continue;
    ports.push(parseInt(fields[1].split(":")[1], 16));
  }
  return ports;
}
