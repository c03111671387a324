// `node bench/profile.mjs`: where one request's time goes. Runs the product with counted bindings
// (bench/profile/entry.ts) under wrangler dev and, per kind of request: sends 20 one at a time and counts
// D1 round trips (reads, writes, batches, by SQL), Durable Object calls and queue sends — including the
// work the request leaves behind (waitUntil, the queue consumer delivering its webhooks) — then 300 at 32
// connections for throughput and the server's CPU per request. `--json` prints the raw tallies too;
// `--only "known contact"` profiles only the requests whose name contains the text ("a|b": either), `--ceiling`
// adds the write-ceiling row to them.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../scripts/dev-server.mjs";
import { apiClient } from "./lib/api.mjs";
import { startHost } from "./lib/host.mjs";
import { load, percentile, round, setServerCpuSampler } from "./lib/load.mjs";
import { startReceiver } from "./lib/receiver.mjs";
import { seedAccount } from "./lib/seed.mjs";

/** The phases in the order a request meets them (bench/profile/entry.ts, src/http/phases.ts). */
const PHASES = [
  "framework (routing, headers)",
  "parse/validate",
  "authenticate",
  "rate limit",
  "idempotency",
  "route handler",
  "Durable Object hop (conversation)",
  "conversation object (own work)",
  "D1 round trips",
  "events/outbox",
  "serialise",
  "queue consumer (delivery, rules)",
];

const N = 20;
const LOAD_CONNECTIONS = 32;
const LOAD_REQUESTS = 300;
/** Nothing counted for this long = the background work of the requests is over. */
const QUIET_MS = 1500;
const PLATFORM_TOKEN = `bench-platform-${crypto.randomUUID()}`;
const CONTENT = "Hello! My order #48213 has not arrived yet, can you check where it is?";

// `--only <text>`: profile just the requests whose name contains it (and skip the write-ceiling row).
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const cases = [];
// `--ceiling`: the write-ceiling row too, with `--only` (a ratio measured in the same run).
if (only === undefined || process.argv.includes("--ceiling")) await profileWriteCeiling();

const config = generateConfig();
const receiver = await startReceiver();
const host = await startHost({
  name: "profile",
  config,
  vars: {
    PLATFORM_TOKEN,
    ALLOW_LOOPBACK_WEBHOOKS: "true",
    WEBHOOK_RETRY_DELAYS: "1,1",
    WEBHOOK_TIMEOUT_MS: "5000",
    RATE_LIMIT_PER_TOKEN: "1000000000",
    RATE_LIMIT_PER_INBOX: "1000000000",
  },
});
setServerCpuSampler(host.cpuSeconds);
const base = host.directUrl ?? host.proxyUrl;
const api = apiClient(() => base);
try {
  const { accountId, admin, inbox } = await seedAccount(api, PLATFORM_TOKEN, "Profile");
  const quiet = await inbox("No webhook");
  const hook = receiver.endpoint("profile");
  const loud = await inbox("With webhook", hook.url);
  hook.setSecret(loud.secret);

  const ingest = (target, contact, extra = {}) => ({
    method: "POST",
    path: `/v1/inboxes/${target.identifier}/messages`,
    token: target.token,
    body: { contact: { source_id: contact }, content: CONTENT },
    ...extra,
  });
  // Contacts that exist already (with their open conversation) for the steady-state cases.
  for (const target of [quiet, loud]) {
    for (let i = 0; i < N; i++) await api.call("POST", `/v1/inboxes/${target.identifier}/messages`, { token: target.token, body: ingest(target, `known-${i}`).body, expect: 201 });
  }
  const conversation = (await api.call("POST", `/v1/inboxes/${quiet.identifier}/messages`, { token: quiet.token, body: ingest(quiet, "known-0").body, expect: 201 })).json.conversation.id;
  const loudConversation = (await api.call("POST", `/v1/inboxes/${loud.identifier}/messages`, { token: loud.token, body: ingest(loud, "known-0").body, expect: 201 })).json.conversation.id;
  // Row 2's body (bench/run.mjs): the contact with a name.
  const hot = () => ingest(quiet, "hot-customer", { body: { contact: { source_id: "hot-customer", name: "Hot Customer" }, content: CONTENT } });
  await api.call("POST", `/v1/inboxes/${quiet.identifier}/messages`, { token: quiet.token, body: hot().body, expect: 201 });
  for (let i = 0; i < 120; i++) {
    await api.call("POST", `/v1/inboxes/${quiet.identifier}/conversations/${conversation}/messages`, { token: quiet.token, body: { content: CONTENT }, expect: 201 });
  }
  await quietTally();

  await profile("GET unknown path (404, no I/O)", () => ({ method: "GET", path: "/profile/no-such-route" }), 404);
  await profile("GET /health (one D1 read)", () => ({ method: "GET", path: "/health" }), 200);
  await profile("POST /messages, new contact, inbox without webhook", (i) => ingest(quiet, `new-${i}`));
  await profile("POST /messages, known contact, inbox without webhook", (i) => ingest(quiet, `known-${i % N}`));
  // Row 2 of the bench: every request into ONE conversation, so its Durable Object is the bottleneck.
  await profile("POST /messages, one hot conversation (32 connections)", hot);
  await profile("POST /messages, known contact, with Idempotency-Key", (i) => ingest(quiet, `known-${i % N}`, { headers: { "idempotency-key": `profile-${i}` } }));
  await profile("POST /messages, known contact, inbox with webhook (incl. delivery)", (i) => ingest(loud, `known-${i % N}`));
  await profile("POST …/conversations/{id}/messages, inbox without webhook", () => ({
    method: "POST",
    path: `/v1/inboxes/${quiet.identifier}/conversations/${conversation}/messages`,
    token: quiet.token,
    body: { content: CONTENT },
  }));
  await profile("Agent reply, inbox with webhook (incl. delivery)", () => ({
    method: "POST",
    path: `/v1/accounts/${accountId}/conversations/${loudConversation}/messages`,
    token: admin,
    body: { content: "Your parcel left the warehouse this morning." },
  }));
  await profile("GET …/messages?limit=100 (history page)", () => ({
    method: "GET",
    path: `/v1/inboxes/${quiet.identifier}/conversations/${conversation}/messages?limit=100`,
    token: quiet.token,
  }), 200);
} finally {
  await host.stop();
  rmSync(host.persistTo, { recursive: true, force: true });
  await receiver.close();
}
print();

/** The calibration row: the minimal Worker's one-INSERT request, measured the same way (not counted by a wrapper). */
async function profileWriteCeiling() {
  const ceiling = await startHost({ name: "profile-write-ceiling", config: "bench/write-ceiling/wrangler.toml" });
  setServerCpuSampler(ceiling.cpuSeconds);
  try {
    const url = ceiling.directUrl ?? ceiling.proxyUrl;
    const request = () => ({ method: "POST", path: "/write", body: { content: CONTENT } });
    const sequential = await oneAtATime(url, request, 201);
    const loaded = await underLoad(url, request);
    cases.push({ name: "write ceiling Worker: one INSERT (reference)", ...sequential, d1_round_trips: 1, reads: 0, writes: 1, batches: 0, ...loaded, calls: {}, queries: {} });
  } finally {
    await ceiling.stop();
    rmSync(ceiling.persistTo, { recursive: true, force: true });
  }
}

async function profile(name, makeRequest, expect = 201) {
  if (only !== undefined && !only.split("|").some((part) => name.includes(part))) return;
  // 1. One at a time, counted: what one request does, uncontended.
  await fetch(`${base}/__profile`, { method: "DELETE" });
  let next = 0;
  const sequential = await oneAtATime(base, () => makeRequest(next++), expect);
  // What the requests left behind (publish in waitUntil, queue consumer, webhook attempts) counts too.
  const tally = await quietTally();
  // 2. Under load: what it costs when the server is busy (the benchmark's situation).
  const loaded = await underLoad(base, () => makeRequest(next++));
  const after = await quietTally();
  // D1 batches under load (a hot conversation's object commits several messages in one).
  const batchesIn = (counted) => Object.entries(counted.d1).reduce((sum, [sql, { count }]) => sum + (sql.startsWith("BATCH") ? count : 0), 0);
  loaded.loaded_batches = round((batchesIn(after) - batchesIn(tally)) / LOAD_REQUESTS, 2);

  let reads = 0;
  let writes = 0;
  let batches = 0;
  let d1Ms = 0;
  for (const [sql, { count, ms }] of Object.entries(tally.d1)) {
    d1Ms += ms;
    if (sql.startsWith("BATCH")) batches += count;
    else if (/^(select|with)\b/i.test(sql)) reads += count;
    else writes += count;
  }
  cases.push({
    name,
    ...sequential,
    d1_round_trips: round((reads + writes + batches) / N, 1),
    reads: round(reads / N, 1),
    writes: round(writes / N, 1),
    batches: round(batches / N, 1),
    d1_wait_ms: round(d1Ms / N, 1),
    ...loaded,
    calls: Object.fromEntries(Object.entries(tally.calls).map(([key, value]) => [key, round(value / N, 2)])),
    queries: Object.fromEntries(Object.entries(tally.d1).map(([sql, { count, ms }]) => [sql, { per_request: round(count / N, 2), ms_each: round(ms / count, 2) }])),
    phases: Object.fromEntries(Object.entries(tally.phases ?? {}).map(([phase, ms]) => [phase, round(ms / N, 2)])),
  });
  const c = cases.at(-1);
  process.stderr.write(`[profile] ${name}: ${c.d1_round_trips} D1 round trips, p50 ${c.p50_ms} ms; loaded ${c.loaded_rps} req/s, ${c.cpu_ms_per_request} ms CPU/req (${c.cpu_pct} % CPU), ${c.loaded_batches} D1 batches/req\n`);
}

/** The tally once nothing has been counted for a while: the requests' background work is done. */
async function quietTally() {
  const deadline = Date.now() + 60_000;
  let previous = null;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const tally = await (await fetch(`${base}/__profile`)).json();
    const total = JSON.stringify(tally);
    if (total === previous || Date.now() > deadline) return tally;
    previous = total;
  }
}

async function oneAtATime(url, makeRequest, expect) {
  const latencies = [];
  for (let i = 0; i < N; i++) {
    const request = makeRequest();
    const started = performance.now();
    const response = await fetch(`${url}${request.path}`, init(request));
    await response.text();
    latencies.push(performance.now() - started);
    if (response.status !== expect) throw new Error(`${request.path}: ${response.status}`);
  }
  return { p50_ms: round(percentile(latencies, 50), 1) };
}

async function underLoad(url, makeRequest) {
  const result = await load({
    url,
    connections: LOAD_CONNECTIONS,
    amount: LOAD_REQUESTS,
    requests: [
      {
        setupRequest: (request) => {
          const next = makeRequest();
          const { headers, body } = init(next);
          return { ...request, method: next.method, path: next.path, headers, body };
        },
      },
    ],
  });
  return { loaded_rps: result.rps, cpu_ms_per_request: result.server_cpu_ms_per_request, cpu_pct: result.server_cpu_pct };
}

function init(request) {
  return {
    method: request.method,
    headers: {
      ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
      ...(request.body ? { "content-type": "application/json" } : {}),
      ...request.headers,
    },
    body: request.body ? JSON.stringify(request.body) : undefined,
  };
}

function print() {
  console.log("");
  console.log(`Per request. Counted one at a time (${N} each, including the work each leaves behind: waitUntil, queue`);
  console.log(`consumer, webhook attempt); then ${LOAD_REQUESTS} more at ${LOAD_CONNECTIONS} connections for throughput and server CPU per request.`);
  console.log("");
  console.log("| request | p50 ms alone | D1 round trips | reads | writes | batches | D1 wait ms alone | req/s loaded | server CPU ms/req loaded | D1 batches/req loaded | other calls |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  for (const c of cases) {
    const other = Object.entries(c.calls)
      .filter(([key]) => key !== "worker.fetch")
      .map(([key, value]) => `${key} ${value}`)
      .join(", ");
    console.log(`| ${c.name} | ${c.p50_ms} | ${c.d1_round_trips} | ${c.reads} | ${c.writes} | ${c.batches} | ${c.d1_wait_ms ?? "—"} | ${c.loaded_rps} | ${c.cpu_ms_per_request} | ${c.loaded_batches ?? "—"} | ${other} |`);
  }
  printPhases();
  for (const c of cases.filter((c) => Object.keys(c.queries).length > 0)) {
    console.log("");
    console.log(`${c.name} — D1 statements per request × ms each (alone):`);
    for (const [sql, { per_request, ms_each }] of Object.entries(c.queries)) console.log(`  ${String(per_request).padStart(5)} × ${String(ms_each).padStart(6)} ms  ${sql}`);
  }
  if (process.argv.includes("--json")) console.log(JSON.stringify(cases, null, 2));
}

/** Server time per request by phase (ms, one at a time, including the work it leaves behind). */
function printPhases() {
  const profiled = cases.filter((c) => c.phases && Object.keys(c.phases).length > 0);
  if (profiled.length === 0) return;
  const phases = [...PHASES, ...new Set(profiled.flatMap((c) => Object.keys(c.phases)).filter((phase) => !PHASES.includes(phase)))];
  console.log("");
  console.log("Server time by phase, ms per request (one at a time, wall time of the single thread that runs the Worker, its");
  console.log("Durable Objects and D1; nested phases count for themselves, so the columns add up to the total):");
  console.log("");
  console.log(`| request | ${phases.join(" | ")} | total |`);
  console.log(`|---|${phases.map(() => "---:").join("|")}|---:|`);
  for (const c of profiled) {
    const total = Object.values(c.phases).reduce((sum, ms) => sum + ms, 0);
    console.log(`| ${c.name} | ${phases.map((phase) => (c.phases[phase] === undefined ? "—" : c.phases[phase].toFixed(2))).join(" | ")} | ${total.toFixed(2)} |`);
  }
}


/** bench/profile/wrangler.generated.toml: the root wrangler.toml with the counting entry, paths re-rooted and no cron. */
function generateConfig() {
  const root = readFileSync(path.join(projectRoot, "wrangler.toml"), "utf8");
  const generated = root
    .replace(/^main = .*$/m, 'main = "entry.ts"')
    .replace(/^name = "(.*)"$/m, 'name = "$1-profile"')
    .replace(/directory = "\.\/public"/, 'directory = "../../public"')
    .replace(/^migrations_dir = "(.*)"$/gm, 'migrations_dir = "../../$1"')
    .replace(/^\[triggers\]\s*\ncrons = .*$/m, "");
  const dir = path.join(projectRoot, "bench", "profile");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "wrangler.generated.toml");
  writeFileSync(file, `# Generated by bench/profile.mjs from wrangler.toml; do not edit.\n${generated}`);
  return path.relative(projectRoot, file);
}
