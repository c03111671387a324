// Browser tests of the web console (docs/console.md), part of `npm test`: `npm start` on a fresh state
// folder, Debian's chromium driven by playwright-core (no browser download), a local webhook receiver.
// Covers the newcomer's path end to end — the printed SIGN_IN_URL → Settings → Inboxes → Add inbox → API (by
// keyboard, at 390×844) → a message sent with the shown curl's values appears live → reply (Ctrl+Enter) → the
// receiver gets the signed message_created → a reply with an attached PNG (inline in the history, data_url in
// the webhook) → private note → resolve — then an agent who is not a member of an inbox never seeing its
// conversations, a failed sign-in, a password change, sign-out, a spent invite link, and the phone layout.
// `--screenshots` also writes docs/screenshots/*.png.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { freePort, projectRoot } from "./dev-server.mjs";
import { killGroup, startNpmStart } from "./check-orphans.mjs";

/** The PNG a reply attaches: 120×72, a blue "label" with a yellow stripe (big enough to see in a screenshot). */
const LABEL_PNG = makePng(120, 72, (x, y) => (y >= 28 && y < 44 ? [255, 191, 71] : x < 6 || x >= 114 || y < 6 || y >= 66 ? [20, 33, 61] : [11, 95, 204]));

function makePng(width, height, rgbAt) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "latin1");
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, tail]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rows.set(rgbAt(x, y), y * (1 + width * 3) + 1 + x * 3);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const screenshots = process.argv.includes("--screenshots");
const shotsDir = path.join(projectRoot, "docs", "screenshots");
const started = Date.now();
const TIMEOUT = 15_000;

if (!existsSync(CHROMIUM)) {
  console.error(`check-console: no chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  process.exit(1);
}

// The integrator's webhook endpoint: keeps each request's headers and raw body for signature checks.
const received = [];
const receiver = createServer(async (request, response) => {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
  response.writeHead(200, { "content-type": "text/plain" }).end("ok");
});
const receiverPort = await freePort();
await new Promise((resolve) => receiver.listen(receiverPort, "127.0.0.1", resolve));

const port = await freePort();
const persistTo = mkdtempSync(path.join(tmpdir(), "edge-inbox-console-"));
let service;
let browser;
const step = (name) => console.log(`  · ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);

async function until(what, predicate, ms = TIMEOUT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The pieces of the curl the console shows: URL, headers, body — sent with fetch as a shell would. */
function parseCurl(text) {
  const url = /curl -X POST '([^']+)'/.exec(text)?.[1];
  const headers = Object.fromEntries([...text.matchAll(/-H '([^:]+): ([^']+)'/g)].map((m) => [m[1], m[2]]));
  const body = /-d '([^']+)'/.exec(text)?.[1];
  if (!url || !body) throw new Error(`could not read the curl command:\n${text}`);
  return { url, headers, body };
}

async function api(method, pathname, token, body) {
  const response = await fetch(`${service.url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${pathname}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Every control on the page has an accessible name (a label, aria-label or its text). */
async function expectNamedControls(page, where) {
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("button, input, select, textarea, a[href]")]
      .filter((el) => el.offsetParent !== null || el.getClientRects().length > 0)
      .filter((el) => {
        const labelled = el.getAttribute("aria-label") || (el.labels && [...el.labels].some((l) => l.textContent.trim()));
        const text = el.textContent.trim();
        return !labelled && !(el.tagName === "BUTTON" || el.tagName === "A" ? text : "");
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  if (unnamed.length) throw new Error(`${where}: controls without an accessible name: ${unnamed.join(" | ")}`);
}

/** Presses Tab until the control has the focus: it is in the page's tab order, reachable without a mouse. */
async function tabTo(page, locator, most = 60) {
  await locator.waitFor();
  for (let i = 0; i < most; i++) {
    if (await locator.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${locator}`);
}

/** Nothing wider than the viewport (no sideways scrolling on a phone). */
async function expectNoHorizontalScroll(page, where) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  if (scroll > width) throw new Error(`${where}: the page is ${scroll}px wide in a ${width}px viewport`);
}

async function shot(page, name) {
  if (!screenshots) return;
  mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: path.join(shotsDir, `${name}.png`) });
}

let failed = false;
try {
  service = await startNpmStart({ port, persistTo });
  const signInUrl = await until("SIGN_IN_URL", () => /SIGN_IN_URL=(\S+)/.exec(service.output())?.[1]);
  step("npm start printed SIGN_IN_URL");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const admin = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  admin.setDefaultTimeout(TIMEOUT);
  const page = await admin.newPage();
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));

  // 1. The newcomer: the printed link signs the dev administrator in.
  await page.goto(signInUrl);
  await page.getByRole("heading", { name: "Conversations" }).waitFor();
  if (page.url().includes("token=")) throw new Error("the sign-in token stayed in the address bar");
  step("signed in with the SIGN_IN_URL");

  // 2. Settings → Inboxes → Add inbox → API, as the help article says: by keyboard alone (Tab to each control,
  // Enter), on a phone-sized screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const mainNav = page.getByRole("navigation", { name: "Main" });
  const settingsNav = page.getByRole("navigation", { name: "Settings" });
  if ((await mainNav.getByRole("link").allTextContents()).join(" | ") !== "Conversations | Settings") throw new Error("the main navigation is not Conversations | Settings");
  await tabTo(page, mainNav.getByRole("link", { name: "Settings", exact: true }));
  await page.keyboard.press("Enter");
  await tabTo(page, settingsNav.getByRole("link", { name: "Inboxes", exact: true }));
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Settings → Inboxes" }).waitFor();
  if ((await settingsNav.getByRole("link").allTextContents()).join(" | ") !== "Inboxes | Users | Automation | Account") throw new Error("an administrator's Settings should offer Inboxes, Users, Automation and Account");
  await expectNoHorizontalScroll(page, "Settings → Inboxes at 390×844");
  await tabTo(page, page.getByRole("link", { name: "Add inbox" }));
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByRole("button", { name: /^API/ }));
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByLabel("Inbox name"));
  await page.keyboard.type("Website");
  await tabTo(page, page.getByLabel("Webhook URL"));
  await page.keyboard.type(`http://127.0.0.1:${receiverPort}/hooks`);
  await expectNamedControls(page, "Add inbox → API");
  await expectNoHorizontalScroll(page, "Add inbox → API at 390×844");
  await tabTo(page, page.getByRole("button", { name: "Create inbox" }));
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: /is ready/ }).waitFor();
  await expectNoHorizontalScroll(page, "the new inbox's credentials at 390×844");
  await page.setViewportSize({ width: 1280, height: 800 });
  const identifier = await page.getByTestId("Inbox identifier").textContent();
  const secret = await page.getByTestId("Signing secret").textContent();
  const curl = await page.getByLabel("curl command", { exact: true }).textContent();
  if (!secret?.startsWith("whsec_") || !identifier || !curl.includes(identifier)) throw new Error("the new inbox's secret, identifier or curl is missing");
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.getByRole("status").filter({ hasText: "Delivered" }).waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "add-inbox-result");
  step("created the inbox; the test event was delivered");

  await page.getByRole("link", { name: "Inboxes" }).click();
  await page.getByRole("link", { name: "Website" }).waitFor();
  await shot(page, "settings-inboxes");

  // 3. A message sent with the curl's values appears in Conversations without a reload.
  await page.getByRole("link", { name: "Conversations" }).click();
  await page.getByText("Live", { exact: true }).waitFor();
  const request = parseCurl(curl);
  const sent = await fetch(request.url, { method: "POST", headers: request.headers, body: request.body });
  if (sent.status !== 201) throw new Error(`the curl's request answered ${sent.status}: ${await sent.text()}`);
  const item = page.getByRole("link", { name: /First Customer/ });
  await item.waitFor();
  step("the curl's message appeared live");
  await item.click();
  await page.getByText("Hello from the API!").waitFor();

  // 4. Reply with Ctrl+Enter; the receiver gets the signed message_created.
  const reply = page.getByRole("textbox", { name: "Reply" });
  await reply.fill("Thanks for writing, we are on it.");
  await reply.press("Control+Enter");
  await page.locator(".message.outgoing").filter({ hasText: "we are on it" }).waitFor();
  const webhook = await until("the reply's webhook", () =>
    received.find((r) => {
      const body = JSON.parse(r.body);
      return body.event === "message_created" && body.message_type === "outgoing";
    }) ??
    received.find((r) => {
      const body = JSON.parse(r.body);
      return body.event === "message_created" && body.message?.message_type === "outgoing";
    }),
  );
  new Webhook(secret).verify(webhook.body, webhook.headers);
  step("the reply reached the receiver, signed (standardwebhooks verified)");

  // 4b. A reply with a file: Attach files → the image shows in the history; the webhook carries its data_url.
  await page.getByLabel("Attach files").setInputFiles({ name: "return-label.png", mimeType: "image/png", buffer: LABEL_PNG });
  await page.getByRole("list", { name: "Attached files" }).getByText("return-label.png").waitFor();
  await reply.fill("Here is the return label.");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  const image = page.locator(".message.outgoing").filter({ hasText: "return label" }).getByRole("img", { name: "return-label.png" });
  await image.waitFor();
  await until("the attached image to load", () => image.evaluate((img) => img.complete && img.naturalWidth === 120));
  const withFile = await until("the webhook of the reply with a file", () =>
    received
      .map((r) => JSON.parse(r.body))
      .filter((body) => body.event === "message_created")
      .map((body) => body.message ?? body)
      .find((message) => message.content === "Here is the return label."),
  );
  const sentFile = withFile.attachments?.[0];
  if (withFile.attachments?.length !== 1 || sentFile.file_name !== "return-label.png" || !sentFile.data_url) throw new Error(`the webhook's attachment is not the file: ${JSON.stringify(withFile.attachments)}`);
  const download = await fetch(sentFile.data_url);
  if (download.status !== 200 || !Buffer.from(await download.arrayBuffer()).equals(LABEL_PNG)) throw new Error(`the webhook's data_url answered ${download.status} and not the file`);
  step("a reply with a PNG: shown inline, its webhook's data_url serves the file");

  // 5. A private note, set apart; then resolve.
  await page.getByRole("button", { name: "Private note", exact: true }).click();
  await page.getByRole("textbox", { name: "Private note" }).fill("Customer is on the premium plan.");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.locator(".message.note").filter({ hasText: "premium plan" }).waitFor();
  await page.getByRole("button", { name: "Reply", exact: true }).click();
  await expectNamedControls(page, "conversation");
  await shot(page, "conversation");
  await page.getByRole("button", { name: "Resolve" }).click();
  await page.getByRole("button", { name: "Reopen" }).waitFor();
  await page.locator(".status-resolved").waitFor();
  step("private note and resolve");
  await page.goto(`${service.url}/app/conversations?status=resolved`);
  await page.getByRole("link", { name: /First Customer/ }).waitFor();
  await shot(page, "conversations");

  // 5b. The inbox's page: the delivery log shows the reply, replay since works; Users and Automation render and act.
  await page.getByRole("link", { name: "Settings", exact: true }).click();
  await page.getByRole("heading", { name: "Settings → Inboxes" }).waitFor();
  await page.getByRole("link", { name: "Website" }).click();
  await page.getByRole("heading", { name: "Delivery log" }).waitFor();
  await page.getByRole("cell", { name: "message_created" }).first().waitFor();
  const anHourAgo = new Date(Date.now() - 3600_000 - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  await page.getByLabel("Replay since").fill(anHourAgo);
  await page.getByRole("button", { name: "Replay", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Replay started." }).waitFor();
  await expectNamedControls(page, "inbox page");
  await shot(page, "inbox");
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByLabel("Name").fill("Robin Reviewer");
  await page.getByLabel("Email").fill("robin@dev.local");
  await page.getByRole("button", { name: "Invite", exact: true }).click();
  await page.getByTestId("Invite link").filter({ hasText: "/app/invite#token=" }).waitFor();
  await page.getByRole("cell", { name: "robin@dev.local" }).waitFor();
  await expectNamedControls(page, "users page");
  await page.getByRole("link", { name: "Automation" }).click();
  await page.getByRole("button", { name: "Add rule" }).click();
  await page.getByText("Label refunds").waitFor();
  const enabled = page.getByRole("checkbox", { name: "Enabled" });
  await enabled.click();
  await until("the rule to be disabled", async () => !(await enabled.isChecked()));
  await page.getByRole("button", { name: "Run trace" }).click();
  await page.getByText("No runs yet.").waitFor();
  await expectNamedControls(page, "automation page");
  step("inbox page (delivery log, replay), users (invite), automation (add, disable, trace)");

  // 6. An agent who is not a member of "Website" never sees its conversations (list nor live).
  const members = await api("POST", `/v1/accounts/${service.accountId}/inboxes`, service.adminToken, { name: "Support", webhook_url: null });
  const agent = await api("POST", `/v1/accounts/${service.accountId}/users`, service.adminToken, { name: "Alex Agent", email: "alex@dev.local", role: "agent" });
  await api("PUT", `/v1/accounts/${service.accountId}/inboxes/${members.id}/members`, service.adminToken, { user_ids: [agent.id] });
  const invite = await api("POST", `/v1/accounts/${service.accountId}/users/${agent.id}/invites`, service.adminToken);
  const agentContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  agentContext.setDefaultTimeout(TIMEOUT);
  const agentPage = await agentContext.newPage();
  await agentPage.goto(invite.url);
  await agentPage.getByLabel(/New password/).fill("alex's long password");
  await agentPage.getByRole("button", { name: "Set password and sign in" }).click();
  await agentPage.getByRole("heading", { name: "Conversations" }).waitFor();
  await agentPage.getByText("Live", { exact: true }).waitFor();
  step("agent signed in through the invite");
  const say = (inbox, name, content) =>
    api("POST", `/v1/inboxes/${inbox}/messages`, service.adminToken, { contact: { source_id: name.toLowerCase().replace(/ /g, "-"), name }, content });
  await say(identifier, "Hidden Person", "A question for the website team");
  await say(members.identifier, "Visible Person", "A question for support");
  step("messages sent");
  await agentPage.getByRole("link", { name: /Visible Person/ }).waitFor();
  if ((await agentPage.getByText("Hidden Person").count()) > 0) throw new Error("the agent saw a conversation of an inbox they are not a member of");
  if ((await agentPage.getByRole("link", { name: "Inboxes" }).count()) > 0) throw new Error("an agent was shown the administrators' settings");
  await agentPage.getByRole("link", { name: "Settings", exact: true }).click();
  await agentPage.getByRole("heading", { name: "Your account" }).waitFor();
  const agentSettings = await agentPage.getByRole("navigation", { name: "Settings" }).getByRole("link").allTextContents();
  if (agentSettings.join(" | ") !== "Account") throw new Error(`an agent's Settings offered ${agentSettings.join(", ")}`);
  await agentPage.goto(`${service.url}/app/settings/inboxes`);
  await agentPage.getByRole("alert").filter({ hasText: "Only administrators" }).waitFor();
  await agentPage.goto(`${service.url}/app/account`);
  await agentPage.getByRole("heading", { name: "Your account" }).waitFor();
  if (new URL(agentPage.url()).pathname !== "/app/settings/account") throw new Error(`the old /app/account led to ${agentPage.url()}`);
  await agentPage.getByRole("link", { name: "Conversations", exact: true }).first().click();
  await agentPage.getByText("Live", { exact: true }).waitFor();
  const hidden = await api("GET", `/v1/accounts/${service.accountId}/conversations?inbox_id=${(await api("GET", `/v1/accounts/${service.accountId}/inboxes`, service.adminToken)).data.find((i) => i.identifier === identifier).id}`, service.adminToken);
  const direct = await agentPage.request.get(`${service.url}/v1/accounts/${service.accountId}/conversations/${hidden.data[0].id}`);
  if (direct.status() !== 404) throw new Error(`the agent read another inbox's conversation: ${direct.status()}`);
  step("an agent sees only their inboxes' conversations");

  // 7. The phone layout.
  await agentPage.setViewportSize({ width: 390, height: 844 });
  await agentPage.getByRole("link", { name: /Visible Person/ }).click();
  await agentPage.getByRole("textbox", { name: "Reply" }).waitFor();
  await agentPage.getByRole("link", { name: "← Conversations" }).waitFor();
  await expectNoHorizontalScroll(agentPage, "conversation at 390×844");
  await shot(agentPage, "conversation-phone");
  await agentPage.getByRole("link", { name: "← Conversations" }).click();
  await agentPage.getByRole("tab", { name: /All/ }).waitFor();
  await expectNoHorizontalScroll(agentPage, "conversation list at 390×844");
  await agentContext.close();

  // 8. A failed sign-in shows the API's detail; a spent invite link is refused.
  const stranger = await browser.newContext({ viewport: { width: 390, height: 844 } });
  stranger.setDefaultTimeout(TIMEOUT);
  const strangerPage = await stranger.newPage();
  await strangerPage.goto(`${service.url}/app`);
  await strangerPage.getByLabel("Email").fill("alex@dev.local");
  await strangerPage.getByLabel("Password").fill("not the password");
  await strangerPage.getByRole("button", { name: "Sign in" }).click();
  await strangerPage.getByRole("alert").filter({ hasText: "The email or password is wrong" }).waitFor();
  await strangerPage.getByLabel("Password").fill("alex's long password");
  await strangerPage.getByRole("button", { name: "Sign in" }).click();
  await strangerPage.getByRole("heading", { name: "Conversations" }).waitFor();
  await strangerPage.getByRole("link", { name: /Your account/ }).click();
  await strangerPage.getByLabel("Current password").fill("alex's long password");
  await strangerPage.getByLabel(/New password/).fill("alex's newer password");
  await strangerPage.getByRole("button", { name: "Change password" }).click();
  await strangerPage.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
  await strangerPage.getByRole("button", { name: "Sign out" }).click();
  await strangerPage.getByRole("button", { name: "Sign in" }).waitFor();
  await strangerPage.goto(invite.url);
  await strangerPage.getByLabel(/New password/).fill("another long password");
  await strangerPage.getByRole("button", { name: "Set password and sign in" }).click();
  await strangerPage.getByRole("alert").filter({ hasText: "expired or already used" }).waitFor();
  step("sign-in failure, password change, sign-out and a spent invite are shown");
  await stranger.close();
  if (pageErrors.length) throw new Error(`the console threw: ${pageErrors.join("; ")}`);
} catch (error) {
  failed = true;
  // What the browser showed when it failed, for the log reader.
  for (const context of browser?.contexts() ?? []) for (const open of context.pages()) await open.screenshot({ path: path.join(tmpdir(), "check-console-failure.png") }).catch(() => {});
  console.error(`check-console: the last page is in ${path.join(tmpdir(), "check-console-failure.png")}`);
  console.error("check-console failed:", error);
  if (service) console.error(service.output().split("\n").slice(-30).join("\n"));
} finally {
  await browser?.close().catch(() => {});
  if (service) {
    killGroup(service.child.pid, "SIGTERM");
    await until("npm start to stop", () => service.child.exitCode !== null || service.child.signalCode !== null, 8000).catch(() => killGroup(service.child.pid));
  }
  receiver.close();
  rmSync(persistTo, { recursive: true, force: true });
}
if (failed) process.exit(1);
console.log(`check-console: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
