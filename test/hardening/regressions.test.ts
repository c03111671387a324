// Bugs the hardening work found in shared code, one test each. Every test here failed before its fix.
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, unique } from "../support/api";
import { callWithEnv, failingD1 } from "../support/faults";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("regressions found by the hardening suites", () => {
  it("PATCH of a user with an empty body answers the user unchanged (was a 500: drizzle refuses an empty SET)", async () => {
    const account = await createTestAccount();
    const user = await createTestUser(account, "agent", "Unchanged Name");
    const res = await api("PATCH", `/v1/accounts/${account.accountId}/users/${user.id}`, { token: account.adminToken, body: {} });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: user.id, name: "Unchanged Name", role: "agent" });
    const missing = await api("PATCH", `/v1/accounts/${account.accountId}/users/usr_NOSUCHUSER`, { token: account.adminToken, body: {} });
    expectProblem(missing, 404, "user_not_found");
  });

  it("a +json content type the validator does not read is a 415, not a 500 or an ignored body", async () => {
    const account = await createTestAccount();
    const user = await createTestUser(account, "agent", "Before");
    const res = await api("PATCH", `/v1/accounts/${account.accountId}/users/${user.id}`, {
      token: account.adminToken,
      rawBody: JSON.stringify({ name: "After" }),
      headers: { "content-type": "application/a+b+json" },
    });
    expectProblem(res, 415, "unsupported_media_type");
    const after = await api("GET", `/v1/accounts/${account.accountId}/users/${user.id}`, { token: account.adminToken });
    expect(after.body.name).toBe("Before");
  });

  it("a non-JSON content type with an empty body on a route that takes a body is a 415, not a 500", async () => {
    const account = await createTestAccount();
    const res = await api("POST", `/v1/accounts/${account.accountId}/users`, {
      token: account.adminToken,
      rawBody: "",
      headers: { "content-type": "text/plain" },
    });
    expectProblem(res, 415, "unsupported_media_type");
  });

  it("a D1 failure inside a drizzle query is a 503 storage_unavailable, not a 500", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await callWithEnv({ DB: failingD1() }, "GET", "/health");
    expectProblem(res, 503, "storage_unavailable");
    expect(res.headers.get("retry-after")).toBe("1");
  });

  it("a failed write logs no query parameters (they hold emails, token hashes and webhook secrets)", async () => {
    const account = await createTestAccount();
    const logged: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(" "));
    });
    const email = `${unique("leak")}@example.com`;
    const res = await callWithEnv({ DB: failingD1((sql) => /^insert/i.test(sql)) }, "POST", `/v1/accounts/${account.accountId}/users`, {
      token: account.adminToken,
      body: { name: "Should Not Be Logged", email },
    });
    // The insert was sent and no answer came back: it may have committed (issue 22), not "nothing was written".
    expectProblem(res, 503, "outcome_unknown");
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) {
      expect(line).not.toContain(email);
      expect(line).not.toContain("Should Not Be Logged");
    }
    expect(logged.join("\n")).toContain("D1_ERROR");
  });
});

describe("routing", () => {
  it("a trailing slash is an unknown route (404), not a 405 that lists the method used", async () => {
    const account = await createTestAccount();
    const user = await createTestUser(account);
    const res = await api("DELETE", `/v1/accounts/${account.accountId}/users/${user.id}/`, { token: account.adminToken });
    expectProblem(res, 404, "route_not_found");
    const still = await api("GET", `/v1/accounts/${account.accountId}/users/${user.id}`, { token: account.adminToken });
    expect(still.status).toBe(200);
  });
});

describe("idempotency", () => {
  it("a replay goes only to the caller who made the request: an agent reusing an administrator's key gets no token", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account);
    const key = unique("key");
    const path = `/v1/accounts/${account.accountId}/users/${account.adminId}/tokens`;
    const first = await api("POST", path, { token: account.adminToken, headers: { "idempotency-key": key } });
    expect(first.status).toBe(201);
    const replayToAgent = await api("POST", path, { token: agent.token, headers: { "idempotency-key": key } });
    expectProblem(replayToAgent, 403, "forbidden");
    expect(replayToAgent.text).not.toContain(first.body.token);
    // The administrator's own retry is still answered from the first response.
    const retry = await api("POST", path, { token: account.adminToken, headers: { "idempotency-key": key } });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body).toEqual(first.body);
  });
});
