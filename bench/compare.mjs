// Builds side by side: each build (a checkout, e.g. a git worktree with one change) runs under its own
// `wrangler dev` at the same time, seeded the same way; then, round after round, the same load on each in
// turn (the order reversed every other round), and the server CPU per request of each. Two changes of
// ≈ 0.1 ms are inside one full run's noise; interleaved rounds on the same machine at the same moment
// are what tells them apart (bench/README.md, "Comparing builds").
//
//   node bench/compare.mjs --build main=. --build x=../x [--scenario known|page] [--rounds 5]
//
// known: row 1b's load — one-call messages over 1,000 known contacts, every conversation object running.
// page:  row 6's load — a held page of 100 of a 150-message conversation, read with the inbox's token.
// Each round also measures the build's own 404 (the route ceiling's request), the yardstick of the run.
import { rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { apiClient } from "./lib/api.mjs";
import { load, setServerCpuSampler } from "./lib/load.mjs";
import { seedAccount } from "./lib/seed.mjs";

const { values } = parseArgs({
  options: {
    build: { type: "string", multiple: true },
    scenario: { type: "string", default: "known" },
    rounds: { type: "string", default: "5" },
    requests: { type: "string" },
  },
});
const builds = (values.build ?? []).map((spec) => {
  const [name, dir] = spec.split("=");
  if (!name || !dir) throw new Error(`--build wants name=directory, got '${spec}'`);
  return { name, dir: path.resolve(dir) };
});
if (builds.length === 0) throw new Error("name at least one --build name=directory (e.g. --build main=. --build x=../x)");
const SCENARIOS = { known: { requests: 3000, prepare: prepareKnownContacts }, page: { requests: 800, prepare: prepareHeldPage } };
const scenario = SCENARIOS[values.scenario];
if (!scenario) throw new Error(`--scenario is one of ${Object.keys(SCENARIOS).join(", ")}`);
const ROUNDS = Number(values.rounds);
const REQUESTS = Number(values.requests ?? scenario.requests);
const CONNECTIONS = 32;
const CONTENT = "Hello! My order #48213 has not arrived yet, can you check where it is?";
const PLATFORM_TOKEN = `bench-platform-${crypto.randomUUID()}`;

/** 1,000 contacts, each with its open conversation and its object running (two messages each, as row 1b). */
async function prepareKnownContacts(base, ingest) {
  const CONTACTS = 1000;
  const message = (pick) => ({
    method: "POST",
    path: `/v1/inboxes/${ingest.identifier}/messages`,
    headers: { "content-type": "application/json", authorization: `Bearer ${ingest.token}` },
    setupRequest: (request) => ({ ...request, body: JSON.stringify({ contact: { source_id: `customer-${pick()}` }, content: CONTENT }) }),
  });
  for (let pass = 0; pass < 2; pass++) {
    let next = 0;
    await load({ url: base, connections: CONNECTIONS, amount: CONTACTS, requests: [message(() => next++ % CONTACTS)] });
  }
  return { url: base, requests: [message(() => Math.floor(Math.random() * CONTACTS))] };
}

/** One conversation of 150 messages; its page of 100, read until the isolate holds it. */
async function prepareHeldPage(base, ingest, api) {
  let conversation;
  for (let i = 0; i < 150; i++) {
    const sent = await api.call("POST", `/v1/inboxes/${ingest.identifier}/messages`, {
      token: ingest.token,
      body: { contact: { source_id: "reader" }, content: `${CONTENT} ${i}` },
      expect: 201,
    });
    conversation = sent.json.conversation.id;
  }
  const page = { url: `${base}/v1/inboxes/${ingest.identifier}/conversations/${conversation}/messages?limit=100`, headers: { authorization: `Bearer ${ingest.token}` } };
  await load({ ...page, connections: CONNECTIONS, amount: 100 });
  return page;
}

const hosts = [];
try {
  for (const build of builds) {
    const { startHost } = await import(pathToFileURL(path.join(build.dir, "bench/lib/host.mjs")).href);
    const host = await startHost({ name: `compare-${build.name}`, vars: { PLATFORM_TOKEN, RATE_LIMIT_PER_TOKEN: "1000000000", RATE_LIMIT_PER_INBOX: "1000000000" } });
    hosts.push({ ...build, host });
    const base = host.directUrl ?? host.url;
    const api = apiClient(() => base);
    const { inbox } = await seedAccount(api, PLATFORM_TOKEN, "Compare");
    setServerCpuSampler(host.cpuSeconds);
    Object.assign(hosts.at(-1), { base, work: await scenario.prepare(base, await inbox("Compare"), api) });
    console.log(`${build.name}: ${build.dir} ready`);
  }
  const samples = new Map();
  const record = (key, value) => samples.set(key, [...(samples.get(key) ?? []), value]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const h of round % 2 ? [...hosts].reverse() : hosts) {
      setServerCpuSampler(h.host.cpuSeconds);
      const notFound = await load({ url: `${h.base}/compare/no-such-route`, connections: CONNECTIONS, amount: 1500 }, { expectStatus: 404 });
      record(`${h.name} 404`, notFound.server_cpu_ms_per_request);
      const result = await load({ ...h.work, connections: CONNECTIONS, amount: REQUESTS });
      if (result.errors) console.log(`${h.name}: ${result.errors} errors`, JSON.stringify(result.status));
      record(`${h.name} ${values.scenario}`, result.server_cpu_ms_per_request);
    }
    console.log(`round ${round + 1}/${ROUNDS} done ${new Date().toISOString().slice(11, 19)} UTC, load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  }
  console.log("\nserver CPU ms/request, every round in order:");
  for (const [key, list] of samples) {
    const sorted = [...list].sort((a, b) => a - b);
    const mean = list.reduce((sum, x) => sum + x, 0) / list.length;
    console.log(`${key.padEnd(20)} median ${sorted[Math.floor(sorted.length / 2)]}  mean ${mean.toFixed(2)}  (${list.join(", ")})`);
  }
} finally {
  for (const h of hosts) {
    await h.host.stop();
    rmSync(h.host.persistTo, { recursive: true, force: true });
  }
}
