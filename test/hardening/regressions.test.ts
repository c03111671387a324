// Bugs the hardening work found in shared code, one test each. Every test here failed before its fix.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildApp } from "../../src/app";
import { api, createTestAccount, createTestUser, expectProblem, unique, type ApiResponse } from "../support/api";

/** A D1 binding whose statements fail the way D1 does when the database is unreachable. */
function failingD1(failWhen: (sql: string) => boolean = () => true): D1Database {
  const fail = async () => {
    throw new Error("D1_ERROR: Network connection lost.");
  };
  return {
    prepare(sql: string) {
      const real = env.DB.prepare(sql);
      if (!failWhen(sql)) return real;
      const failing = { bind: () => failing, run: fail, all: fail, raw: fail, first: fail };
      return failing as unknown as D1PreparedStatement;
    },
    batch: fail,
    exec: fail,
    dump: fail,
    withSession: () => {
      throw new Error("not used");
    },
  } as unknown as D1Database;
}

/** Calls the app with a replaced DB binding (the Worker's own fetch always uses the real one). */
async function callWithDatabase(db: D1Database, method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const ctx = createExecutionContext();
  const response = await buildApp().fetch(
    new Request(`http://edge-inbox.test${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    }),
    { ...env, DB: db },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text), text } satisfies ApiResponse;
}

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
    const res = await callWithDatabase(failingD1(), "GET", "/health");
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
    const res = await callWithDatabase(failingD1((sql) => /^insert/i.test(sql)), "POST", `/v1/accounts/${account.accountId}/users`, {
      token: account.adminToken,
      body: { name: "Should Not Be Logged", email },
    });
    expectProblem(res, 503, "storage_unavailable");
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
