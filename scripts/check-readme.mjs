// Runs the README's walk-through (the block between the walkthrough markers) against a fresh
// `wrangler dev`, exactly as a user would paste it, and checks that the agent's reply reached the webhook.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, projectRoot, startDevServer } from "./dev-server.mjs";

const readme = readFileSync(path.join(projectRoot, "README.md"), "utf8");
const block = /<!-- walkthrough:start -->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme)?.[1];
if (!block) throw new Error("README.md has no walkthrough block");

const received = [];
const receiver = createServer(async (request, response) => {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
  response.writeHead(200).end("ok");
});
const receiverPort = await freePort();
await new Promise((resolve) => receiver.listen(receiverPort, "127.0.0.1", resolve));

const platformToken = "readme-check-platform-token";
const persistTo = mkdtempSync(path.join(tmpdir(), "edge-inbox-readme-"));
const port = await freePort();
const started = Date.now();
const server = await startDevServer({ port, persistTo, vars: { PLATFORM_TOKEN: platformToken, ALLOW_LOOPBACK_WEBHOOKS: "true" } });
let failed = false;
try {
  const account = await (
    await fetch(`${server.url}/v1/accounts`, {
      method: "POST",
      headers: { authorization: `Bearer ${platformToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "README", administrator: { name: "Bruno", email: "bruno@example.com" } }),
    })
  ).json();
  // The walk-through twice would be a good retry test, but once is what the README promises.
  const script = block.replaceAll("127.0.0.1:9999", `127.0.0.1:${receiverPort}`);
  const run = spawnSync("bash", ["-euo", "pipefail", "-c", script], {
    env: { ...process.env, BASE: server.url, ACCOUNT_ID: account.account.id, ADMIN_TOKEN: account.token.token },
    encoding: "utf8",
    timeout: 60_000,
  });
  if (run.status !== 0) {
    failed = true;
    console.error(`README walk-through failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  } else {
    const deadline = Date.now() + 10_000;
    const replied = () => received.some((event) => event.event === "message_created" && event.message?.message_type === "outgoing");
    while (!replied() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (!replied()) {
      failed = true;
      console.error(`README walk-through ran, but the agent's reply never reached the webhook. Received: ${JSON.stringify(received.map((e) => e.event))}`);
    }
  }
} finally {
  await server.stop();
  receiver.close();
  rmSync(persistTo, { recursive: true, force: true });
}
if (failed) process.exit(1);
console.log(`README walk-through: ok (${received.length} webhooks received, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
