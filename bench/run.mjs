// `npm run bench`: the service against its own physical ceilings, measured in the same run on the same
// machine. Starts its own Workers (wrangler dev, fresh state), seeds through the API, runs the scenarios
// with autocannon, stops everything, prints one table and writes bench/results/<timestamp>.json.
// `npm run bench -- --quick` runs every step briefly (smoke test of the bench itself, not a result).
// `npm run bench -- --only attachments` runs the ceilings and the attachments rows (8–9) alone.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../scripts/dev-server.mjs";
import { apiClient } from "./lib/api.mjs";
import { startHost } from "./lib/host.mjs";
import { load, percentile, round, serverCpuSeconds, setServerCpuSampler } from "./lib/load.mjs";
import { realtimeScenario } from "./lib/realtime.mjs";
import { startReceiver } from "./lib/receiver.mjs";
import { BENCH_SHARD, seedConversationSql, seedAccount, seedSearchCorpusSql } from "./lib/seed.mjs";

const quick = process.argv.includes("--quick");
/** `--only search`: the route ceiling, scenario 1 (to have conversations) and scenario 7 alone. */
/** `--only realtime`: scenario 8 alone (no ceilings). `--only attachments`: the write and upload ceilings and scenarios 9–10 alone. */
/** `--only perf`, `--only drain`: see below. */
const onlyArg = process.argv.includes("--only")
  ? process.argv[process.argv.indexOf("--only") + 1]
  : process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length);
const onlySearch = onlyArg === "search";
const onlyRealtime = onlyArg === "realtime";
const onlyAttachments = onlyArg === "attachments";
const onlyShards = onlyArg === "shards";
/** `--only perf`: the ceilings and the rows of issues 14/15 (1a–1c, 2, 3, 4a–4c, 5, 6), without realtime, search and files. */
const onlyPerf = onlyArg === "perf";
/** `--only drain`: the write ceiling and scenario 5 alone (≈ 1 minute). `--only replies`: scenarios 4a–4c alone. */
const onlyDrain = onlyArg === "drain";
const onlyReplies = onlyArg === "replies";
/** `--only floor`: the write ceiling and the shape's floor alone (≈ 1 minute). */
const onlyFloor = onlyArg === "floor";
const scale = quick ? 0.2 : 1;
const seconds = (s) => Math.max(2, Math.round(s * scale));
const count = (n) => Math.max(10, Math.round(n * (quick ? 0.05 : 1)));

const CONNECTIONS = 32;
/** Scenario 4c: reply rates tried, highest first, until one keeps the webhook p99 within 100 ms. */
const REPLY_SWEEP = [60, 50, 40, 35, 30, 25, 20, 15, 10, 5];
/** Uploads of 1 MiB each: fewer at once, so a queue of bodies does not measure the loopback instead. */
const UPLOAD_CONNECTIONS = 8;
const CEILING_SECONDS = seconds(10);
const SCENARIO_SECONDS = seconds(15);
const CONTACTS = count(1000);
const HOT_TARGET = count(10_000);
/** Seeding the rest of the 10,000 through the API is skipped (SQL instead) when it would take longer. */
const SEED_API_BUDGET_S = seconds(40);
const STORM_ROUNDS = 20;
const STORM_CONCURRENCY = 100;
const REPLIES = count(500);
const REPLY_CONVERSATIONS = 20;
const REPLY_RATE = 40;
const DRAIN_TARGET = count(2000);
/** Contacts the drain's events are spread over; replay queues at most 1,000 heads (see README). */
const DRAIN_CONTACTS = Math.max(5, Math.round(DRAIN_TARGET / 10));
const DRAIN_GENERATE_CAP_S = seconds(30);
const DRAIN_WAIT_CAP_S = seconds(60);
/** The attachments row: 1 MiB files, and one big one whose memory is watched. */
const UPLOAD_BYTES = 1024 * 1024;
const BIG_UPLOAD_BYTES = 100 * 1024 * 1024;
const CONTENT = "Hello! My order #48213 has not arrived yet, can you check where it is?";
/** Scenario 7: messages seeded over the conversations of scenario 1's inbox. */
const SEARCH_MESSAGES = count(100_000);
/** Distinct rare words in the seeded text: each matches about 1/SEARCH_WORDS of the messages. */
const SEARCH_WORDS = 1000;

const startedAt = new Date();
const t0 = performance.now();
const log = (message) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${message}\n`);
const PLATFORM_TOKEN = `bench-platform-${crypto.randomUUID()}`;

const results = {
  started_at: startedAt.toISOString(),
  quick,
  machine: machine(),
  settings: { connections: CONNECTIONS, ceiling_seconds: CEILING_SECONDS, scenario_seconds: SCENARIO_SECONDS },
  hosting: {},
  ceilings: {},
  scenarios: [],
};
const stops = [];
const stopAll = async () => {
  while (stops.length) await stops.pop()().catch(() => {});
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await stopAll();
    process.exit(130);
  });
}

try {
  if (!onlySearch && !onlyRealtime && !onlyReplies) await measureWriteCeiling();
  if (!onlyArg || onlyPerf || onlyFloor) await measureShapeFloor();
  if (!onlyAttachments && !onlyFloor) await measureApp();
  if (!onlyArg || onlyAttachments) await measureAttachments();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await stopAll();
}
results.finished_at = new Date().toISOString();
results.seconds = round((performance.now() - t0) / 1000, 1);
results.machine.loadavg_end = os.loadavg().map((value) => round(value, 2));
report();

// ---------------------------------------------------------------------------------------------------------

/** One of the bench's minimal Workers (bench/<name>/) under wrangler dev, the loads' CPU sampler on it; stopped by the caller's two stops. */
async function startMinimalWorker(name) {
  log(`${name}: starting bench/${name} with wrangler dev`);
  const host = await startHost({ name, config: `bench/${name}/wrangler.toml` });
  stops.push(removeState(host.persistTo), host.stop);
  setServerCpuSampler(host.cpuSeconds);
  return { host, base: host.directUrl ?? host.proxyUrl };
}

async function measureWriteCeiling() {
  const { host, base } = await startMinimalWorker("write-ceiling");
  const write = (url, duration) =>
    load({
      url: `${url}/write`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ content: CONTENT }),
      connections: CONNECTIONS,
      duration,
    });
  results.ceilings.write = { ...(await write(base, CEILING_SECONDS)), what: "POST → one single-row D1 INSERT (minimal Worker)" };
  log(`write ceiling: ${results.ceilings.write.rps} req/s`);
  results.ceilings.bare = {
    ...(await load({ url: `${base}/nope`, connections: CONNECTIONS, duration: seconds(5) }, { expectStatus: 404 })),
    what: "GET → 404 in a minimal Worker, no framework, no I/O",
  };
  if (host.directUrl) results.hosting.write_via_proxy = await write(host.proxyUrl, seconds(5));
  const upload = pngBytes(UPLOAD_BYTES);
  results.ceilings.r2 = {
    ...(await load({
      url: `${base}/r2`,
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: Buffer.from(upload),
      connections: UPLOAD_CONNECTIONS,
      duration: CEILING_SECONDS,
    })),
    what: "POST 1 MiB → one bare R2 put of the body (minimal Worker)",
  };
  log(`r2 ceiling: ${results.ceilings.r2.rps} req/s`);
  await stops.pop()();
  await stops.pop()();
}

// The fixed shape's floor (bench/shape-floor): a known contact's message and a held history page with nothing of
// the product but the shape itself, on the same runtime; rows 1b and 6 are read against it.
async function measureShapeFloor() {
  const { base } = await startMinimalWorker("shape-floor");
  const message = (conversation) => ({
    method: "POST",
    path: "/message",
    headers: { "content-type": "application/json" },
    setupRequest: (request) => ({ ...request, body: JSON.stringify({ conversation: `conversation-${conversation()}`, content: CONTENT }) }),
  });
  // Every conversation's object running first, as in row 1b.
  let next = 0;
  await load({ url: base, connections: CONNECTIONS, amount: CONTACTS, requests: [message(() => next++ % CONTACTS)] });
  results.ceilings.shape_message = {
    ...(await load({ url: base, connections: CONNECTIONS, duration: SCENARIO_SECONDS, requests: [message(() => Math.floor(Math.random() * CONTACTS))] })),
    what: `POST → RPC to one of ${CONTACTS} conversation objects → one D1 batch: message, conversation, event (minimal Worker)`,
  };
  log(`shape floor, message: ${results.ceilings.shape_message.rps} req/s`);
  await fetch(`${base}/page-token?conversation=conversation-0`, { method: "POST" });
  results.ceilings.shape_page = {
    ...(await load({ url: `${base}/page?conversation=conversation-0`, connections: CONNECTIONS, duration: CEILING_SECONDS })),
    what: "GET → one D1 round trip (token and conversation) → a held page of 100 (minimal Worker)",
  };
  log(`shape floor, held page: ${results.ceilings.shape_page.rps} req/s`);
  await stops.pop()();
  await stops.pop()();
}

async function measureApp() {
  log("app: starting edge-inbox with wrangler dev");
  const vars = {
    PLATFORM_TOKEN,
    ALLOW_LOOPBACK_WEBHOOKS: "true",
    // Failures are not what this measures; keep any retry short so a run never waits minutes.
    WEBHOOK_RETRY_DELAYS: "1,1,2,2,5",
    WEBHOOK_TIMEOUT_MS: "5000",
    // The limiter still runs on every request (its cost is part of each row); it just never refuses.
    RATE_LIMIT_PER_TOKEN: "1000000000",
    RATE_LIMIT_PER_INBOX: "1000000000",
  };
  let host = await startHost({ name: "app", vars });
  stops.push(removeState(host.persistTo), () => host.stop());
  setServerCpuSampler(() => host.cpuSeconds());
  let base = host.directUrl ?? host.proxyUrl;
  results.hosting.mode = host.directUrl ? "direct" : "proxy";
  results.hosting.note = host.directUrl
    ? "Every row drives the Worker's own socket behind wrangler dev's proxy; the proxy rows show what the proxy adds."
    : "The Worker's own socket was not found; every row goes through wrangler dev's proxy.";
  const api = apiClient(() => base);

  if (onlyRealtime) return liveUpdates(base, api, host);
  if (onlyShards) return shardSpread(base, api);

  // Ceilings of the app itself: a request that does no I/O.
  const notFound = (url, duration) => load({ url: `${url}/bench/no-such-route`, connections: CONNECTIONS, duration }, { expectStatus: 404 });
  results.ceilings.route = { ...(await notFound(base, CEILING_SECONDS)), what: "GET unknown path → 404 problem, no I/O" };
  log(`route ceiling: ${results.ceilings.route.rps} req/s`);
  if (host.directUrl) results.hosting.route_via_proxy = await notFound(host.proxyUrl, seconds(5));

  // The account, inboxes and tokens, through the API as an operator and an administrator would.
  const receiver = await startReceiver();
  stops.push(receiver.close);
  const { accountId, admin, inbox } = await seedAccount(api, PLATFORM_TOKEN, "Bench", BENCH_SHARD);

  if (onlyDrain) return deliveryDrain(base, api, { accountId, admin }, await inbox("Drain"), receiver.endpoint("drain"));
  if (onlyReplies) {
    const endpoint = receiver.endpoint("replies");
    const target = await inbox("Replies", endpoint.url);
    endpoint.setSecret(target.secret);
    return webhookLatency(base, api, { accountId, admin }, target, endpoint);
  }
  const ingestInbox = await inbox("Ingest");
  const known = await ingestSpread(base, ingestInbox);
  if (onlySearch) {
    await searchScenario();
    return;
  }
  if (host.directUrl) await ingestViaProxy(host.proxyUrl, ingestInbox, known);
  await shardSpread(base, api);
  const hot = await hotConversation(base, api, await inbox("Hot conversation"));
  await duplicateStorm(base, api, await inbox("Duplicate storm"));
  const replies = receiver.endpoint("replies");
  const repliesInbox = await inbox("Replies", replies.url);
  replies.setSecret(repliesInbox.secret);
  await webhookLatency(base, api, { accountId, admin }, repliesInbox, replies);
  await deliveryDrain(base, api, { accountId, admin }, await inbox("Drain"), receiver.endpoint("drain"));

  // Scenario 6 needs the hot conversation at 10,000 messages.
  const seeded = await seedHot(base, api, hot);
  if (seeded.restart) {
    await host.stop();
    seedConversationSql({ persistTo: host.persistTo, conversationId: hot.conversationId, count: seeded.remaining });
    host = await startHost({ name: "app", vars, persistTo: host.persistTo });
    base = host.directUrl ?? host.proxyUrl;
  }
  await historyRead(base, api, hot, seeded);
  // After every row of issues 14/15: the runtime keeps ≈ 400 KB of native memory per socket this row opened
  // (compression state and its own buffers), and each later request pays for it (bench/README.md, seventh pass).
  if (!onlyPerf) await liveUpdates(base, api, host);
  if (!onlyPerf) await searchScenario();

  // 7. Conversation search (FTS5) once the account holds 100,000 more messages, seeded by SQL with the
  // Worker stopped (the search triggers index them as the API would).
  async function searchScenario() {
    await host.stop();
    const started = performance.now();
    const seededMessages = seedSearchCorpusSql({ persistTo: host.persistTo, inboxId: ingestInbox.id, total: SEARCH_MESSAGES, words: SEARCH_WORDS });
    const seedSeconds = round((performance.now() - started) / 1000, 1);
    host = await startHost({ name: "app", vars, persistTo: host.persistTo });
    base = host.directUrl ?? host.proxyUrl;
    setServerCpuSampler(() => host.cpuSeconds());
    const total = (await api.call("GET", `/v1/accounts/${accountId}/conversations?limit=1`, { token: admin, expect: 200 })).json.meta.counts.all;
    const search = (name, id, query, notes) => async () => {
      let next = 0;
      const check = (await api.call("GET", `/v1/accounts/${accountId}/conversations?limit=25&q=${encodeURIComponent(query(0))}`, { token: admin, expect: 200 })).json;
      const result = await load({
        url: base,
        connections: CONNECTIONS,
        duration: SCENARIO_SECONDS,
        requests: [
          {
            method: "GET",
            headers: { authorization: `Bearer ${admin}` },
            setupRequest: (request) => ({ ...request, path: `/v1/accounts/${accountId}/conversations?limit=25&q=${encodeURIComponent(query(next++))}` }),
          },
        ],
      });
      addScenario({
        id,
        name,
        result,
        ceiling: "route",
        notes: `${notes}; first query: ${check.meta.counts.all} of ${total} conversations match; ${seededMessages} messages seeded by SQL in ${seedSeconds} s`,
        details: { seeded_messages: seededMessages, conversations: total, first_query_matches: check.meta.counts.all },
      });
    };
    log(`7: searching over ${seededMessages} seeded messages`);
    await search(`Conversation search: GET …/conversations?q=<rare word> over ${seededMessages}+ messages`, "7a", (i) => `k${(i * 37) % SEARCH_WORDS}`, `each word in ~${Math.round(100 / SEARCH_WORDS * 10) / 10} % of messages`)();
    await search(`Conversation search: GET …/conversations?q=order (in every message)`, "7b", () => "order", "worst case: every message matches (answered from the newest 5,000 matches)")();
  }
}

// 8. Realtime: 200 agent + 50 contact sockets, messages at 20/s, commit → socket; 1,000 idle sockets' memory.
async function liveUpdates(base, api, host) {
  const seed = await seedAccount(api, PLATFORM_TOKEN, "Realtime");
  const { result, notes, details } = await realtimeScenario({
    base,
    api,
    seed,
    log,
    agentSockets: quick ? 20 : 200,
    contactSockets: quick ? 10 : 50,
    rate: 20,
    seconds: seconds(15),
    idleSockets: quick ? 100 : 1000,
    rssBytes: host.rssBytes,
  });
  addScenario({
    id: "8",
    name: `Live updates: ${details.agent_sockets} agent + ${details.contact_sockets} contact WebSockets, incoming messages at 20/s, commit → socket`,
    result,
    ceiling: null,
    notes,
    details,
  });
}

// 9–10. Attachments: 1 MiB uploads per second against a bare R2 put of the same bytes, then one 100 MiB upload
// streamed from here while the Worker's processes' resident memory is sampled.
async function measureAttachments() {
  log("attachments: starting edge-inbox with wrangler dev");
  const host = await startHost({
    name: "attachments",
    vars: {
      PLATFORM_TOKEN,
      ATTACHMENT_SIGNING_SECRET: `bench-${crypto.randomUUID()}`,
      ATTACHMENT_MAX_BYTES: String(BIG_UPLOAD_BYTES + 1024 * 1024),
      RATE_LIMIT_PER_TOKEN: "1000000000",
      RATE_LIMIT_PER_INBOX: "1000000000",
    },
  });
  stops.push(removeState(host.persistTo), () => host.stop());
  setServerCpuSampler(() => host.cpuSeconds());
  const base = host.directUrl ?? host.proxyUrl;
  const api = apiClient(() => base);
  const { inbox } = await seedAccount(api, PLATFORM_TOKEN, "Files");
  const files = await inbox("Files");

  const boundary = "bench-boundary-7MA4YWxkTrZu0gW";
  const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="photo.png"\r\ncontent-type: image/png\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const headers = { authorization: `Bearer ${files.token}`, "content-type": `multipart/form-data; boundary=${boundary}` };
  const result = await load({
    url: `${base}/v1/inboxes/${files.identifier}/uploads`,
    method: "POST",
    headers,
    body: Buffer.concat([head, Buffer.from(pngBytes(UPLOAD_BYTES)), tail]),
    connections: UPLOAD_CONNECTIONS,
    duration: SCENARIO_SECONDS,
  });
  addScenario({
    id: 9,
    name: "POST …/uploads, 1 MiB image files (multipart, streamed to R2, sha256 on the way)",
    result,
    ceiling: "r2",
    notes: `${UPLOAD_CONNECTIONS} connections; ${round((result.rps * UPLOAD_BYTES) / 1048576, 1)} MiB/s stored`,
  });

  // One 100 MiB upload, sent as a stream; memory sampled every 50 ms from before it starts until it ends.
  const rssTotal = () => Object.values(host.rss()).reduce((sum, p) => sum + p.bytes, 0);
  const workerd = () => Math.max(0, ...Object.values(host.rss()).filter((p) => p.name === "workerd").map((p) => p.bytes));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = { total: rssTotal(), workerd: workerd() };
  let peak = { ...before };
  const sampler = setInterval(() => {
    peak = { total: Math.max(peak.total, rssTotal()), workerd: Math.max(peak.workerd, workerd()) };
  }, 50);
  const big = pngBytes(64 * 1024);
  const hash = createHash("sha256");
  let sent = 0;
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(head);
    },
    pull(controller) {
      if (sent >= BIG_UPLOAD_BYTES) {
        controller.enqueue(tail);
        controller.close();
        return;
      }
      const chunk = Buffer.from(big);
      // Distinct content per chunk (the first keeps the PNG signature).
      if (sent > 0) chunk.writeUInt32BE(sent, 0);
      hash.update(chunk);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const started = performance.now();
  const response = await fetch(`${base}/v1/inboxes/${files.identifier}/uploads`, { method: "POST", headers, body: stream, duplex: "half" });
  const answer = await response.json();
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = { total: Math.max(peak.total, rssTotal()), workerd: Math.max(peak.workerd, workerd()) };
  const mib = (bytes) => round(bytes / 1048576, 0);
  const ok = response.status === 201 && answer.byte_size === BIG_UPLOAD_BYTES && answer.sha256 === hash.digest("hex");
  results.attachments_memory = {
    status: response.status,
    byte_size: answer.byte_size,
    sha256_matches: ok,
    seconds: round(elapsed, 1),
    rss_before_mib: mib(before.total),
    rss_peak_mib: mib(peak.total),
    workerd_before_mib: mib(before.workerd),
    workerd_peak_mib: mib(peak.workerd),
  };
  log(`100 MiB upload: ${response.status} in ${round(elapsed, 1)} s; workerd RSS ${mib(before.workerd)} → peak ${mib(peak.workerd)} MiB; all processes ${mib(before.total)} → ${mib(peak.total)} MiB`);
  addScenario({
    id: 10,
    name: "one 100 MiB upload, streamed: peak memory",
    result: { rps: null, p50: round(elapsed * 1000, 0), p99: null, errors: ok ? 0 : 1 },
    notes: `largest workerd RSS ${mib(before.workerd)} → peak ${mib(peak.workerd)} MiB (+${mib(peak.workerd - before.workerd)}); all of wrangler dev ${mib(before.total)} → ${mib(peak.total)} MiB; ${round(100 / elapsed, 1)} MiB/s; sha256 ${ok ? "matches" : "MISMATCH"}`,
  });
  await stops.pop()();
  await stops.pop()();
}

/** Bytes that pass the PNG check: the signature, then a pattern. */
function pngBytes(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131) & 0xff;
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return bytes;
}

// 1. POST /messages over 1,000 contacts: first their first messages, then steady traffic from known ones.
async function ingestSpread(base, inbox) {
  const path = `/v1/inboxes/${inbox.identifier}/messages`;
  const headers = { "content-type": "application/json", authorization: `Bearer ${inbox.token}` };
  let next = 0;
  const known = [];
  log(`1a: first messages of ${CONTACTS} new contacts`);
  const first = await load(
    {
      url: base,
      connections: CONNECTIONS,
      amount: CONTACTS,
      requests: [
        {
          method: "POST",
          path,
          headers,
          setupRequest: (request, context) => {
            context.contact = next++;
            const body = { contact: { source_id: `customer-${context.contact}`, name: `Customer ${context.contact}` }, content: CONTENT };
            return { ...request, body: JSON.stringify(body) };
          },
          onResponse: (status, _body, context) => {
            if (status === 201) known.push(context.contact);
          },
        },
      ],
    },
    { capSeconds: seconds(20) },
  );
  addScenario({
    id: "1a",
    name: `POST /messages, first message of ${CONTACTS} new contacts`,
    result: first,
    ceiling: "write",
    notes: `creates contact + conversation + message; ${known.length}/${CONTACTS} contacts in ${first.seconds} s${first.capped ? " (time cap)" : ""}`,
  });

  // A new contact's first message commits without its conversation object (docs/architecture.md), so the
  // object of each conversation starts at its second message. 1b is the steady state: every known contact's
  // object already running. The second messages that start them are measured here and shown in 1b's notes.
  log(`1b: warm-up, the second message of each of ${known.length} contacts (starts its conversation object)`);
  let warmed = 0;
  const warmUp = await load({
    url: base,
    connections: CONNECTIONS,
    amount: known.length,
    requests: [
      {
        method: "POST",
        path,
        headers,
        setupRequest: (request) => {
          const contact = known[warmed++ % known.length];
          return { ...request, body: JSON.stringify({ contact: { source_id: `customer-${contact}` }, content: CONTENT }) };
        },
      },
    ],
  });
  log(`1b: ${SCENARIO_SECONDS} s of messages from ${known.length} known contacts`);
  const steady = await load({
    url: base,
    connections: CONNECTIONS,
    duration: SCENARIO_SECONDS,
    requests: [
      {
        method: "POST",
        path,
        headers,
        setupRequest: (request) => {
          const contact = known[Math.floor(Math.random() * known.length)];
          return { ...request, body: JSON.stringify({ contact: { source_id: `customer-${contact}` }, content: CONTENT }) };
        },
      },
    ],
  });
  addScenario({
    id: "1b",
    name: `POST /messages over ${known.length} known contacts`,
    result: steady,
    ceiling: "write",
    notes:
      `continues each contact's open conversation, every conversation object running; the steady-state ingest number ` +
      `(before it, each contact's second message, which starts its object: ${warmUp.rps} req/s, ${warmUp.server_cpu_ms_per_request ?? "?"} ms/req, ${warmUp.errors} errors)`,
  });
  return known;
}

// 11. The same ingest load over two accounts, both on one shard, then one on each of two shards (docs/scaling.md).
// Locally every D1 database is a SQLite file served by the same workerd process on the same 2 cores: the
// row shows what sharding costs or saves on one machine. In production each D1 database is its own
// single-writer on its own server, which is where spreading accounts buys throughput.
async function shardSpread(base, api) {
  const shards = ["SHARD_1", "SHARD_2"];
  const contacts = 50;
  const account = async (label, shard) => {
    const seeded = await seedAccount(api, PLATFORM_TOKEN, label, shard);
    const inbox = await seeded.inbox(`${label} inbox`);
    for (let c = 0; c < contacts; c++) {
      await api.call("POST", `/v1/inboxes/${inbox.identifier}/messages`, {
        token: inbox.token,
        body: { contact: { source_id: `spread-${c}` }, content: CONTENT },
        expect: 201,
      });
    }
    return inbox;
  };
  const spreadLoad = (inboxes) => {
    let next = 0;
    return load({
      url: base,
      connections: CONNECTIONS,
      duration: SCENARIO_SECONDS,
      requests: [
        {
          method: "POST",
          setupRequest: (request) => {
            const inbox = inboxes[next++ % inboxes.length];
            return {
              ...request,
              path: `/v1/inboxes/${inbox.identifier}/messages`,
              headers: { "content-type": "application/json", authorization: `Bearer ${inbox.token}` },
              body: JSON.stringify({ contact: { source_id: `spread-${Math.floor(Math.random() * contacts)}` }, content: CONTENT }),
            };
          },
        },
      ],
    });
  };
  log("11: the same ingest over 2 accounts on one shard, then on two shards");
  const first = await account("Spread A", shards[0]);
  const sameShard = await account("Spread B", shards[0]);
  const otherShard = await account("Spread C", shards[1]);
  const one = await spreadLoad([first, sameShard]);
  addScenario({
    id: "11a",
    name: `POST /messages over 2 accounts on 1 shard (${contacts} known contacts each)`,
    result: one,
    ceiling: "write",
    notes: "both accounts' rows in one D1 database",
  });
  const two = await spreadLoad([first, otherShard]);
  addScenario({
    id: "11b",
    name: `POST /messages over 2 accounts on 2 shards (${contacts} known contacts each)`,
    result: two,
    ceiling: "write",
    notes: `the same load, one account per D1 database: ${round(two.rps / one.rps, 2)}× row 11a (locally both databases share one workerd process and 2 cores; docs/scaling.md)`,
    details: { versus_one_shard: round(two.rps / one.rps, 3) },
  });
}

// 1c. What a user's client sees: ingest through wrangler dev's own port (its proxy), against GET /health
// through the same port in the same run (16 connections, as in the issue that asked for it).
async function ingestViaProxy(proxyUrl, inbox, known) {
  const connections = 16;
  const duration = seconds(8);
  log("1c: GET /health, then POST /messages, through wrangler dev's proxy");
  results.ceilings.health_via_proxy = {
    ...(await load({ url: `${proxyUrl}/health`, connections, duration }, { expectStatus: 200 })),
    what: "GET /health through wrangler dev's proxy (16 connections)",
  };
  const path = `/v1/inboxes/${inbox.identifier}/messages`;
  const result = await load({
    url: proxyUrl,
    connections,
    duration,
    requests: [
      {
        method: "POST",
        path,
        headers: { "content-type": "application/json", authorization: `Bearer ${inbox.token}` },
        setupRequest: (request) => {
          const contact = known[Math.floor(Math.random() * known.length)];
          return { ...request, body: JSON.stringify({ contact: { source_id: `customer-${contact}` }, content: CONTENT }) };
        },
      },
    ],
  });
  addScenario({
    id: "1c",
    name: `POST /messages over ${known.length} known contacts through wrangler dev's proxy (16 connections)`,
    result,
    ceiling: "health_via_proxy",
    notes: "what a client of `wrangler dev` sees; ratio to GET /health through the same port in the same run",
  });
}

// 2. The same into one conversation: its Durable Object writes one message at a time.
async function hotConversation(base, api, inbox) {
  const path = `/v1/inboxes/${inbox.identifier}/messages`;
  const body = JSON.stringify({ contact: { source_id: "hot-customer", name: "Hot Customer" }, content: CONTENT });
  const firstMessage = await api.call("POST", path, { token: inbox.token, body: JSON.parse(body), expect: 201 });
  const conversationId = firstMessage.json.conversation.id;
  log(`2: ${SCENARIO_SECONDS} s into one conversation`);
  const result = await load({
    url: `${base}${path}`,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${inbox.token}` },
    body,
    connections: CONNECTIONS,
    duration: SCENARIO_SECONDS,
  });
  addScenario({
    id: "2",
    name: "POST /messages into one hot conversation",
    result,
    ceiling: "write",
    notes: "one Durable Object serialises the conversation's writes",
  });
  return { inbox, path, body, conversationId, rate: result.rps };
}

// 3. 100 identical requests at once with one Idempotency-Key, 20 times: exactly 20 messages.
async function duplicateStorm(base, api, inbox) {
  const path = `/v1/inboxes/${inbox.identifier}/messages`;
  const runId = crypto.randomUUID().slice(0, 8);
  const messageIds = new Set();
  const latencies = [];
  const statuses = {};
  let replayed = 0;
  let conversationId = null;
  let requests = 0;
  let errors = 0;
  let cpuMs = 0;
  log(`3: duplicate storm, ${STORM_ROUNDS} × ${STORM_CONCURRENCY} concurrent`);
  const started = performance.now();
  for (let round = 0; round < STORM_ROUNDS; round++) {
    const body = JSON.stringify({ contact: { source_id: "storm-customer" }, content: `Storm message ${round}` });
    const result = await load(
      {
        url: `${base}${path}`,
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${inbox.token}`,
          "idempotency-key": `storm-${runId}-${round}`,
        },
        body,
        connections: STORM_CONCURRENCY,
        amount: STORM_CONCURRENCY,
        requests: [
          {
            onResponse: (status, responseBody, _context, headers) => {
              statuses[status] = (statuses[status] ?? 0) + 1;
              if (status >= 200 && status < 300) {
                const parsed = JSON.parse(responseBody);
                messageIds.add(parsed.message.id);
                conversationId = parsed.conversation.id;
                if (header(headers, "idempotent-replayed") === "true") replayed++;
              }
            },
          },
        ],
      },
      { latencies },
    );
    requests += result.requests;
    errors += result.errors;
    cpuMs += (result.server_cpu_ms_per_request ?? 0) * result.requests;
  }
  const elapsed = (performance.now() - started) / 1000;
  const history = conversationId ? await readHistory(api, inbox, conversationId) : { messages: [] };
  const contents = history.messages.map((message) => message.content);
  const distinctContents = new Set(contents).size;
  const exact = messageIds.size === STORM_ROUNDS && history.messages.length === STORM_ROUNDS && distinctContents === STORM_ROUNDS;
  addScenario({
    id: "3",
    name: `Duplicate storm: ${STORM_ROUNDS} keys × ${STORM_CONCURRENCY} concurrent identical POSTs`,
    result: {
      requests,
      seconds: round(elapsed, 2),
      rps: round(requests / elapsed, 1),
      p50: round(percentile(latencies, 50), 0),
      p99: round(percentile(latencies, 99), 0),
      errors,
      status: statuses,
      server_cpu_pct: round(cpuMs / 10 / elapsed, 0),
      server_cpu_ms_per_request: round(cpuMs / requests, 2),
    },
    ceiling: null,
    notes: `${messageIds.size} distinct message ids in responses, ${history.messages.length} messages in history${exact ? " — exactly one per key" : " — EXPECTED " + STORM_ROUNDS}; ${replayed} replays`,
    details: { distinct_message_ids: messageIds.size, history_messages: history.messages.length, replayed, exact },
  });
  if (!exact) process.exitCode = 1;
}

// 4. From an agent reply's 201 to the signed webhook arriving at the receiver: first one reply at a time
// (the pipeline idle), then 500 at a steady rate (the pipeline busy).
async function webhookLatency(base, api, { accountId, admin }, inbox, endpoint) {
  const conversations = [];
  for (let k = 0; k < REPLY_CONVERSATIONS; k++) {
    const created = await api.call("POST", `/v1/inboxes/${inbox.identifier}/messages`, {
      token: inbox.token,
      body: { contact: { source_id: `reply-customer-${k}` }, content: CONTENT },
      expect: 201,
    });
    conversations.push(created.json.conversation.id);
  }
  // The agent reply route; if this build has none, an incoming message stands in.
  const probe = await api.call("POST", `/v1/accounts/${accountId}/conversations/${conversations[0]}/messages`, {
    token: admin,
    body: { content: "Probe reply" },
  });
  const agent = probe.status === 201;
  const replyPath = (id) => (agent ? `/v1/accounts/${accountId}/conversations/${id}/messages` : `/v1/inboxes/${inbox.identifier}/conversations/${id}/messages`);
  const token = agent ? admin : inbox.token;
  const what = agent ? "agent replies" : "incoming messages (no agent reply route)";
  // Let the setup's own webhooks arrive first so they do not queue ahead of the measured ones.
  await endpoint.waitFor(() => endpoint.events.size >= REPLY_CONVERSATIONS * 3 + (agent ? 1 : 0), 15_000);

  let next = 0;
  const measure = async ({ id, replies, rate, connections, record = true }) => {
    log(`${id}: ${replies} ${what} at ${rate}/s, webhook latency`);
    const sentAt = new Map();
    const started = performance.now();
    const result = await load({
      url: base,
      connections,
      amount: replies,
      overallRate: rate,
      requests: [
        {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          setupRequest: (request) => ({
            ...request,
            path: replyPath(conversations[next++ % conversations.length]),
            body: JSON.stringify({ content: `Reply ${next}: your parcel left the warehouse this morning.` }),
          }),
          onResponse: (status, responseBody) => {
            const at = performance.now();
            if (status === 201) sentAt.set(JSON.parse(responseBody).id, at);
          },
        },
      ],
    });
    const arrived = await endpoint.waitFor(() => [...sentAt.keys()].every((messageId) => endpoint.messages.has(messageId)), seconds(30) * 1000);
    const delivered = [...sentAt.keys()].filter((messageId) => endpoint.messages.has(messageId));
    const latencies = delivered.map((messageId) => endpoint.messages.get(messageId) - sentAt.get(messageId));
    const lastArrival = Math.max(...delivered.map((messageId) => endpoint.messages.get(messageId)));
    const deliveryRate = delivered.length / ((lastArrival - started) / 1000);
    const missing = sentAt.size - delivered.length;
    const p99 = round(percentile(latencies, 99), 0);
    if (!record) return { rate, replies, p50: round(percentile(latencies, 50), 0), p99, missing, errors: result.errors, result };
    addScenario({
      id,
      name: `Webhook latency: ${replies} ${what} at ${rate}/s, 201 → signed POST received`,
      result: {
        ...result,
        p50: round(percentile(latencies, 50), 0),
        p99: round(percentile(latencies, 99), 0),
        errors: result.errors + missing,
      },
      ceiling: null,
      notes: `p50/p99 = webhook latency (the requests' own: ${result.p50}/${result.p99} ms); ${delivered.length}/${sentAt.size} arrived${arrived ? "" : " (wait cap)"} at ${round(deliveryRate, 1)}/s over ${REPLY_CONVERSATIONS} conversations`,
      details: {
        route: agent ? "agent reply" : "incoming message",
        request_p50: result.p50,
        request_p99: result.p99,
        webhook_max: round(Math.max(...latencies), 1),
        delivery_rate: round(deliveryRate, 1),
        arrived: delivered.length,
        missing,
      },
    });
  };
  await measure({ id: "4a", replies: count(25), rate: 5, connections: 1 });
  await measure({ id: "4b", replies: REPLIES, rate: REPLY_RATE, connections: 8 });
  const last = results.scenarios[results.scenarios.length - 1];
  last.notes += `; whole endpoint: ${endpoint.duplicates} duplicates, ${endpoint.badSignatures} bad signatures`;
  last.errors += endpoint.badSignatures;

  // 4c. The highest of these rates whose webhook p99 stays within 100 ms (5 s of replies each, from the top).
  const tried = [];
  let best = null;
  for (const rate of REPLY_SWEEP) {
    // 8 connections as in 4b; above 40/s one per 5 replies/s, so the connections are not what caps the rate.
    const run = await measure({ id: "4c", replies: count(rate * 5), rate, connections: Math.max(8, Math.ceil(rate / 5)), record: false });
    tried.push(`${rate}/s → p99 ${run.p99} ms`);
    if (run.p99 <= 100 && run.missing === 0 && run.errors === 0) {
      best = run;
      break;
    }
  }
  addScenario({
    id: "4c",
    name: "Webhook latency: the highest reply rate tried whose p99 stays ≤ 100 ms",
    result: best ? { ...best.result, rps: best.rate, p50: best.p50, p99: best.p99, errors: 0 } : { rps: null, p50: null, p99: null, errors: 0 },
    ceiling: null,
    notes: `${best ? `${best.rate} replies/s` : "none of the rates tried"} (tried ${tried.join(", ")}); req/s = the rate`,
  });
}

// 5. Events pile up while the inbox has no webhook; one replay queues them all; how fast do they drain?
async function deliveryDrain(base, api, { accountId, admin }, inbox, endpoint) {
  const since = new Date(Date.now() - 1000).toISOString();
  const path = `/v1/inboxes/${inbox.identifier}/messages`;
  // Each contact's first message makes 3 events (contact, conversation, message), the next ones 1 each.
  const messagesNeeded = DRAIN_TARGET - 2 * DRAIN_CONTACTS;
  let next = 0;
  log(`5: creating ~${DRAIN_TARGET} events over ${DRAIN_CONTACTS} conversations (inbox without webhook)`);
  const generated = await load(
    {
      url: base,
      connections: CONNECTIONS,
      amount: messagesNeeded,
      requests: [
        {
          method: "POST",
          path,
          headers: { "content-type": "application/json", authorization: `Bearer ${inbox.token}` },
          setupRequest: (request) => {
            const contact = next++ % DRAIN_CONTACTS;
            return { ...request, body: JSON.stringify({ contact: { source_id: `drain-customer-${contact}` }, content: CONTENT }) };
          },
        },
      ],
    },
    { capSeconds: DRAIN_GENERATE_CAP_S },
  );
  await api.call("PATCH", `/v1/accounts/${accountId}/inboxes/${inbox.id}`, { token: admin, body: { webhook_url: endpoint.url }, expect: 200 });
  endpoint.setSecret(inbox.secret);

  log("5: replay → drain");
  const cpuBefore = serverCpuSeconds();
  const started = performance.now();
  const replay = await api.call("POST", `/v1/accounts/${accountId}/inboxes/${inbox.id}/deliveries/replay`, {
    token: admin,
    body: { since },
    expect: 202,
  });
  const replayMs = performance.now() - started;
  const total = replay.json.replayed;
  const drained = await endpoint.waitFor(() => endpoint.events.size >= total, DRAIN_WAIT_CAP_S * 1000);
  const arrivals = [...endpoint.events.values()].map((event) => event.at);
  const last = arrivals.length ? Math.max(...arrivals) : started;
  const drainSeconds = (last - started) / 1000;
  const drainCpu = serverCpuSeconds() - cpuBefore;
  const rate = endpoint.events.size / drainSeconds;
  addScenario({
    id: "5",
    name: `Delivery drain: ${total} events queued by one replay`,
    result: {
      requests: endpoint.deliveries,
      seconds: round(drainSeconds, 2),
      rps: round(rate, 1),
      p50: null,
      p99: null,
      errors: total - endpoint.events.size + endpoint.badSignatures,
      // Includes the wait after the last arrival (the cap's polling) only up to the last delivery.
      server_cpu_pct: round((100 * drainCpu) / ((performance.now() - started) / 1000), 0),
      server_cpu_ms_per_request: round((1000 * drainCpu) / Math.max(endpoint.deliveries, 1), 2),
    },
    ceiling: "write",
    notes: `req/s = deliveries/s; ${endpoint.events.size}/${total} events received in ${round(drainSeconds, 1)} s${drained ? "" : " (wait cap)"} (replay call ${Math.round(replayMs)} ms), ${endpoint.duplicates} duplicates; events made by ${generated.requests} POSTs in ${generated.seconds} s${generated.capped ? " (time cap)" : ""}`,
    details: {
      events: total,
      received: endpoint.events.size,
      deliveries: endpoint.deliveries,
      duplicates: endpoint.duplicates,
      bad_signatures: endpoint.badSignatures,
      replay_call_ms: Math.round(replayMs),
      generation: generated,
    },
  });
}

// Tops the hot conversation up to 10,000 messages: through the API if scenario 2's rate makes that quick,
// else with one SQL statement while the Worker is stopped (and the table says so).
async function seedHot(base, api, hot) {
  // Requests still in flight when scenario 2 stopped were written too: ask the conversation.
  const conversation = await api.call("GET", `/v1/inboxes/${hot.inbox.identifier}/conversations/${hot.conversationId}`, { token: hot.inbox.token, expect: 200 });
  const remaining = HOT_TARGET - conversation.json.messages_count;
  if (remaining <= 0) return { remaining: 0, via: "scenario 2" };
  const eta = remaining / Math.max(hot.rate, 0.1);
  if (eta <= SEED_API_BUDGET_S) {
    log(`6: seeding ${remaining} more messages through the API (~${Math.round(eta)} s)`);
    const result = await load({
      url: `${base}${hot.path}`,
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${hot.inbox.token}` },
      body: hot.body,
      connections: CONNECTIONS,
      amount: remaining,
    });
    return { remaining, via: "api", result };
  }
  log(`6: seeding ${remaining} messages with SQL (the API would need ~${Math.round(eta)} s at scenario 2's rate)`);
  return { remaining, via: "sql", restart: true, eta_s: Math.round(eta) };
}

// 6. GET …/messages, pages of 100, over the 10,000-message conversation.
async function historyRead(base, api, hot, seeded) {
  log("6: walking the history once, then reading pages under load");
  const walkStarted = performance.now();
  const pages = [];
  let cursor = null;
  let messages = 0;
  let expectedSeq = 1;
  let gapFree = true;
  do {
    const pagePath = `/v1/inboxes/${hot.inbox.identifier}/conversations/${hot.conversationId}/messages?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    pages.push(pagePath);
    const page = (await api.call("GET", pagePath, { token: hot.inbox.token, expect: 200 })).json;
    for (const message of page.data) {
      if (message.seq !== expectedSeq) gapFree = false;
      expectedSeq = message.seq + 1;
    }
    messages += page.data.length;
    cursor = page.next_cursor;
  } while (cursor);
  const walkSeconds = (performance.now() - walkStarted) / 1000;

  let next = 0;
  const result = await load({
    url: base,
    connections: CONNECTIONS,
    duration: SCENARIO_SECONDS,
    requests: [
      {
        method: "GET",
        headers: { authorization: `Bearer ${hot.inbox.token}` },
        setupRequest: (request) => ({ ...request, path: pages[next++ % pages.length] }),
      },
    ],
  });
  const seedNote =
    seeded.via === "sql"
      ? `seeded ${seeded.remaining} by SQL (API at scenario 2's rate: ~${seeded.eta_s} s)`
      : seeded.via === "api"
        ? `seeded ${seeded.remaining} through the API at ${seeded.result.rps} msg/s`
        : "filled by scenario 2";
  addScenario({
    id: "6",
    name: `History read: GET …/messages?limit=100 over ${messages} messages`,
    result,
    ceiling: "route",
    notes: `${pages.length} pages; one sequential walk ${round(walkSeconds, 1)} s, seq ${gapFree ? "gap-free" : "HAS GAPS"}; ${seedNote}`,
    details: { messages, pages: pages.length, walk_seconds: round(walkSeconds, 2), gap_free: gapFree, seeding: seeded },
  });
  if (!gapFree || messages < HOT_TARGET) process.exitCode = 1;
}

async function readHistory(api, inbox, conversationId) {
  const messages = [];
  let cursor = null;
  do {
    const page = (
      await api.call("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, {
        token: inbox.token,
        expect: 200,
      })
    ).json;
    messages.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return { messages };
}

// ---------------------------------------------------------------------------------------------------------

function addScenario({ id, name, result, ceiling, notes, details }) {
  const ceilingRps = ceiling ? results.ceilings[ceiling]?.rps : undefined;
  const row = {
    id,
    name,
    ...result,
    ratio: ceilingRps ? round(result.rps / ceilingRps, 3) : null,
    ratio_to: ceiling,
    notes: `${notes}${cpuNote(result)}`,
    ...(details ? { details } : {}),
  };
  results.scenarios.push(row);
  log(`${id}: ${row.rps} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, errors ${row.errors}${row.ratio !== null ? `, ${pct(row.ratio)} of ${ceiling} ceiling` : ""}`);
}

/** "; server CPU 97 % = 24 ms/request": how busy the Worker's processes were, and the cost of one request. */
function cpuNote(result) {
  if (result.server_cpu_pct === undefined || result.server_cpu_pct === null) return "";
  const settled = result.settled ? ` (after ${result.settled.waited_s} s waiting for the server to go idle)` : "";
  return `; server CPU ${result.server_cpu_pct} %, ${result.server_cpu_ms_per_request} ms/req${settled}`;
}

/** Deletes a host's state folder (run after the host stopped: stops run last-in, first-out). */
function removeState(dir) {
  return async () => rmSync(dir, { recursive: true, force: true });
}

function header(headers, name) {
  if (!headers) return undefined;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === name) return String(headers[i + 1]);
    return undefined;
  }
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return String(value);
  return undefined;
}

function pct(ratio) {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)} %`;
}

function report() {
  const rows = [];
  const { route, write, bare } = results.ceilings;
  if (route) rows.push(["ceiling: route — " + route.what, route, "—", `ceiling for reads${cpuNote(route)}`]);
  if (write) rows.push(["ceiling: write — " + write.what, write, "—", `ceiling for anything that writes${cpuNote(write)}`]);
  if (results.ceilings.r2) rows.push(["ceiling: upload — " + results.ceilings.r2.what, results.ceilings.r2, "—", `ceiling for stored files${cpuNote(results.ceilings.r2)}`]);
  if (bare) rows.push(["context: " + bare.what, bare, route ? `${round(bare.rps / route.rps, 2)}× route` : "—", `what the app's own 404 costs over a bare Worker${cpuNote(bare)}`]);
  if (results.hosting.route_via_proxy && route) {
    const proxied = results.hosting.route_via_proxy;
    rows.push(["context: route ceiling through wrangler dev's proxy", proxied, `${round(proxied.rps / route.rps, 2)}× route`, `the proxy's own cost; no other row goes through it${cpuNote(proxied)}`]);
  }
  if (results.hosting.write_via_proxy && write) {
    const proxied = results.hosting.write_via_proxy;
    rows.push(["context: write ceiling through wrangler dev's proxy", proxied, `${round(proxied.rps / write.rps, 2)}× write`, cpuNote(proxied).slice(2)]);
  }
  const { shape_message: floorMessage, shape_page: floorPage } = results.ceilings;
  if (floorMessage) {
    const known = results.scenarios.find((scenario) => scenario.id === "1b");
    const share = known ? `; row 1b is at ${pct(known.rps / floorMessage.rps)} of it` : "";
    rows.push([
      "floor of the shape: " + floorMessage.what,
      floorMessage,
      write ? `${pct(floorMessage.rps / write.rps)} of write` : "—",
      `the least a known contact's message costs in the fixed shape: no framework, validation, token, search index, rules or fan-out${share}${cpuNote(floorMessage)}`,
    ]);
  }
  if (floorPage && bare) {
    // Row 6 is read against the app's own 404, so the floor is that 404 plus what a held page adds to a bare one.
    const added = floorPage.server_cpu_ms_per_request - bare.server_cpu_ms_per_request;
    const bound = route?.server_cpu_ms_per_request ? `; the app's 404 plus that would be ${pct(route.server_cpu_ms_per_request / (route.server_cpu_ms_per_request + added))} of route` : "";
    rows.push([
      "floor of the shape: " + floorPage.what,
      floorPage,
      `${pct(floorPage.rps / bare.rps)} of the bare 404`,
      `a held page adds ${round(added, 2)} ms of CPU to a minimal Worker's bare 404 (${bare.server_cpu_ms_per_request} ms, the context row)${bound}${cpuNote(floorPage)}`,
    ]);
  }
  const { health_via_proxy: health } = results.ceilings;
  if (health) rows.push(["context: " + health.what, health, route ? `${round(health.rps / route.rps, 2)}× route` : "—", `the 1c row's ceiling${cpuNote(health)}`]);
  for (const scenario of results.scenarios) {
    rows.push([`${scenario.id}. ${scenario.name}`, scenario, scenario.ratio === null ? "—" : `${pct(scenario.ratio)} of ${scenario.ratio_to}`, scenario.notes]);
  }
  const cell = (value) => (value === null || value === undefined ? "—" : String(value));
  const lines = [
    "| scenario | req/s | p50 ms | p99 ms | errors | ratio to ceiling | notes |",
    "|---|---:|---:|---:|---:|---|---|",
    ...rows.map(([name, r, ratio, notes]) => `| ${name} | ${cell(r.rps)} | ${cell(r.p50)} | ${cell(r.p99)} | ${cell(r.errors)} | ${ratio} | ${notes} |`),
  ];
  results.table = lines.join("\n");

  const dir = path.join(projectRoot, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}${quick ? "-quick" : ""}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n");

  const m = results.machine;
  console.log("");
  console.log(`edge-inbox bench — ${m.nproc} × ${m.cpu}, ${m.memory_gb} GB, load ${m.loadavg_start.join(" ")} → ${m.loadavg_end.join(" ")}; ${CONNECTIONS} connections; ${results.hosting.note ?? ""}`);
  console.log("");
  console.log(results.table);
  console.log("");
  console.log(`Whole run: ${results.seconds} s. Results: ${path.relative(projectRoot, file)}`);
}

function machine() {
  let cpu = "unknown";
  try {
    cpu = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {}
  const version = (name) => JSON.parse(readFileSync(path.join(projectRoot, "node_modules", name, "package.json"), "utf8")).version;
  let kernel = os.release();
  try {
    kernel = execFileSync("uname", ["-sr"], { encoding: "utf8" }).trim();
  } catch {}
  return {
    nproc: os.availableParallelism(),
    cpu,
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    os: kernel,
    node: process.version,
    wrangler: version("wrangler"),
    workerd: version("workerd"),
    autocannon: version("autocannon"),
    loadavg_start: os.loadavg().map((value) => round(value, 2)),
  };
}
