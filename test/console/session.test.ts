// The console's sessions through the API: invites, sign-in, the cookie, CSRF, rate limits, revocation.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { acceptInvite, issueLink, LINK_TTL_MS } from "../../src/domain/invites";
import { resolveSession, SESSION_TTL_MS } from "../../src/domain/sessions";
import { api, createTestAccount, createTestUser, expectProblem, unique, type TestAccount } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { isClient, openSocket } from "../support/realtime";
import { shardBindings } from "../support/shards";

const PASSWORD = "a long enough password";

function cookieOf(response: { headers: Headers }): string {
  const header = response.headers.get("set-cookie") ?? "";
  const match = /edge_inbox_session=([^;]*)/.exec(header);
  expect(match, header).not.toBeNull();
  return `edge_inbox_session=${match![1]}`;
}

/** A user of the account with a password, signed in: their cookie and CSRF token. */
async function signedInUser(account: TestAccount, role: "agent" | "administrator" = "agent") {
  const user = await createTestUser(account, role);
  const invite = await api("POST", `/v1/accounts/${account.accountId}/users/${user.id}/invites`, { token: account.adminToken });
  expect(invite.status, invite.text).toBe(201);
  const token = new URL(invite.body.url).hash.replace("#token=", "");
  const accepted = await api("POST", "/v1/session/invites", { body: { token, password: PASSWORD } });
  expect(accepted.status, accepted.text).toBe(201);
  const email = (await api("GET", `/v1/accounts/${account.accountId}/users/${user.id}`, { token: account.adminToken })).body.email as string;
  return { ...user, email, inviteToken: token, cookie: cookieOf(accepted), csrf: accepted.body.csrf_token as string };
}

describe("console sessions", () => {
  it("an invite sets the password once; the cookie is HttpOnly, SameSite=Lax, Secure off loopback", async () => {
    const account = await createTestAccount();
    const user = await createTestUser(account);
    const invite = await api("POST", `/v1/accounts/${account.accountId}/users/${user.id}/invites`, { token: account.adminToken });
    expect(invite.body.url).toMatch(/^http:\/\/edge-inbox\.test\/app\/invite#token=eil_/);
    const token = new URL(invite.body.url).hash.replace("#token=", "");
    const short = await api("POST", "/v1/session/invites", { body: { token, password: "short" } });
    expectProblem(short, 422, "validation_failed");
    const accepted = await api("POST", "/v1/session/invites", { body: { token, password: PASSWORD } });
    expect(accepted.status, accepted.text).toBe(201);
    const setCookie = accepted.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Secure/); // edge-inbox.test is not loopback
    expect(accepted.body).toMatchObject({ user: { id: user.id }, account_id: account.accountId });
    expectProblem(await api("POST", "/v1/session/invites", { body: { token, password: PASSWORD } }), 401, "invalid_link");
    // On loopback (npm start, plain http) the browser would drop a Secure cookie: only there it is left off.
    const local = await exports.default.fetch(
      new Request("http://127.0.0.1:8787/v1/session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: accepted.body.user.email, password: PASSWORD }) }),
    );
    expect(local.status).toBe(201);
    expect(local.headers.get("set-cookie")).toMatch(/HttpOnly/);
    expect(local.headers.get("set-cookie")).not.toMatch(/Secure/);
  });

  it("the cookie reads the API; changes need the CSRF token; bearer tokens are unaffected", async () => {
    const account = await createTestAccount();
    const agent = await signedInUser(account, "administrator");
    const session = await api("GET", "/v1/session", { headers: { cookie: agent.cookie } });
    expect(session.status).toBe(200);
    expect(session.body.csrf_token).toBe(agent.csrf);
    expect((await api("GET", `/v1/accounts/${account.accountId}/inboxes`, { headers: { cookie: agent.cookie } })).status).toBe(200);
    const body = { name: unique("inbox") };
    expectProblem(await api("POST", `/v1/accounts/${account.accountId}/inboxes`, { body, headers: { cookie: agent.cookie } }), 403, "csrf_token_invalid");
    expectProblem(
      await api("POST", `/v1/accounts/${account.accountId}/inboxes`, { body, headers: { cookie: agent.cookie, "x-csrf-token": "wrong" } }),
      403,
      "csrf_token_invalid",
    );
    const made = await api("POST", `/v1/accounts/${account.accountId}/inboxes`, { body, headers: { cookie: agent.cookie, "x-csrf-token": agent.csrf } });
    expect(made.status, made.text).toBe(201);
    // Another origin may not use the session even with the token.
    const foreign = await api("POST", `/v1/accounts/${account.accountId}/inboxes`, {
      body,
      headers: { cookie: agent.cookie, "x-csrf-token": agent.csrf, origin: "https://evil.example" },
    });
    expectProblem(foreign, 403, "forbidden");
    expect((await api("POST", `/v1/accounts/${account.accountId}/inboxes`, { body: { name: unique("inbox") }, token: account.adminToken })).status).toBe(201);
  });

  it("sign-in with email and password; failures are refused the same way, then rate limited", async () => {
    const account = await createTestAccount();
    const agent = await signedInUser(account);
    const ok = await api("POST", "/v1/session", { body: { email: agent.email, password: PASSWORD } });
    expect(ok.status, ok.text).toBe(201);
    expectProblem(await api("POST", "/v1/session", { body: { email: agent.email, password: "wrong password" } }), 401, "invalid_credentials");
    expectProblem(await api("POST", "/v1/session", { body: { email: `${unique("nobody")}@example.com`, password: PASSWORD } }), 401, "invalid_credentials");
    for (let i = 0; i < 4; i++) await api("POST", "/v1/session", { body: { email: agent.email, password: `wrong ${i}` } });
    const limited = await api("POST", "/v1/session", { body: { email: agent.email, password: PASSWORD } });
    expectProblem(limited, 429, "rate_limited");
    expect(limited.headers.get("retry-after")).toBeTruthy();
  });

  it("sign-out, a password change and removing the user end sessions", async () => {
    const account = await createTestAccount();
    const agent = await signedInUser(account);
    const second = await api("POST", "/v1/session", { body: { email: agent.email, password: PASSWORD } });
    const secondCookie = cookieOf(second);
    expectProblem(await api("DELETE", "/v1/session", { headers: { cookie: secondCookie } }), 403, "csrf_token_invalid");
    expect((await api("DELETE", "/v1/session", { headers: { cookie: secondCookie, "x-csrf-token": second.body.csrf_token } })).status).toBe(204);
    expectProblem(await api("GET", "/v1/session", { headers: { cookie: secondCookie } }), 401, "unauthorized");

    const changed = await api("POST", "/v1/session/password", {
      body: { current_password: PASSWORD, new_password: "another long password" },
      headers: { cookie: agent.cookie, "x-csrf-token": agent.csrf },
    });
    expect(changed.status, changed.text).toBe(201);
    expectProblem(await api("GET", "/v1/session", { headers: { cookie: agent.cookie } }), 401, "unauthorized");
    const fresh = cookieOf(changed);
    expect((await api("GET", "/v1/session", { headers: { cookie: fresh } })).status).toBe(200);
    expect((await api("DELETE", `/v1/accounts/${account.accountId}/users/${agent.id}`, { token: account.adminToken })).status).toBe(204);
    expectProblem(await api("GET", `/v1/accounts/${account.accountId}/inboxes`, { headers: { cookie: fresh } }), 401, "unauthorized");
  });

  it("a sign-in link works once, for its own user only; an expired invite is refused", async () => {
    const account = await createTestAccount();
    const link = await api("POST", `/v1/accounts/${account.accountId}/sign_in_links`, { token: account.adminToken });
    expect(link.status, link.text).toBe(201);
    const token = new URL(link.body.url).hash.replace("#token=", "");
    const first = await api("POST", "/v1/session/links", { body: { token } });
    expect(first.status, first.text).toBe(201);
    expect(first.body.user.id).toBe(account.adminId);
    expectProblem(await api("POST", "/v1/session/links", { body: { token } }), 401, "invalid_link");
    // An invite is not a sign-in link, and vice versa.
    const agent = await signedInUser(account);
    expectProblem(await api("POST", "/v1/session/links", { body: { token: agent.inviteToken } }), 401, "invalid_link");
  });
});

describe("the console's session beyond sign-in", () => {
  it("opens the agent stream with the cookie (same origin only); sign-out closes it", async () => {
    const account = await createTestAccount();
    const admin = await signedInUser(account, "administrator");
    const path = `/v1/accounts/${account.accountId}/realtime`;
    const foreign = await openSocket(path, { headers: { cookie: admin.cookie, origin: "https://evil.example" } });
    expect(isClient(foreign) ? 101 : foreign.status).toBe(403);
    const client = await openSocket(path, { headers: { cookie: admin.cookie, origin: "http://edge-inbox.test" } });
    if (!isClient(client)) throw new Error(`upgrade refused: ${client.status} ${JSON.stringify(client.body)}`);
    await client.next((frame) => frame.event === "ready");
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    const sent = await sendMessage(token, inbox, { contact: { source_id: unique("c") }, content: "live?" });
    await client.next((frame) => frame.event === "message_created" && frame.conversation_id === sent.conversation.id);
    expect((await api("DELETE", "/v1/session", { headers: { cookie: admin.cookie, "x-csrf-token": admin.csrf } })).status).toBe(204);
    expect((await client.closed).code).toBe(4001);
  });

  it("refuses an expired invite and an expired session", async () => {
    const account = await createTestAccount();
    const user = await createTestUser(account);
    const shard = await shardBindings(account.accountId);
    const link = await issueLink(shard, account.accountId, user.id, "invite");
    await expect(acceptInvite(env, link.token, PASSWORD, Date.now() + LINK_TTL_MS.invite + 1000)).rejects.toMatchObject({ code: "invalid_link" });
    // Still unused: it works within its time.
    const session = await acceptInvite(env, link.token, PASSWORD);
    expect(await resolveSession(shard, session.cookie)).not.toBeNull();
    expect(await resolveSession(shard, session.cookie, Date.now() + SESSION_TTL_MS + 1000)).toBeNull();
  });

  it("serves the console's page at /app and below, with a strict CSP", async () => {
    for (const path of ["/app", "/app/conversations/cnv_x", "/app/settings/inboxes"]) {
      const page = await api("GET", path);
      expect(page.status).toBe(200);
      expect(page.text).toContain('<script type="module" src="/app/console.js"></script>');
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    }
  });

  it("the session's own operations refuse bearer tokens and strangers", async () => {
    const account = await createTestAccount();
    expectProblem(await api("GET", "/v1/session", { token: account.adminToken }), 401, "unauthorized");
    expectProblem(await api("GET", "/v1/session", { headers: { cookie: "edge_inbox_session=eis_forged" } }), 401, "unauthorized");
    expectProblem(await api("DELETE", "/v1/session"), 401, "unauthorized");
    const agent = await createTestUser(account);
    // Only administrators invite, and only for their own account.
    expectProblem(await api("POST", `/v1/accounts/${account.accountId}/users/${agent.id}/invites`, { token: agent.token }), 403, "forbidden");
    const other = await createTestAccount();
    expectProblem(await api("POST", `/v1/accounts/${account.accountId}/users/${agent.id}/invites`, { token: other.adminToken }), 404, "account_not_found");
  });
});
