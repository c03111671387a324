// `npm start`: migrations, wrangler dev on PORT (8787), and a dev account whose credentials are printed,
// with SIGN_IN_URL: a one-time link that signs the dev administrator in to the console at /app.
// The dev account is created through the API with the platform token and remembered in
// .wrangler/dev-account.json, so restarts print the same, still valid, credentials.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { projectRoot, startDevServer } from "./dev-server.mjs";

const port = Number(process.env.PORT ?? 8787);
const platformToken = process.env.PLATFORM_TOKEN ?? "dev-platform-token-change-me";
// PERSIST_TO: another state folder (the crash test and the orphan check use a fresh one); its credentials live in it.
const persistTo = process.env.PERSIST_TO || undefined;
const credentialsFile = path.join(persistTo ?? path.join(projectRoot, ".wrangler"), "dev-account.json");

const server = await startDevServer({
  port,
  persistTo,
  stdio: "inherit",
  vars: {
    PLATFORM_TOKEN: platformToken,
    ALLOW_LOOPBACK_WEBHOOKS: "true",
    // A development key for attachment data_urls; production sets the secret (docs/attachments.md).
    ATTACHMENT_SIGNING_SECRET: process.env.ATTACHMENT_SIGNING_SECRET ?? "dev-attachment-signing-secret-change-me",
  },
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    await server.stop();
    process.exit(0);
  });
}

async function seedDevAccount() {
  if (existsSync(credentialsFile)) {
    const saved = JSON.parse(readFileSync(credentialsFile, "utf8"));
    const check = await fetch(`${server.url}/v1/accounts/${saved.accountId}/users?limit=1`, {
      headers: { authorization: `Bearer ${saved.adminToken}` },
    });
    if (check.ok) return saved;
  }
  const response = await fetch(`${server.url}/v1/accounts`, {
    method: "POST",
    headers: { authorization: `Bearer ${platformToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Dev account", administrator: { name: "Dev Admin", email: "admin@dev.local" } }),
  });
  if (response.status !== 201) throw new Error(`seeding the dev account failed: ${response.status} ${await response.text()}`);
  const created = await response.json();
  const saved = { accountId: created.account.id, adminUserId: created.user.id, adminToken: created.token.token };
  mkdirSync(path.dirname(credentialsFile), { recursive: true });
  writeFileSync(credentialsFile, JSON.stringify(saved, null, 2));
  return saved;
}

/** A one-time link that signs the dev administrator in to the console (15 minutes; restart for a new one). */
async function signInUrl(account) {
  const response = await fetch(`${server.url}/v1/accounts/${account.accountId}/sign_in_links`, {
    method: "POST",
    headers: { authorization: `Bearer ${account.adminToken}` },
  });
  if (response.status !== 201) throw new Error(`creating the sign-in link failed: ${response.status} ${await response.text()}`);
  return (await response.json()).url;
}

try {
  const account = await seedDevAccount();
  const signIn = await signInUrl(account);
  console.log("");
  console.log(`edge-inbox is running at ${server.url}  (console: ${server.url}/app, API reference: ${server.url}/docs)`);
  console.log(`PLATFORM_TOKEN=${platformToken}`);
  console.log(`ACCOUNT_ID=${account.accountId}`);
  console.log(`ADMIN_TOKEN=${account.adminToken}`);
  console.log(`SIGN_IN_URL=${signIn}`);
  console.log("");
} catch (error) {
  console.error(error);
  await server.stop();
  process.exit(1);
}
await new Promise((resolve) => server.child.once("exit", resolve));
process.exit(0);
