import { DurableObject } from "cloudflare:workers";
import { and, asc, eq, gt, max } from "drizzle-orm";
import { database } from "../db/client";
import { events, inboxes } from "../db/schema";
import { eventEnvelope } from "../delivery/payload";
import { withDataUrls } from "../attachments/render";
import { defaultShard, shardEnv } from "../db/shards";
import { config, type Bindings, type WorkerEnv } from "../env";
import { candidateTags, tagsFor, visibleTo, type StreamEvent, type Subscriber } from "./visibility";
import { QUIET_MS } from "./quiet";

/** What each socket keeps across hibernation (serializeAttachment): who it is for and when it opened. */
type Attachment = { subscriber: Subscriber; connectedAt: number };

/** Close codes a client acts on (docs/realtime.md): reconnect and resume, or get new credentials first. */
export const CLOSE = {
  /** No ping for too long: the client is gone or its network is. */
  idle: { code: 4000, reason: "no ping received; reconnect and resume" },
  /** The token, ticket owner or pubsub token was revoked, rotated or deleted. */
  revoked: { code: 4001, reason: "credentials revoked; get new credentials" },
  /** Role or inbox membership changed: what the stream may show changed. */
  accessChanged: { code: 4003, reason: "access changed; reconnect with a new ticket" },
  /** The client did not acknowledge what it was sent: dropped so that it cannot grow memory; it resumes. */
  slow: { code: 4008, reason: "too far behind; reconnect and resume from your last position" },
} as const;

/** Header on the internal upgrade request: the subscriber, already authenticated by the Worker. */
export const SUBSCRIBER_HEADER = "x-edge-inbox-subscriber";
/** The account's shard binding, named by the Worker on the upgrade (RPC calls pass it as an argument). */
export const SHARD_HEADER = "x-edge-inbox-shard";

/** Slack on top of QUIET_MS for the catch-up pump after a connect (clocks of isolate and object, the nudge's own time). */
const QUIET_MARGIN_MS = 250;

const TYPING = new Set(["conversation_typing_on", "conversation_typing_off"]);

/** Rows read per round trip when tailing or catching up. */
const PAGE = 200;
/** A resume that would replay more than this answers resync_required instead: reload through the API. */
const MAX_CATCH_UP = 1000;
/** How long a replay waits for a client to acknowledge before dropping it as slow. */
const ACK_WAIT_MS = 10_000;
/** Sockets that sent no ping for this long are closed (clients ping every 30 s). */
const PING_TIMEOUT_MS = 90_000;
/** How often the object checks for silent sockets while it has any. */
const SWEEP_EVERY_MS = 60_000;

type Row = typeof events.$inferSelect & { inboxName: string | null };

/**
 * One per account: holds the account's realtime sockets (agents' and contacts') with the WebSocket
 * hibernation API, so idle sockets cost nothing. Committed events are not pushed in; the object is only
 * nudged (`notify`) and reads the account's events after its tail position from D1 — in commit order,
 * which is per-conversation sequence order, and with nothing skipped when a nudge is lost: the next one,
 * or a client's resume, reads it. Ephemeral events (a contact typing) are pushed in whole (`push`).
 */
export class RealtimeObject extends DurableObject<WorkerEnv> {
  /** Position of the last event fanned out; kept in storage so a wake-up after hibernation continues there. */
  private tail: number | null = null;
  private account: string | null = null;
  private pumping: Promise<void> | null = null;
  private again = false;
  /** Last position each live socket was sent (absent after a wake-up: then it is live at the tail). */
  private readonly cursors = new Map<WebSocket, number>();
  /** Sockets still replaying what they missed: live fan-out skips them until they catch up. */
  private readonly catchingUp = new Set<WebSocket>();
  /** Frames sent and not yet acknowledged, per socket: [position, bytes]. */
  private readonly unacked = new Map<WebSocket, { pending: [number, number][]; bytes: number }>();
  /** Attachments already read (a WeakMap: a closed socket takes its entry with it). */
  private readonly subscribers = new WeakMap<WebSocket, Subscriber>();
  /** A replay waiting for the client's next acknowledgement. */
  private readonly ackWaiters = new Map<WebSocket, () => void>();

  private routed: Bindings | null = null;

  constructor(ctx: DurableObjectState, env: WorkerEnv) {
    super(ctx, env);
    // Answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /**
   * The upgrade — the one call that must be `fetch`, not RPC: a WebSocket travels in a Response. The Worker
   * authenticated the subscriber (ticket, pubsub token or bearer token) and names it in a header.
   */
  override async fetch(request: Request): Promise<Response> {
    const subscriber = JSON.parse(request.headers.get(SUBSCRIBER_HEADER) ?? "null") as Subscriber | null;
    if (!subscriber || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("internal upgrade request expected", { status: 400 });
    }
    this.rememberAccount(subscriber.accountId, request.headers.get(SHARD_HEADER) ?? undefined);
    const afterParam = new URL(request.url).searchParams.get("after");
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, tagsFor(subscriber));
    server.serializeAttachment({ subscriber, connectedAt: Date.now() } satisfies Attachment);
    // Not live until it knows where it starts: the fan-out leaves it alone meanwhile.
    this.catchingUp.add(server);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
    if (afterParam === null) {
      const read = await this.currentTail();
      // Starts after whatever the fan-out already passed while we read: the position it reports is exact.
      const start = Math.max(read, this.tail ?? read);
      this.cursors.set(server, start);
      this.catchingUp.delete(server);
      this.send(server, { event: "ready", position: String(start) }, null);
    } else {
      this.ctx.waitUntil(this.catchUp(server, subscriber, Number(afterParam)));
    }
    // Isolates that heard "nobody listens" just before this connect skip their nudges for up to QUIET_MS:
    // one more pump after that window sends what they committed meanwhile.
    this.ctx.waitUntil(
      new Promise((resolve) => setTimeout(resolve, QUIET_MS + QUIET_MARGIN_MS))
        .then(() => this.pump())
        .catch((error) => console.warn(JSON.stringify({ level: "warn", message: "realtime pump after connect failed", error: String(error) }))),
    );
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * RPC: these events committed; fan out everything after the tail. Answers whether anyone listens: if
   * not, the caller's isolate skips this account's nudges for QUIET_MS (realtime/forward.ts).
   */
  async notify(accountId: string, eventIds: string[], shard?: string): Promise<boolean> {
    this.rememberAccount(accountId, shard);
    if (this.ctx.getWebSockets().length === 0) {
      // Nobody listens: forget the tail, the next socket starts from the head (a storage write only once).
      if (this.tail !== null || this.ctx.storage.kv.get<number>("tail") !== undefined) {
        this.tail = null;
        this.ctx.storage.kv.delete("tail");
      }
      return false;
    }
    if (eventIds.length > 0) await this.pump();
    return true;
  }

  /** RPC: an ephemeral event (never stored): sent to whoever may see it now, not replayed on resume. */
  async push(event: Omit<StreamEvent, "position"> & { envelope: Record<string, unknown> }): Promise<void> {
    const stream: StreamEvent = { ...event, position: null };
    const frame = JSON.stringify({ ...event.envelope, position: null });
    for (const ws of this.recipients(stream)) {
      if (!this.catchingUp.has(ws)) this.sendRaw(ws, frame, null);
    }
  }

  /** RPC: closes the sockets opened with these credentials or for these users (revocation, access changes). */
  async disconnect(selector: { tokenIds?: string[]; userIds?: string[]; contactInboxIds?: string[] }, why: keyof typeof CLOSE): Promise<number> {
    const tags = [
      ...(selector.tokenIds ?? []).map((id) => `token:${id}`),
      ...(selector.userIds ?? []).map((id) => `user:${id}`),
      ...(selector.contactInboxIds ?? []).map((id) => `contact-inbox:${id}`),
    ];
    const sockets = new Set(tags.flatMap((tag) => this.ctx.getWebSockets(tag)));
    for (const ws of sockets) this.close(ws, CLOSE[why]);
    return sockets.size;
  }

  /** RPC for tests and the bench: how many sockets the object holds. */
  async stats(): Promise<{ sockets: number; agents: number; contacts: number; tail: number | null }> {
    return {
      sockets: this.ctx.getWebSockets().length,
      agents: this.ctx.getWebSockets("agent").length,
      contacts: this.ctx.getWebSockets("contact").length,
      tail: this.tail ?? this.ctx.storage.kv.get<number>("tail") ?? null,
    };
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== "string") return;
    let parsed: { type?: unknown; position?: unknown };
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (parsed.type === "ack" && typeof parsed.position === "string" && /^\d{1,15}$/.test(parsed.position)) {
      this.acknowledge(ws, Number(parsed.position));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.forget(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.forget(ws);
  }

  /** Closes sockets that stopped pinging; re-arms while any socket remains. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = ws.deserializeAttachment() as Attachment | null;
      const lastPing = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? attachment?.connectedAt ?? 0;
      if (now - lastPing > PING_TIMEOUT_MS) this.close(ws, CLOSE.idle);
    }
    if (this.ctx.getWebSockets().length > 0) await this.ctx.storage.setAlarm(now + SWEEP_EVERY_MS);
  }

  /** The object is named after its account (idFromName); it keeps the id to query by. */
  private rememberAccount(accountId: string, shard: string | undefined) {
    if (this.account === null) {
      this.account = accountId;
      this.ctx.storage.kv.put("account", accountId);
    }
    // The account's shard (kept: a wake-up from hibernation reads events without a caller). A move changes it.
    if (shard !== undefined && this.shard.SHARD !== shard) {
      this.routed = shardEnv(this.env, shard);
      this.ctx.storage.kv.put("shard", shard);
    }
  }

  /** The bindings of the account's shard, where its events are read. */
  private get shard(): Bindings {
    return (this.routed ??= shardEnv(this.env, this.ctx.storage.kv.get<string>("shard") ?? defaultShard(this.env)));
  }

  private accountId(): string {
    this.account ??= this.ctx.storage.kv.get<string>("account") ?? null;
    if (this.account === null) throw new Error("realtime object used before it knew its account");
    return this.account;
  }

  private async currentTail(): Promise<number> {
    this.tail ??= this.ctx.storage.kv.get<number>("tail") ?? null;
    if (this.tail === null) {
      const row = await database(this.shard)
        .select({ position: max(events.position) })
        .from(events)
        .where(eq(events.accountId, this.accountId()))
        .get();
      this.tail ??= row?.position ?? 0;
      this.ctx.storage.kv.put("tail", this.tail);
    }
    return this.tail;
  }

  /** One reader at a time; nudges that arrive meanwhile make it read once more. */
  private pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return this.pumping;
    }
    this.pumping = (async () => {
      do {
        this.again = false;
        await this.drain();
      } while (this.again);
    })().finally(() => {
      this.pumping = null;
    });
    return this.pumping;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const tail = await this.currentTail();
      const rows = await this.readAfter(tail);
      // Stored attachments get their data_url signed now, for this delivery of the frame (docs/attachments.md).
      const frames = await Promise.all(rows.map((row) => withDataUrls(this.shard, envelope(row, toStreamEvent(row)))));
      rows.forEach((row, i) => this.fanOut(row, frames[i]!));
      if (rows.length > 0) {
        this.tail = rows[rows.length - 1]!.position;
        this.ctx.storage.kv.put("tail", this.tail);
      }
      if (rows.length < PAGE) return;
    }
  }

  private async readAfter(position: number, limit = PAGE): Promise<Row[]> {
    const rows = await database(this.shard)
      .select({ event: events, inboxName: inboxes.name })
      .from(events)
      .leftJoin(inboxes, eq(inboxes.id, events.inboxId))
      .where(and(eq(events.accountId, this.accountId()), gt(events.position, position)))
      .orderBy(asc(events.position))
      .limit(limit);
    return rows.map((row) => ({ ...row.event, inboxName: row.inboxName }));
  }

  private fanOut(row: Row, signed: Record<string, unknown>) {
    const event = toStreamEvent(row);
    let frame: string | undefined;
    for (const ws of this.recipients(event)) {
      if (this.catchingUp.has(ws) || (this.cursors.get(ws) ?? 0) >= row.position) continue;
      frame ??= JSON.stringify(signed);
      this.sendRaw(ws, frame, row.position);
      this.cursors.set(ws, row.position);
    }
  }

  private recipients(event: StreamEvent): WebSocket[] {
    const sockets = new Set(candidateTags(event).flatMap((tag) => this.ctx.getWebSockets(tag)));
    return [...sockets].filter((ws) => {
      const subscriber = this.subscriberOf(ws);
      return subscriber !== null && visibleTo(subscriber, event);
    });
  }

  /** The socket's subscriber: deserialized once per wake-up, not once per event. */
  private subscriberOf(ws: WebSocket): Subscriber | null {
    const cached = this.subscribers.get(ws);
    if (cached) return cached;
    const subscriber = (ws.deserializeAttachment() as Attachment | null)?.subscriber ?? null;
    if (subscriber) this.subscribers.set(ws, subscriber);
    return subscriber;
  }

  /**
   * Replays what a resuming socket missed, from the events store, then hands it to the live fan-out.
   * A position the store no longer has (pruned, or never this account's), or a gap longer than
   * MAX_CATCH_UP, answers resync_required: the client reloads through the API and continues from there.
   */
  private async catchUp(ws: WebSocket, subscriber: Subscriber, after: number): Promise<void> {
    try {
      const known =
        after === 0 ||
        (await database(this.shard)
          .select({ position: events.position })
          .from(events)
          .where(and(eq(events.position, after), eq(events.accountId, subscriber.accountId)))
          .get()) !== undefined;
      let cursor = after;
      let sent = 0;
      let resync = !known;
      while (!resync) {
        const rows = await this.readAfter(cursor);
        for (const row of rows) {
          const event = toStreamEvent(row);
          // Typing is only news while it happens: a resume does not replay it.
          if (visibleTo(subscriber, event) && !TYPING.has(row.type)) {
            if (++sent > MAX_CATCH_UP) {
              resync = true;
              break;
            }
            const frame = JSON.stringify(await withDataUrls(this.shard, envelope(row, event)));
            // A replay goes at the client's pace: within its budget, waiting for its acknowledgements.
            if (!(await this.roomFor(ws, frame.length))) return;
            this.sendRaw(ws, frame, row.position);
          }
          cursor = row.position;
        }
        // Caught up once the store has nothing more and the live tail is not ahead of us.
        if (!resync && rows.length < PAGE && cursor >= (await this.currentTail())) break;
      }
      if (resync) {
        cursor = Math.max(cursor, await this.currentTail());
        this.send(ws, { event: "resync_required", position: String(cursor) }, null);
      } else {
        this.send(ws, { event: "ready", position: String(cursor) }, null);
      }
      this.cursors.set(ws, cursor);
    } catch (error) {
      console.warn(JSON.stringify({ level: "warn", message: "realtime catch-up failed", error: String(error) }));
      this.close(ws, { code: 1011, reason: "resume failed; reconnect and resume" });
    } finally {
      this.catchingUp.delete(ws);
    }
  }

  private send(ws: WebSocket, message: Record<string, unknown>, position: number | null) {
    this.sendRaw(ws, JSON.stringify(message), position);
  }

  /** Sends a frame and counts it against the socket's budget of unacknowledged bytes. */
  private sendRaw(ws: WebSocket, frame: string, position: number | null) {
    try {
      ws.send(frame);
    } catch {
      this.forget(ws);
      return;
    }
    const budget = config(this.env).realtimeUnackedBytes;
    const state = this.unacked.get(ws) ?? { pending: [], bytes: 0 };
    this.unacked.set(ws, state);
    if (position !== null) state.pending.push([position, frame.length]);
    state.bytes += position === null ? 0 : frame.length;
    if (state.bytes > budget) this.close(ws, CLOSE.slow);
  }

  private acknowledge(ws: WebSocket, position: number) {
    const state = this.unacked.get(ws);
    if (!state) return;
    while (state.pending.length > 0 && state.pending[0]![0] <= position) state.bytes -= state.pending.shift()![1];
    this.ackWaiters.get(ws)?.();
  }

  /**
   * Waits until `bytes` more fit in the socket's budget (an empty budget always takes one frame). False,
   * and the socket closed as slow, if the client acknowledges nothing for ACK_WAIT_MS.
   */
  private async roomFor(ws: WebSocket, bytes: number): Promise<boolean> {
    const budget = config(this.env).realtimeUnackedBytes;
    for (;;) {
      const state = this.unacked.get(ws);
      if (!state || state.bytes === 0 || state.bytes + bytes <= budget) return ws.readyState === WebSocket.OPEN;
      const acknowledged = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ACK_WAIT_MS);
        this.ackWaiters.set(ws, () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      this.ackWaiters.delete(ws);
      if (!acknowledged) {
        this.close(ws, CLOSE.slow);
        return false;
      }
    }
  }

  private close(ws: WebSocket, how: { code: number; reason: string }) {
    this.forget(ws);
    try {
      ws.close(how.code, how.reason);
    } catch {
      // Already closed.
    }
  }

  private forget(ws: WebSocket) {
    this.cursors.delete(ws);
    this.catchingUp.delete(ws);
    this.unacked.delete(ws);
    this.ackWaiters.get(ws)?.();
  }
}

function toStreamEvent(row: Row): StreamEvent {
  return {
    position: row.position,
    id: row.id,
    type: row.type,
    accountId: row.accountId,
    inboxId: row.inboxId,
    conversationId: row.conversationId,
    private: row.private,
    data: row.data,
  };
}

/** The webhook payload, plus the event's position: the client's resume point. */
function envelope(row: Row, _event: StreamEvent) {
  return { ...eventEnvelope(row, { id: row.inboxId ?? "", name: row.inboxName ?? "" }), position: String(row.position) };
}
