// `npm run crash-test`: the issue-14 measurement, as a script. `npm start` (scripts/start.mjs) on a fresh
// state folder with loopback webhooks to a local receiver; 8 clients send 400 messages (each with a
// source_id) over 40 contacts; after 160 are acknowledged, `npm start`'s whole process group is killed with
// SIGKILL (a power cut, an OOM kill). Then: nothing may be left running; `npm start` again on the same
// state; all 400 sent again. Within 2 minutes of the restart every message must exist exactly once,
// every conversation gap-free, and every message_created webhook must have arrived, each webhook-id once
// per attempt the delivery log records. Prints a summary; exits 1 if any check fails. Takes about 1–2 min.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { killAndWaitForCleanUp, killGroup, processesOnPort, startNpmStart } from "./check-orphans.mjs";
import { freePort } from "./dev-server.mjs";

const MESSAGES = 400;
const CONTACTS = 40;
const CLIENTS = 8;
const KILL_AFTER_ACKS = 160;
const DELIVERY_DEADLINE_MS = 120_000;
const OVERALL_TIMEOUT_MS = 8 * 60_000;

const startedAt = Date.now();
const log = (line) => console.log(`[crash-test +${((Date.now() - startedAt) / 1000).toFixed(1)}s] ${line}`);

// --- the webhook receiver -------------------------------------------------------------------------------
/** Every request that reached the receiver: webhook-id, event type, message id (for message_created), when. */
const received = [];
const receiver = createServer(async (request, response) => {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    received.push({ webhookId: request.headers["webhook-id"], event: body.event, messageId: body.message?.id ?? null, at: Date.now() });
  } catch {}
  response.writeHead(200).end("ok");
});
const receiverPort = await freePort();
await new Promise((resolve) => receiver.listen(receiverPort, "127.0.0.1", resolve));

const port = await freePort();
const persistTo = mkdtempSync(path.join(tmpdir(), "edge-inbox-crash-"));
let server = null;
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`);
};

async function cleanUp() {
  if (server) {
    killGroup(server.child.pid, "SIGTERM");
    const groups = processesOnPort(port).map((item) => item.pgid);
    for (const group of groups) killGroup(group, "SIGTERM");
    const deadline = Date.now() + 10_000;
    while (processesOnPort(port).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    for (const item of processesOnPort(port)) killGroup(item.pgid);
  }
  receiver.closeAllConnections();
  receiver.close();
  rmSync(persistTo, { recursive: true, force: true });
}

const watchdog = setTimeout(async () => {
  console.error(`crash-test: gave up after ${OVERALL_TIMEOUT_MS / 60_000} min`);
  await cleanUp();
  process.exit(2);
}, OVERALL_TIMEOUT_MS);

async function call(method, url, token, body) {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

/** Sends message i (bounded retries on 429/503 only when `patient`); the response, or null if the server is gone. */
async function sendMessage(base, token, i, patient) {
  for (let attempt = 1; attempt <= (patient ? 20 : 1); attempt++) {
    try {
      const res = await call("POST", `${base}/messages`, token, {
        contact: { source_id: `contact-${i % CONTACTS}`, name: `Contact ${i % CONTACTS}` },
        source_id: `msg-${i}`,
        content: `message ${i}`,
      });
      if ((res.status === 429 || res.status >= 500) && patient) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 1000 * Number(res.headers.get("retry-after") ?? 1))));
        continue;
      }
      return res;
    } catch (error) {
      if (!patient) return null;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  return null;
}

/** Runs `work(i)` for every i by `CLIENTS` concurrent clients; `stop()` ends it early. */
async function clients(work, stop = () => false) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < MESSAGES && !stop()) await work(next++);
    }),
  );
}

try {
  // --- 1. start, then kill after 160 acknowledged ---------------------------------------------------------
  server = await startNpmStart({ port, persistTo });
  log(`npm start ready on port ${port} (state ${persistTo}); receiver on ${receiverPort}`);
  const admin = { token: server.adminToken, accountId: server.accountId };
  const inbox = await call("POST", `${server.url}/v1/accounts/${admin.accountId}/inboxes`, admin.token, {
    name: "Crash test",
    webhook_url: `http://127.0.0.1:${receiverPort}/hook`,
  });
  if (inbox.status !== 201) throw new Error(`creating the inbox: ${inbox.status} ${JSON.stringify(inbox.body)}`);
  const inboxToken = (await call("POST", `${server.url}/v1/accounts/${admin.accountId}/inboxes/${inbox.body.id}/tokens`, admin.token)).body.token;
  const base = `${server.url}/v1/inboxes/${inbox.body.identifier}`;

  const acked = new Set();
  let killed = false;
  let killedAt = 0;
  let cleanUpMs = 0;
  let killing = null;
  await clients(
    async (i) => {
      const res = await sendMessage(base, inboxToken, i, false);
      if (res && (res.status === 200 || res.status === 201)) acked.add(i);
      if (acked.size >= KILL_AFTER_ACKS && !killing) {
        killing = (async () => {
          killedAt = Date.now();
          killed = true;
          cleanUpMs = (await killAndWaitForCleanUp(server, port)).ms;
        })();
      }
    },
    () => killed,
  );
  await killing;
  const receivedBeforeKill = received.length;
  log(`killed npm start's process group with SIGKILL after ${acked.size} acknowledged messages`);
  console.log("checks after the kill:");
  check(cleanUpMs > 0 && cleanUpMs < 5_000, `nothing left running and port ${port} free ${cleanUpMs} ms after SIGKILL`);

  // --- 2. restart on the same state, send all 400 again ---------------------------------------------------
  server = await startNpmStart({ port, persistTo });
  const restartedAt = Date.now();
  log(`npm start restarted on the same state (${((restartedAt - killedAt) / 1000).toFixed(1)} s after the kill)`);
  const answers = new Map();
  await clients(async (i) => {
    const res = await sendMessage(base, inboxToken, i, true);
    answers.set(i, res);
  });
  const created = [...answers.values()].filter((res) => res?.status === 201).length;
  const repeated = [...answers.values()].filter((res) => res?.status === 200).length;
  log(`re-sent ${MESSAGES}: ${created} created now, ${repeated} already there (200)`);

  // --- 3. wait for every message_created webhook, at most 2 minutes after the restart ---------------------
  const messageIds = new Set([...answers.values()].filter((res) => res && res.status < 300).map((res) => res.body.message.id));
  const arrivedFor = () => new Set(received.filter((item) => item.event === "message_created").map((item) => item.messageId));
  let lastProgress = 0;
  while (Date.now() - restartedAt < DELIVERY_DEADLINE_MS) {
    const arrived = arrivedFor();
    const missing = [...messageIds].filter((id) => !arrived.has(id)).length;
    if (missing === 0) break;
    if (Date.now() - lastProgress > 10_000) {
      log(`waiting: ${messageIds.size - missing}/${messageIds.size} message_created webhooks arrived`);
      lastProgress = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const arrived = arrivedFor();
  const lastArrival = Math.max(...received.filter((item) => item.event === "message_created").map((item) => item.at));
  const deliveredWithinMs = lastArrival - restartedAt;

  // --- 4. the checks ---------------------------------------------------------------------------------------
  console.log("checks after the restart:");
  check([...answers.values()].every((res) => res && (res.status === 200 || res.status === 201)), `every re-send answered 200 or 201`);
  check(
    [...acked].every((i) => answers.get(i)?.status === 200),
    `every message acknowledged before the kill (${acked.size}) was still there (answered 200, not created again)`,
  );

  // Every conversation's history: each source_id exactly once, seqs 1..n without a gap.
  const conversationIds = new Set([...answers.values()].filter(Boolean).map((res) => res.body.conversation.id));
  const seen = new Map();
  let gapFree = true;
  for (const conversationId of conversationIds) {
    const seqs = [];
    let cursor = null;
    for (let page = 0; page < 100; page++) {
      const url = `${server.url}/v1/accounts/${admin.accountId}/conversations/${conversationId}/messages?limit=100${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await call("GET", url, admin.token);
      if (res.status !== 200) throw new Error(`history of ${conversationId}: ${res.status}`);
      for (const message of res.body.data) {
        seqs.push(message.seq);
        if (message.source_id) seen.set(message.source_id, (seen.get(message.source_id) ?? 0) + 1);
      }
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    seqs.sort((a, b) => a - b);
    if (!seqs.every((seq, index) => seq === index + 1)) gapFree = false;
  }
  const exactlyOnce = Array.from({ length: MESSAGES }, (_, i) => seen.get(`msg-${i}`) === 1).every(Boolean);
  check(exactlyOnce && seen.size === MESSAGES, `every one of the ${MESSAGES} messages exists exactly once (${seen.size} distinct source_ids)`);
  check(gapFree, `every conversation's seqs are gap-free (${conversationIds.size} conversations)`);

  const missing = [...messageIds].filter((id) => !arrived.has(id));
  check(
    missing.length === 0,
    `every message_created webhook arrived (${messageIds.size - missing.length}/${messageIds.size}), the last ${(deliveredWithinMs / 1000).toFixed(1)} s after the restart (limit ${DELIVERY_DEADLINE_MS / 1000} s)`,
  );

  // Each webhook-id once per attempt: receptions against the attempts the delivery log records.
  const deliveries = [];
  let cursor = null;
  for (let page = 0; page < 100; page++) {
    const url = `${server.url}/v1/accounts/${admin.accountId}/inboxes/${inbox.body.id}/deliveries?limit=100${cursor ? `&cursor=${cursor}` : ""}`;
    const res = await call("GET", url, admin.token);
    if (res.status !== 200) throw new Error(`delivery log: ${res.status}`);
    deliveries.push(...res.body.data);
    cursor = res.body.next_cursor;
    if (!cursor) break;
  }
  const receptions = new Map();
  for (const item of received) receptions.set(item.webhookId, [...(receptions.get(item.webhookId) ?? []), item.at]);
  let exact = 0;
  const inFlightAtKill = [];
  const wrong = [];
  for (const delivery of deliveries) {
    const times = receptions.get(delivery.event_id) ?? [];
    if (times.length === delivery.attempts_count) exact++;
    // Sent while the killed server was going down (until its group was gone, workerd still ran), its attempt
    // never recorded: the one repeat at-least-once allows, made again after the restart.
    else if (times.length === delivery.attempts_count + 1 && times[0] <= killedAt + cleanUpMs) inFlightAtKill.push(delivery.event_id);
    else {
      const at = (t) => `${((t - restartedAt) / 1000).toFixed(2)}s`;
      wrong.push(
        `${delivery.event_type} ${delivery.event_id}: received ${times.length}× (at ${times.map(at).join(", ")} from the restart), ` +
          `${delivery.attempts_count} attempt(s) recorded (${delivery.attempts.map((a) => at(Date.parse(a.started_at))).join(", ")}), ${delivery.state}`,
      );
    }
  }
  const unknown = [...receptions.keys()].filter((id) => !deliveries.some((delivery) => delivery.event_id === id));
  check(deliveries.every((delivery) => delivery.state === "succeeded"), `every delivery succeeded (${deliveries.length} deliveries)`);
  check(
    wrong.length === 0 && unknown.length === 0,
    `each webhook-id arrived once per recorded attempt (${exact} exactly; ${inFlightAtKill.length} sent while the killed server went down, unrecorded, arrived once more)` +
      (wrong.length ? `; wrong: ${wrong.slice(0, 5).join("; ")}` : "") +
      (unknown.length ? `; ${unknown.length} webhook-ids not in the log` : ""),
  );

  console.log("");
  console.log(
    JSON.stringify(
      {
        messages: MESSAGES,
        contacts: CONTACTS,
        clients: CLIENTS,
        acknowledged_before_kill: acked.size,
        webhooks_received_before_kill: receivedBeforeKill,
        cleanup_after_sigkill_ms: cleanUpMs,
        restart_after_kill_s: Number(((restartedAt - killedAt) / 1000).toFixed(1)),
        resend: { created: created, already_there: repeated },
        conversations: conversationIds.size,
        deliveries: deliveries.length,
        webhooks_received: received.length,
        message_created_arrived: `${messageIds.size - missing.length}/${messageIds.size}`,
        all_delivered_after_restart_s: Number((deliveredWithinMs / 1000).toFixed(1)),
        duplicates_in_flight_at_kill: inFlightAtKill.length,
        failures: failures.length,
      },
      null,
      2,
    ),
  );
} catch (error) {
  failures.push(String(error?.stack ?? error));
  console.error(error);
} finally {
  clearTimeout(watchdog);
  await cleanUp();
}
console.log(failures.length === 0 ? "crash-test: PASS" : `crash-test: FAIL (${failures.length})`);
process.exit(failures.length === 0 ? 0 : 1);
