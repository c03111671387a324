// Scenario 7: live updates. Agent and contact WebSockets on one account's realtime object, messages at a
// steady rate, and the time from each event's commit to its arrival on every socket that may see it;
// then the memory 1,000 idle sockets cost.
import { percentile, round } from "./load.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a WebSocket and resolves once the stream says ready; frames go to onFrame. */
function openStream(url, onFrame, { ackEvery = 10 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let ready = false;
    let unacked = 0;
    const timer = setTimeout(() => reject(new Error(`no ready frame from ${url.replace(/=[^&]+/g, "=…")}`)), 15_000);
    ws.addEventListener("message", (event) => {
      if (event.data === "pong") return;
      const frame = JSON.parse(event.data);
      if (!ready && (frame.event === "ready" || frame.event === "resync_required")) {
        ready = true;
        clearTimeout(timer);
        resolve(ws);
        return;
      }
      onFrame(frame);
      // A well-behaved client acknowledges what it processed, every few frames.
      if (typeof frame.position === "string" && ++unacked >= ackEvery) {
        unacked = 0;
        ws.send(JSON.stringify({ type: "ack", position: frame.position }));
      }
    });
    ws.addEventListener("error", () => reject(new Error("websocket error")));
    ws.addEventListener("close", (event) => {
      if (!ready) reject(new Error(`closed before ready: ${event.code} ${event.reason}`));
    });
  });
}

/**
 * @param {{ base: string, api: any, seed: any, log: (m: string) => void, agentSockets: number, contactSockets: number,
 *           rate: number, seconds: number, idleSockets: number, rssBytes: () => number }} options
 */
export async function realtimeScenario({ base, api, seed, log, agentSockets, contactSockets, rate, seconds, idleSockets, rssBytes }) {
  const wsBase = base.replace(/^http/, "ws");
  const { accountId, admin, inbox: makeInbox } = seed;
  const inbox = await makeInbox("Realtime");
  // Four agents work the inbox; their sockets are found by the inbox's tag.
  const agents = [];
  for (let i = 0; i < 4; i++) {
    const user = (
      await api.call("POST", `/v1/accounts/${accountId}/users`, {
        token: admin,
        body: { name: `Live agent ${i}`, email: `live-${i}-${Date.now()}@bench.example`, role: "agent" },
        expect: 201,
      })
    ).json;
    const token = (await api.call("POST", `/v1/accounts/${accountId}/users/${user.id}/tokens`, { token: admin, expect: 201 })).json.token;
    agents.push({ id: user.id, token });
  }
  await api.call("PUT", `/v1/accounts/${accountId}/inboxes/${inbox.id}/members`, {
    token: admin,
    body: { user_ids: agents.map((agent) => agent.id) },
    expect: 200,
  });
  // The contacts and their conversations exist before the measurement (steady state).
  const contacts = [];
  for (let i = 0; i < contactSockets; i++) {
    const sourceId = `live-contact-${i}`;
    const upserted = (await api.call("PUT", `/v1/inboxes/${inbox.identifier}/contacts/${sourceId}`, { token: inbox.token, body: { name: `Live ${i}` }, expect: [200, 201] })).json;
    await api.call("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token: inbox.token, body: { contact: { source_id: sourceId }, content: "hello" }, expect: 201 });
    contacts.push({ sourceId, pubsubToken: upserted.pubsub_token });
  }

  const ticketUrl = async (token) => {
    const ticket = (await api.call("POST", `/v1/accounts/${accountId}/realtime/tickets`, { token, expect: 201 })).json.ticket;
    return `${wsBase}/v1/accounts/${accountId}/realtime?ticket=${encodeURIComponent(ticket)}`;
  };

  // Latencies: commit (the event's created_at, set just before its D1 batch) → frame received.
  const agentLatency = [];
  const contactLatency = [];
  const received = new Map();
  const onFrame = (list) => (frame) => {
    if (frame.event !== "message_created" || !frame.message?.content?.startsWith("live-")) return;
    list.push(Date.now() - Date.parse(frame.created_at));
    received.set(frame.message.content, (received.get(frame.message.content) ?? 0) + 1);
  };

  log(`7: opening ${agentSockets} agent and ${contactSockets} contact sockets`);
  const sockets = [];
  for (let i = 0; i < agentSockets; i++) sockets.push(await openStream(await ticketUrl(agents[i % agents.length].token), onFrame(agentLatency)));
  for (const contact of contacts) {
    sockets.push(
      await openStream(
        `${wsBase}/v1/inboxes/${inbox.identifier}/contacts/${contact.sourceId}/realtime?pubsub_token=${encodeURIComponent(contact.pubsubToken)}`,
        onFrame(contactLatency),
      ),
    );
  }

  const total = rate * seconds;
  log(`7: ${total} messages at ${rate}/s`);
  const requestLatency = [];
  let errors = 0;
  const started = performance.now();
  const posts = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const sentAt = performance.now();
    posts.push(
      api
        .call("POST", `/v1/inboxes/${inbox.identifier}/messages`, {
          token: inbox.token,
          body: { contact: { source_id: contacts[i % contacts.length].sourceId }, content: `live-${i}` },
        })
        .then((response) => {
          if (response.status !== 201) errors++;
          requestLatency.push(performance.now() - sentAt);
        })
        .catch(() => errors++),
    );
  }
  await Promise.all(posts);
  const elapsed = (performance.now() - started) / 1000;
  const expected = total * (agentSockets + 1);
  const deadline = Date.now() + 15_000;
  while (agentLatency.length + contactLatency.length < expected && Date.now() < deadline) await sleep(100);
  const frames = agentLatency.length + contactLatency.length;
  const all = [...agentLatency, ...contactLatency];
  for (const ws of sockets) ws.close(1000, "done");
  await sleep(1000);

  // 1,000 idle sockets: what they cost the runtime in memory.
  log(`7: memory of ${idleSockets} idle sockets`);
  // Tickets first, so their D1 writes are not counted as the sockets' memory.
  const urls = [];
  for (let i = 0; i < idleSockets; i++) urls.push(await ticketUrl(agents[i % agents.length].token));
  await sleep(2000);
  const before = rssBytes();
  const idle = [];
  for (const url of urls) idle.push(await openStream(url, () => {}));
  await sleep(5000);
  const after = rssBytes();
  for (const ws of idle) ws.close(1000, "done");
  await sleep(2000);
  const released = rssBytes();

  return {
    result: {
      rps: round(total / elapsed, 1),
      p50: round(percentile(all, 50), 0),
      p99: round(percentile(all, 99), 0),
      errors: errors + (expected - frames),
    },
    notes:
      `p50/p99 = commit → socket over ${frames}/${expected} frames (agents ${round(percentile(agentLatency, 50), 0)}/${round(percentile(agentLatency, 99), 0)} ms, ` +
      `contacts ${round(percentile(contactLatency, 50), 0)}/${round(percentile(contactLatency, 99), 0)} ms; POST ${round(percentile(requestLatency, 50), 0)}/${round(percentile(requestLatency, 99), 0)} ms); ` +
      `${idleSockets} idle sockets: +${round((after - before) / 1024 / 1024, 1)} MB RSS (${round((after - before) / idleSockets / 1024, 1)} KB each), ` +
      `${round((after - released) / 1024 / 1024, 1)} MB released on close`,
    details: {
      agent_sockets: agentSockets,
      contact_sockets: contactSockets,
      messages: total,
      frames_expected: expected,
      frames_received: frames,
      agent_p50: round(percentile(agentLatency, 50), 1),
      agent_p99: round(percentile(agentLatency, 99), 1),
      contact_p50: round(percentile(contactLatency, 50), 1),
      contact_p99: round(percentile(contactLatency, 99), 1),
      max: round(Math.max(...all), 1),
      request_p50: round(percentile(requestLatency, 50), 1),
      request_p99: round(percentile(requestLatency, 99), 1),
      idle_sockets: idleSockets,
      rss_before_mb: round(before / 1024 / 1024, 1),
      rss_with_idle_mb: round(after / 1024 / 1024, 1),
      rss_after_close_mb: round(released / 1024 / 1024, 1),
      idle_kb_per_socket: round((after - before) / idleSockets / 1024, 1),
    },
  };
}
