// The integrator's webhook endpoint for the benchmark: answers 200 at once, verifies every signature with
// the standardwebhooks library, and records when each event (and each message) first arrived.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

/**
 * One receiver, many endpoints: each inbox gets its own path (`/hooks/<name>`) and secret.
 * Arrival times are `performance.now()` of this process, the same clock the load generator uses for
 * the 201 of the request that caused the event.
 */
export async function startReceiver() {
  const endpoints = new Map();

  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const at = performance.now();
      response.writeHead(200, { "content-type": "text/plain" }).end("ok");
      const endpoint = endpoints.get(new URL(request.url, "http://receiver").pathname);
      if (!endpoint) return;
      const body = Buffer.concat(chunks).toString("utf8");
      endpoint.record(request.headers, body, at);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  return {
    /** A new endpoint; set its secret once the inbox that signs for it exists. */
    endpoint(name) {
      const endpoint = new Endpoint(`${base}/hooks/${name}`);
      endpoints.set(`/hooks/${name}`, endpoint);
      return endpoint;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

class Endpoint {
  constructor(url) {
    this.url = url;
    this.verifier = null;
    /** webhook-id → { at, count, type, messageId } */
    this.events = new Map();
    /** message id → first arrival of its message_created event */
    this.messages = new Map();
    this.deliveries = 0;
    this.badSignatures = 0;
    this.waiters = [];
  }

  setSecret(secret) {
    this.verifier = new Webhook(secret);
  }

  record(headers, body, at) {
    this.deliveries += 1;
    const id = headers["webhook-id"];
    let payload = null;
    try {
      payload = this.verifier
        ? this.verifier.verify(body, {
            "webhook-id": id,
            "webhook-timestamp": headers["webhook-timestamp"],
            "webhook-signature": headers["webhook-signature"],
          })
        : JSON.parse(body);
    } catch {
      this.badSignatures += 1;
      return;
    }
    const seen = this.events.get(id);
    if (seen) {
      seen.count += 1;
      return;
    }
    const messageId = payload?.event === "message_created" ? payload.message?.id : undefined;
    this.events.set(id, { at, count: 1, type: payload?.event, messageId });
    if (messageId && !this.messages.has(messageId)) this.messages.set(messageId, at);
    this.wake();
  }

  /** Deliveries beyond the first of an event (at-least-once duplicates). */
  get duplicates() {
    let extra = 0;
    for (const { count } of this.events.values()) extra += count - 1;
    return extra;
  }

  /** Resolves true once `predicate()` holds, false after `timeoutMs`. */
  waitFor(predicate, timeoutMs) {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { predicate, resolve };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      waiter.resolve = (value) => {
        clearTimeout(timer);
        resolve(value);
      };
      this.waiters.push(waiter);
    });
  }

  wake() {
    const ready = this.waiters.filter((w) => w.predicate());
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const waiter of ready) waiter.resolve(true);
  }
}
