// The security review's checks that hold for every route (docs/security.md lists what was reviewed).
import { afterEach, describe, expect, it, vi } from "vitest";
import { secretsEqual, TOKEN_PREFIX } from "../../src/domain/tokens";
import { api, createTestAccount, createTestUser, expectProblem, TEST_PLATFORM_TOKEN, type ApiResponse } from "../support/api";
import { callWithEnv } from "../support/faults";
import { tableNames } from "./world";
import { allShards } from "../support/shards";

afterEach(() => {
  vi.restoreAllMocks();
});

function expectSecurityHeaders(res: ApiResponse, what: string) {
  const headers = Object.fromEntries(res.headers);
  expect(headers, what).toMatchObject({
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "no-referrer",
    "strict-transport-security": expect.stringContaining("max-age="),
  });
  expect(headers["x-request-id"], what).toBeTruthy();
  expect(headers["content-security-policy"], what).toContain("frame-ancestors 'none'");
}

describe("security headers", () => {
  it("are on answers of every kind: success, 401, 404, 405, 413, 422, 429, 500", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const account = await createTestAccount();
    const users = `/v1/accounts/${account.accountId}/users`;
    await api("PATCH", `/v1/accounts/${account.accountId}`, { token: TEST_PLATFORM_TOKEN, body: { rate_limits: { per_token: 5 } } });
    const answers: [string, ApiResponse][] = [
      ["health", await api("GET", "/health")],
      ["list", await api("GET", users, { token: account.adminToken })],
      ["401", await api("GET", users)],
      ["404", await api("GET", "/v1/nothing")],
      ["405", await api("PUT", "/v1/accounts")],
      ["413", await api("POST", users, { token: account.adminToken, rawBody: "x".repeat(1024 * 1024 + 1), headers: { "content-type": "application/json" } })],
      ["422", await api("POST", users, { token: account.adminToken, body: {} })],
    ];
    for (let i = 0; i < 5; i++) answers.push(["429?", await api("GET", users, { token: account.adminToken })]);
    const broken = { prepare: () => { throw new TypeError("boom"); } } as unknown as D1Database;
    answers.push(["500", await callWithEnv({ DB: broken }, "GET", "/health")]);
    expect(answers.map(([, res]) => res.status)).toEqual(expect.arrayContaining([200, 401, 404, 405, 413, 422, 429, 500]));
    for (const [what, res] of answers) expectSecurityHeaders(res, what);
  });

  it("API answers may not be cached (they carry tokens and account data)", async () => {
    const created = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      body: { name: "Cache check", administrator: { name: "A", email: "cache-check@example.com" } },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    expect((await api("GET", `/v1/accounts/${created.body.account.id}/users`)).headers.get("cache-control")).toBe("no-store");
  });
});

describe("tokens and secrets", () => {
  it("tokens are random, 32 bytes or more, and carry a recognisable prefix", async () => {
    const account = await createTestAccount();
    const tokens = [account.adminToken, (await createTestUser(account)).token, (await createTestUser(account)).token];
    for (const token of tokens) expect(token).toMatch(new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{43,}$`));
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it("no table stores a token itself (only its SHA-256)", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account);
    for (const table of await tableNames()) {
      const { results } = await allShards.prepare(`SELECT * FROM "${table}"`).all();
      const dump = JSON.stringify(results);
      expect(dump.includes(account.adminToken), table).toBe(false);
      expect(dump.includes(agent.token), table).toBe(false);
    }
  });

  it("a revoked token stops working on the very next request", async () => {
    const account = await createTestAccount();
    const issued = await api("POST", `/v1/accounts/${account.accountId}/users/${account.adminId}/tokens`, { token: account.adminToken });
    const path = `/v1/accounts/${account.accountId}/users`;
    expect((await api("GET", path, { token: issued.body.token })).status).toBe(200);
    await api("DELETE", `/v1/accounts/${account.accountId}/users/${account.adminId}/tokens/${issued.body.id}`, { token: account.adminToken });
    expectProblem(await api("GET", path, { token: issued.body.token }), 401, "invalid_token");
  });

  it("the platform token is refused when it differs only in its last character", async () => {
    const almost = TEST_PLATFORM_TOKEN.slice(0, -1) + (TEST_PLATFORM_TOKEN.endsWith("9") ? "8" : "9");
    expectProblem(await api("POST", "/v1/accounts", { token: almost, body: {} }), 401, "invalid_token");
  });

  it("secretsEqual compares whole secrets of any length", async () => {
    expect(await secretsEqual("same-secret", "same-secret")).toBe(true);
    expect(await secretsEqual("same-secret", "same-secreT")).toBe(false);
    expect(await secretsEqual("short", "short-but-longer")).toBe(false);
    expect(await secretsEqual("", "x")).toBe(false);
  });
});

describe("errors", () => {
  it("an unexpected exception is a 500 problem with a request id and no stack or message", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const broken = {
      prepare() {
        throw new TypeError("boom at secret place");
      },
    } as unknown as D1Database;
    const res = await callWithEnv({ DB: broken }, "GET", "/health");
    expectProblem(res, 500, "internal_error");
    expect(res.body.request_id).toBeTruthy();
    expect(res.body.detail).toContain(res.body.request_id);
    expect(res.text).not.toMatch(/boom|\bat\s+\S+\s+\(|TypeError/);
  });
});
