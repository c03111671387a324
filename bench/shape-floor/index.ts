// The floor of edge-inbox's fixed shape (wrangler.toml beside this file), measured by `npm run bench` beside the
// write ceiling:
// - POST /message {conversation, content}: the request, one RPC to that conversation's own Durable Object
//   (SQLite-backed, as the product's), which orders the message (its seq, held in memory) and writes it in one D1
//   round trip: the message, the conversation's summary and the event → 201 {id, seq}. The first call of an
//   object reads its conversation once; the bench warms every object first, as row 1b does.
// - GET /page?conversation=…: a held history page (the bench first sends POST /page-token?conversation=…): one D1
//   round trip that checks the caller's token and the conversation, then the bytes of a page of 100 messages that
//   this isolate holds.
// - GET /health for the bench's start; anything else: 404 without I/O.
import { DurableObject } from "cloudflare:workers";

interface Env {
  DB: D1Database;
  CONVERSATIONS: DurableObjectNamespace<Conversation>;
}

export class Conversation extends DurableObject<Env> {
  private lastSeq: number | undefined;

  async append(conversationId: string, content: string): Promise<{ id: string; seq: number }> {
    if (this.lastSeq === undefined) {
      const row = await this.env.DB.prepare("SELECT last_seq FROM conversations WHERE id = ?").bind(conversationId).first<{ last_seq: number }>();
      // Two first calls may both have read: the one that resumed first already took a seq.
      this.lastSeq ??= row?.last_seq ?? 0;
    }
    // Taken before the round trip: other calls run while it is out (the object's input gate stays open for D1).
    const seq = ++this.lastSeq!;
    const id = crypto.randomUUID();
    const now = Date.now();
    await this.env.DB.batch([
      this.env.DB.prepare("INSERT INTO messages (id, conversation_id, seq, content, created_at) VALUES (?, ?, ?, ?, ?)").bind(id, conversationId, seq, content, now),
      this.env.DB.prepare(
        "INSERT INTO conversations (id, last_seq, last_activity_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_activity_at = excluded.last_activity_at",
      ).bind(conversationId, seq, now),
      this.env.DB.prepare("INSERT INTO events (id, conversation_id, sequence, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)").bind(
        crypto.randomUUID(),
        conversationId,
        seq,
        "message_created",
        JSON.stringify({ id, conversation_id: conversationId, seq, content, created_at: now }),
        now,
      ),
    ]);
    return { id, seq };
  }
}

const PAGE_TOKEN_HASH = "floor-token-hash";
/** A page of 100 short messages as the product writes it (≈ 35 KB), held by the isolate (made on first use:
 * random values are not allowed in the global scope). */
let heldPage: string | undefined;
const pageOf100 = () => JSON.stringify({
  data: Array.from({ length: 100 }, (_, i) => ({
    id: crypto.randomUUID(),
    conversation_id: "floor",
    seq: i + 1,
    message_type: "incoming",
    content: "Hello! My order #48213 has not arrived yet, can you check where it is?",
    content_type: "text",
    content_attributes: {},
    private: false,
    status: "sent",
    sender: { type: "contact", id: crypto.randomUUID(), name: "Customer" },
    source_id: null,
    echo_id: null,
    attachments: [],
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  })),
  meta: { next_cursor: null },
});

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/message") {
      const { conversation, content } = (await request.json()) as { conversation: string; content: string };
      const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(conversation));
      return Response.json(await stub.append(conversation, content), { status: 201 });
    }
    // The bench's setup: the page's token, for a conversation that /message has written.
    if (request.method === "POST" && url.pathname === "/page-token") {
      const conversation = url.searchParams.get("conversation") ?? "";
      await env.DB.prepare("INSERT OR IGNORE INTO tokens (hash, conversation_id) VALUES (?, ?)").bind(PAGE_TOKEN_HASH, conversation).run();
      return new Response(null, { status: 204 });
    }
    if (request.method === "GET" && url.pathname === "/page") {
      const conversation = url.searchParams.get("conversation") ?? "";
      const allowed = await env.DB.prepare(
        "SELECT c.last_seq FROM tokens t JOIN conversations c ON c.id = t.conversation_id WHERE t.hash = ? AND t.conversation_id = ?",
      )
        .bind(PAGE_TOKEN_HASH, conversation)
        .first();
      if (allowed === null) return Response.json({ status: 404 }, { status: 404 });
      heldPage ??= pageOf100();
      return new Response(heldPage, { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    return Response.json({ status: 404 }, { status: 404 });
  },
} satisfies ExportedHandler<Env>;
