// A local webhook endpoint for trying edge-inbox: prints every delivery and, with WEBHOOK_SECRET set,
// verifies its Standard Webhooks signature. Usage: WEBHOOK_SECRET=whsec_… node scripts/webhook-receiver.mjs [port]
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const port = Number(process.argv[2] ?? process.env.RECEIVER_PORT ?? 9999);
const verifier = process.env.WEBHOOK_SECRET ? new Webhook(process.env.WEBHOOK_SECRET) : null;

createServer(async (request, response) => {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString("utf8");
  let verdict = "signature not checked (set WEBHOOK_SECRET)";
  if (verifier) {
    try {
      verifier.verify(body, request.headers);
      verdict = "signature OK";
    } catch (error) {
      verdict = `signature INVALID: ${error.message}`;
    }
  }
  let event = body;
  try {
    const parsed = JSON.parse(body);
    event = `${parsed.event} ${parsed.id} sequence=${parsed.sequence}${parsed.message ? ` message=${JSON.stringify(parsed.message.content)}` : ""}`;
  } catch {}
  console.log(`${new Date().toISOString()} ${request.method} ${request.url} ${event} — ${verdict}`);
  response.writeHead(200, { "content-type": "text/plain" }).end("ok");
}).listen(port, "127.0.0.1", () => console.log(`webhook receiver listening on http://127.0.0.1:${port}/hooks`));
