import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, TEST_PLATFORM_TOKEN, unique, type TestAccount } from "../support/api";
import { callWithEnv } from "../support/faults";

async function setLimits(account: TestAccount, rate_limits: Record<string, number | null> | null) {
  const res = await api("PATCH", `/v1/accounts/${account.accountId}`, { token: TEST_PLATFORM_TOKEN, body: { rate_limits } });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** Parses `"name";k=v;k=v, "name";…` (the draft's structured-field lists) into {name: {k: number}}. */
function parseItems(field: string | null): Record<string, Record<string, number>> {
  const result: Record<string, Record<string, number>> = {};
  for (const member of (field ?? "").split(",").map((part) => part.trim()).filter(Boolean)) {
    const [name, ...params] = member.split(";");
    expect(name).toMatch(/^"[a-z_]+"$/);
    result[JSON.parse(name!)] = Object.fromEntries(params.map((param) => param.split("=")).map(([k, v]) => [k, Number(v)]));
  }
  return result;
}

describe("rate limits", () => {
  it("advertises the token's policy and what is left on every authenticated response", async () => {
    const account = await createTestAccount();
    const first = await api("GET", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken });
    const second = await api("GET", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken });
    expect(parseItems(first.headers.get("ratelimit-policy"))).toEqual({ per_token: { q: 1200, w: 60 } });
    const before = parseItems(first.headers.get("ratelimit")).per_token!;
    const after = parseItems(second.headers.get("ratelimit")).per_token!;
    expect(after.r).toBe(before.r! - 1);
    expect(after.t).toBeGreaterThanOrEqual(0);
  });

  it("answers 429 rate_limited naming the token's limit, with Retry-After and RateLimit fields", async () => {
    const account = await createTestAccount();
    await setLimits(account, { per_token: 3 });
    const path = `/v1/accounts/${account.accountId}/users`;
    for (let i = 0; i < 3; i++) expect((await api("GET", path, { token: account.adminToken })).status).toBe(200);
    const refused = await api("GET", path, { token: account.adminToken });
    expectProblem(refused, 429, "rate_limited");
    expect(refused.body.detail).toContain("per_token");
    expect(refused.body.detail).toContain("3 requests per minute");
    expect(refused.body["violated-policies"]).toEqual(["per_token"]);
    expect(refused.body.limit).toBe("per_token");
    // 3 per minute refills one request every 20 s.
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(19);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(20);
    expect(parseItems(refused.headers.get("ratelimit")).per_token!.r).toBe(0);
    expect(parseItems(refused.headers.get("ratelimit-policy")).per_token).toEqual({ q: 3, w: 60 });
  });

  it("counts each token on its own", async () => {
    const account = await createTestAccount();
    await setLimits(account, { per_token: 2 });
    const agent = await createTestUser(account);
    const path = `/v1/accounts/${account.accountId}/users`;
    // Creating the agent (2 requests) used up the administrator's token.
    expectProblem(await api("GET", path, { token: account.adminToken }), 429, "rate_limited");
    expect((await api("GET", path, { token: agent.token })).status).toBe(200);
  });

  it("limits an inbox identifier across the account's tokens and says which inbox", async () => {
    const account = await createTestAccount();
    await setLimits(account, { per_inbox: 2, per_token: 100 });
    const tokens = [account.adminToken, (await createTestUser(account)).token, (await createTestUser(account)).token];
    const identifier = unique("inbox");
    const path = `/v1/inboxes/${identifier}/events`;
    const statuses = [];
    for (const token of tokens) statuses.push(await api("GET", path, { token }));
    // The route answers whatever it answers (404 until the integrator API exists); the third is refused first.
    expect(statuses[0]!.status).not.toBe(429);
    expect(statuses[1]!.status).not.toBe(429);
    expectProblem(statuses[2]!, 429, "rate_limited");
    expect(statuses[2]!.body["violated-policies"]).toEqual(["per_inbox"]);
    expect(statuses[2]!.body.detail).toContain(identifier);
    expect(parseItems(statuses[2]!.headers.get("ratelimit-policy"))).toEqual({
      per_token: { q: 100, w: 60 },
      per_inbox: { q: 2, w: 60 },
    });
    // Another inbox of the same account is not held back.
    expect((await api("GET", `/v1/inboxes/${unique("other")}/events`, { token: tokens[0] })).status).not.toBe(429);
  });

  it("keeps accounts apart: another account's traffic to the same identifier does not use this account's allowance", async () => {
    const a = await createTestAccount();
    const b = await createTestAccount();
    await setLimits(a, { per_inbox: 1 });
    const identifier = unique("shared");
    expect((await api("GET", `/v1/inboxes/${identifier}/events`, { token: b.adminToken })).status).not.toBe(429);
    expect((await api("GET", `/v1/inboxes/${identifier}/events`, { token: b.adminToken })).status).not.toBe(429);
    expect((await api("GET", `/v1/inboxes/${identifier}/events`, { token: a.adminToken })).status).not.toBe(429);
  });

  it("applies a changed limit from the next request, and null goes back to the default", async () => {
    const account = await createTestAccount();
    const path = `/v1/accounts/${account.accountId}/users`;
    expect((await api("GET", path, { token: account.adminToken })).status).toBe(200);
    await setLimits(account, { per_token: 1 });
    // A changed limit starts full: one request, then refusals.
    expect((await api("GET", path, { token: account.adminToken })).status).toBe(200);
    expectProblem(await api("GET", path, { token: account.adminToken }), 429, "rate_limited");
    const reset = await setLimits(account, null);
    expect(reset.rate_limits).toEqual({ per_token: 1200, per_inbox: 2400 });
    expect((await api("GET", path, { token: account.adminToken })).status).toBe(200);
  });

  it("lets requests through again once the bucket refills", async () => {
    const account = await createTestAccount();
    await setLimits(account, { per_token: 120 }); // 2 per second
    const path = `/v1/accounts/${account.accountId}/users?limit=1`;
    let refused;
    // 120 at once plus what refills (2 per second) while they run.
    for (let i = 0; i < 400 && !refused; i++) {
      const res = await api("GET", path, { token: account.adminToken });
      if (res.status === 429) refused = res;
    }
    expect(refused, "a burst over 120 must be refused").toBeDefined();
    expect(refused!.headers.get("retry-after")).toBe("1");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await api("GET", path, { token: account.adminToken })).status).toBe(200);
  });

  it("does not count requests without a token (they get 401 before any work)", async () => {
    const account = await createTestAccount();
    await setLimits(account, { per_token: 1 });
    for (let i = 0; i < 3; i++) expectProblem(await api("GET", `/v1/accounts/${account.accountId}/users`), 401, "unauthorized");
  });

  it("takes its defaults from the RATE_LIMIT_PER_TOKEN Worker variable", async () => {
    const account = await createTestAccount();
    const call = () => callWithEnv({ RATE_LIMIT_PER_TOKEN: "2" }, "GET", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken });
    expect((await call()).status).toBe(200);
    const second = await call();
    expect(second.headers.get("ratelimit-policy")).toBe('"per_token";q=2;w=60');
    expect((await call()).status).toBe(429);
  });
});

describe("an account's rate limits over the API", () => {
  it("GET shows the limits in force to the account's users and the operator, 404 to others", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account);
    const other = await createTestAccount();
    for (const token of [account.adminToken, agent.token, TEST_PLATFORM_TOKEN]) {
      const res = await api("GET", `/v1/accounts/${account.accountId}`, { token });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ id: account.accountId, rate_limits: { per_token: 1200, per_inbox: 2400 } });
    }
    expectProblem(await api("GET", `/v1/accounts/${account.accountId}`, { token: other.adminToken }), 404, "account_not_found");
    expectProblem(await api("GET", `/v1/accounts/acc_NOSUCHACCOUNT`, { token: TEST_PLATFORM_TOKEN }), 404, "account_not_found");
  });

  it("PATCH is the operator's: an administrator gets 403", async () => {
    const account = await createTestAccount();
    const res = await api("PATCH", `/v1/accounts/${account.accountId}`, {
      token: account.adminToken,
      body: { rate_limits: { per_token: 1_000_000 } },
    });
    expectProblem(res, 403, "forbidden");
  });

  it("PATCH sets one limit, keeps the other, and refuses limits that are not positive whole numbers", async () => {
    const account = await createTestAccount();
    expect((await setLimits(account, { per_inbox: 50 })).rate_limits).toEqual({ per_token: 1200, per_inbox: 50 });
    expect((await setLimits(account, { per_token: 7 })).rate_limits).toEqual({ per_token: 7, per_inbox: 50 });
    expect((await setLimits(account, { per_inbox: null })).rate_limits).toEqual({ per_token: 7, per_inbox: 2400 });
    for (const bad of [0, -1, 1.5, "10", 1_000_001]) {
      const res = await api("PATCH", `/v1/accounts/${account.accountId}`, {
        token: TEST_PLATFORM_TOKEN,
        body: { rate_limits: { per_token: bad } },
      });
      expectProblem(res, 422, "validation_failed");
      expect(res.body.errors[0].pointer).toBe("/rate_limits/per_token");
    }
    const unknown = await api("PATCH", `/v1/accounts/${account.accountId}`, {
      token: TEST_PLATFORM_TOKEN,
      body: { rate_limits: { per_hour: 5 } },
    });
    expectProblem(unknown, 422, "validation_failed");
    expectProblem(
      await api("PATCH", `/v1/accounts/acc_NOSUCHACCOUNT`, { token: TEST_PLATFORM_TOKEN, body: { name: "x" } }),
      404,
      "account_not_found",
    );
  });
});
