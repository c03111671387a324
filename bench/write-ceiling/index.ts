// POST /write → one INSERT of one row into D1 → 201. POST /r2 → one R2 put of the body → 201. GET anything else → 404 without I/O (the bare
// floor of a request through this runtime, with no framework). See wrangler.toml beside this file.
interface Env {
  DB: D1Database;
  BUCKET: R2Bucket;
}

let counter = 0;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/write") {
      const { content } = (await request.json()) as { content?: string };
      const id = crypto.randomUUID();
      // A distinct (conversation_id, seq) per request, as a message would have.
      await env.DB.prepare("INSERT INTO writes (id, conversation_id, seq, content, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(id, id, ++counter, content ?? null, Date.now())
        .run();
      return Response.json({ id }, { status: 201 });
    }
    // POST /r2 → the body put into R2 as one object, as it arrives: the floor of any stored upload.
    if (request.method === "POST" && url.pathname === "/r2") {
      const object = await env.BUCKET.put(crypto.randomUUID(), request.body);
      return Response.json({ size: object?.size }, { status: 201 });
    }
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    return Response.json({ status: 404 }, { status: 404 });
  },
} satisfies ExportedHandler<Env>;
