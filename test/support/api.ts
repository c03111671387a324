import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { TEST_PLATFORM_TOKEN } from "./constants";

export { TEST_PLATFORM_TOKEN };

export type ApiResponse<T = any> = { status: number; headers: Headers; body: T; text: string };

/** Calls the Worker through its own fetch handler, as a client would. */
export async function api<T = any>(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; rawBody?: BodyInit; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: BodyInit | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await exports.default.fetch(new Request(`http://edge-inbox.test${path}`, { method, headers, body }));
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

/** Asserts an RFC 9457 problem with this status and code. */
export function expectProblem(response: ApiResponse, status: number, code: string) {
  expect({ status: response.status, code: response.body?.code }, response.text).toEqual({ status, code });
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  expect(response.body).toMatchObject({ type: `/problems/${code}`, status, code });
  expect(typeof response.body.title).toBe("string");
  expect(response.body.detail.length).toBeGreaterThan(10);
}

let counter = 0;
/** A unique suffix, so tests sharing a file's storage never collide. */
export function unique(label = "x"): string {
  counter += 1;
  return `${label}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export type TestAccount = { accountId: string; adminId: string; adminToken: string };

export async function createTestAccount(name = unique("account")): Promise<TestAccount> {
  const response = await api("POST", "/v1/accounts", {
    token: TEST_PLATFORM_TOKEN,
    body: { name, administrator: { name: "Admin", email: `${unique("admin")}@example.com` } },
  });
  expect(response.status, response.text).toBe(201);
  return { accountId: response.body.account.id, adminId: response.body.user.id, adminToken: response.body.token.token };
}

/** A user of the account with a token of their own. */
export async function createTestUser(account: TestAccount, role: "administrator" | "agent" = "agent", name = "Agent") {
  const user = await api("POST", `/v1/accounts/${account.accountId}/users`, {
    token: account.adminToken,
    body: { name, email: `${unique("user")}@example.com`, role },
  });
  expect(user.status, user.text).toBe(201);
  const token = await api("POST", `/v1/accounts/${account.accountId}/users/${user.body.id}/tokens`, {
    token: account.adminToken,
  });
  expect(token.status, token.text).toBe(201);
  return { id: user.body.id as string, token: token.body.token as string, name };
}
