// The console's sessions through the API: invites, sign-in, the cookie, CSRF, rate limits, revocation.
import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, unique, type TestAccount } from "../support/api";

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
