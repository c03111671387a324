// A real HTTP endpoint on 127.0.0.1 for webhook tests. It runs in Node (global setup); tests inside
// workerd drive it over HTTP: each test uses its own path, scripts how that path answers, and reads
// back what arrived.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export type Scripted = {
  status?: number;
  delay_ms?: number;
  /** Answer after a random delay of 0 to this many ms (on top of delay_ms). */
  jitter_ms?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
  /** Never answer. */
  hang?: boolean;
  /** Send this many bytes of body. */
  body_bytes?: number;
  /** Answer `fail_status` (default 500) instead, at random, this share of the time (0–1). */
  fail_ratio?: number;
  fail_status?: number;
  /** Verify Chatwoot's signature with this secret (set on the fallback: it holds for every request of the path). */
  chatwoot_secret?: string;
};

/** `status` is what the receiver answered, so tests can tell accepted deliveries from refused ones. */
export type Received = {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
  status: number;
  /** When the answer was sent (undefined: never answered). */
  done?: number;
  /**
   * With a scripted chatwoot_secret: whether X-Chatwoot-Signature is `sha256=` + hex HMAC-SHA256 of
   * "{X-Chatwoot-Timestamp}.{body}" over the exact bytes received (Node's crypto, independent of the Worker's).
   */
  chatwoot_signature_valid?: boolean;
};

export function startReceiver() {
  const received = new Map<string, Received[]>();
  const scripts = new Map<string, { steps: Scripted[]; fallback: Scripted }>();

  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://receiver");
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");

    if (url.pathname === "/__control/script" && request.method === "POST") {
      const { path, steps = [], fallback = { status: 200 } } = JSON.parse(body) as {
        path: string;
        steps?: Scripted[];
        fallback?: Scripted;
      };
      scripts.set(path, { steps, fallback });
      return response.writeHead(204).end();
    }
    if (url.pathname === "/__control/received") {
      const path = url.searchParams.get("path") ?? "";
      response.writeHead(200, { "content-type": "application/json" });
      return response.end(JSON.stringify(received.get(path) ?? []));
    }

    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(", ") : (value ?? "")]),
    );
    const script = scripts.get(url.pathname);
    const step = script?.steps.shift() ?? script?.fallback ?? { status: 200 };
    const failed = step.fail_ratio !== undefined && Math.random() < step.fail_ratio;
    const status = failed ? (step.fail_status ?? 500) : (step.status ?? 200);
    const list = received.get(url.pathname) ?? [];
    const record: Received = { path: url.pathname, headers, body, at: Date.now(), status: step.hang || step.reset ? 0 : status };
    const chatwootSecret = script?.fallback.chatwoot_secret;
    if (chatwootSecret !== undefined) {
      const raw = Buffer.concat(chunks);
      const expected = createHmac("sha256", chatwootSecret)
        .update(Buffer.concat([Buffer.from(`${headers["x-chatwoot-timestamp"] ?? ""}.`, "utf8"), raw]))
        .digest("hex");
      const given = Buffer.from(headers["x-chatwoot-signature"] ?? "", "utf8");
      const wanted = Buffer.from(`sha256=${expected}`, "utf8");
      record.chatwoot_signature_valid = given.length === wanted.length && timingSafeEqual(given, wanted);
    }
    list.push(record);
    received.set(url.pathname, list);
    response.on("finish", () => {
      record.done = Date.now();
    });

    const delay = (step.delay_ms ?? 0) + (step.jitter_ms ? Math.random() * step.jitter_ms : 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (step.hang) return;
    if (step.reset) return request.socket.destroy();
    response.writeHead(status, step.headers ?? { "content-type": "text/plain" });
    if (step.body_bytes) {
      const chunk = Buffer.alloc(64 * 1024, "x");
      let left = step.body_bytes;
      const pump = () => {
        while (left > 0) {
          const piece = chunk.subarray(0, Math.min(chunk.length, left));
          left -= piece.length;
          if (!response.write(piece)) return response.once("drain", pump);
        }
        response.end();
      };
      return pump();
    }
    response.end(step.body ?? "ok");
  });

  return new Promise<{ port: number; close: () => Promise<void> }>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
