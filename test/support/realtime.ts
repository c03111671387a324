import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { api } from "./api";

export type Frame = Record<string, any>;

export type StreamClient = {
  ws: WebSocket;
  frames: Frame[];
  /** Resolves with the first frame (already received or still to come) that matches. */
  next(match: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
};

/** Opens a realtime URL as a browser would (Upgrade: websocket); returns the problem response if it is refused. */
export async function openSocket(
  path: string,
  options: { ack?: boolean; token?: string; headers?: Record<string, string> } = {},
): Promise<StreamClient | { status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { upgrade: "websocket", ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await exports.default.fetch(new Request(`http://edge-inbox.test${path}`, { headers }));
  if (response.status !== 101 || !response.webSocket) {
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  }
  const ws = response.webSocket;
  ws.accept();
  const frames: Frame[] = [];
  const waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];
  ws.addEventListener("message", (event) => {
    if (event.data === "pong") {
      frames.push({ event: "pong" });
    } else {
      const frame = JSON.parse(event.data as string) as Frame;
      frames.push(frame);
      // A well-behaved client acknowledges what it processed.
      if ((options.ack ?? true) && typeof frame.position === "string") ws.send(JSON.stringify({ type: "ack", position: frame.position }));
    }
    const frame = frames[frames.length - 1]!;
    for (const waiter of [...waiters]) {
      if (waiter.match(frame)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason })),
  );
  return {
    ws,
    frames,
    closed,
    next(match, timeoutMs = 5000) {
      const seen = frames.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames.map((f) => f.event))}`)), timeoutMs);
        waiters.push({ match, resolve: (frame) => (clearTimeout(timer), resolve(frame)) });
      });
    },
    close() {
      try {
        ws.close(1000, "done");
      } catch {
        // already closed
      }
    },
  };
}

export function isClient(value: Awaited<ReturnType<typeof openSocket>>): value is StreamClient {
  return "ws" in value;
}

/** A ticket for the token's user, then the agent stream with it; waits for the first control frame. */
export async function agentStream(accountId: string, token: string, options: { after?: string; ack?: boolean } = {}): Promise<StreamClient> {
  const ticket = await api("POST", `/v1/accounts/${accountId}/realtime/tickets`, { token });
  expect(ticket.status, ticket.text).toBe(201);
  const after = options.after === undefined ? "" : `&after=${options.after}`;
  const client = await openSocket(`/v1/accounts/${accountId}/realtime?ticket=${encodeURIComponent(ticket.body.ticket)}${after}`, options);
  if (!isClient(client)) throw new Error(`upgrade refused: ${client.status} ${JSON.stringify(client.body)}`);
  await client.next((frame) => frame.event === "ready" || frame.event === "resync_required");
  return client;
}

export async function contactStream(inboxIdentifier: string, sourceId: string, pubsubToken: string, options: { after?: string } = {}) {
  const after = options.after === undefined ? "" : `&after=${options.after}`;
  const client = await openSocket(
    `/v1/inboxes/${inboxIdentifier}/contacts/${encodeURIComponent(sourceId)}/realtime?pubsub_token=${encodeURIComponent(pubsubToken)}${after}`,
  );
  if (!isClient(client)) throw new Error(`upgrade refused: ${client.status} ${JSON.stringify(client.body)}`);
  await client.next((frame) => frame.event === "ready" || frame.event === "resync_required");
  return client;
}

/** Events (not control frames) of one conversation, in the order received. */
export function eventsOf(client: StreamClient, conversationId: string): Frame[] {
  return client.frames.filter((frame) => frame.conversation_id === conversationId && typeof frame.id === "string");
}
