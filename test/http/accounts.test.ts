import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, TEST_PLATFORM_TOKEN, unique } from "../support/api";
import { allShards } from "../support/shards";

const newAccount = () => ({ name: unique("Acme"), administrator: { name: "Bruno", email: `${unique("bruno")}@Acme.example` } });

describe("POST /v1/accounts", () => {
  it("creates an account, its administrator and a working token", async () => {
    const res = await api("POST", "/v1/accounts", { token: TEST_PLATFORM_TOKEN, body: newAccount() });
    expect(res.status).toBe(201);
    expect(res.body.account.id).toMatch(/^acc_[0-9A-Z]{26}$/);
    expect(res.body.user).toMatchObject({ role: "administrator", name: "Bruno" });
    expect(res.body.user.email).toBe(res.body.user.email.toLowerCase());
    expect(res.body.token.token).toMatch(/^edgeinbox_[0-9A-Z]{26}_[A-Za-z0-9_-]{43}$/);
    const users = await api("GET", `/v1/accounts/${res.body.account.id}/users`, { token: res.body.token.token });
    expect(users.status).toBe(200);
    expect(users.body.data.map((user: { id: string }) => user.id)).toEqual([res.body.user.id]);
  });

  it("needs the platform token", async () => {
    expectProblem(await api("POST", "/v1/accounts", { body: newAccount() }), 401, "unauthorized");
    expectProblem(await api("POST", "/v1/accounts", { token: "not-the-platform-token", body: newAccount() }), 401, "invalid_token");
    const { adminToken } = await createTestAccount();
    expectProblem(await api("POST", "/v1/accounts", { token: adminToken, body: newAccount() }), 403, "forbidden");
  });

  it("stores tokens only as hashes", async () => {
    const res = await api("POST", "/v1/accounts", { token: TEST_PLATFORM_TOKEN, body: newAccount() });
    const row = await allShards.prepare("SELECT * FROM api_tokens WHERE id = ?").bind(res.body.token.id).first<Record<string, string>>();
    expect(row).not.toBeNull();
    expect(Object.values(row!)).not.toContain(res.body.token.token);
    expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("users and tokens", () => {
  it("creates, lists with a cursor, updates and deletes users", async () => {
    const account = await createTestAccount();
    const created = [];
    for (let i = 0; i < 3; i++) created.push(await createTestUser(account, "agent", `Agent ${i}`));
    const first = await api("GET", `/v1/accounts/${account.accountId}/users?limit=2`, { token: account.adminToken });
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api("GET", `/v1/accounts/${account.accountId}/users?limit=2&cursor=${first.body.next_cursor}`, {
      token: account.adminToken,
    });
    expect(second.body.data).toHaveLength(2);
    expect(second.body.next_cursor).toBeNull();
    const ids = [...first.body.data, ...second.body.data].map((user: { id: string }) => user.id);
    expect(new Set(ids).size).toBe(4);

    const patched = await api("PATCH", `/v1/accounts/${account.accountId}/users/${created[0]!.id}`, {
      token: account.adminToken,
      body: { available: false },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.available).toBe(false);

    const removed = await api("DELETE", `/v1/accounts/${account.accountId}/users/${created[0]!.id}`, { token: account.adminToken });
    expect(removed.status).toBe(204);
    expectProblem(await api("GET", `/v1/accounts/${account.accountId}/users`, { token: created[0]!.token }), 401, "invalid_token");
    expectProblem(
      await api("GET", `/v1/accounts/${account.accountId}/users/${created[0]!.id}`, { token: account.adminToken }),
      404,
      "user_not_found",
    );
  });

  it("refuses a duplicate email (409) and a bad role (422)", async () => {
    const account = await createTestAccount();
    const email = `${unique("dup")}@example.com`;
    const body = { name: "A", email, role: "agent" };
    expect((await api("POST", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken, body })).status).toBe(201);
    expectProblem(
      await api("POST", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken, body: { ...body, email: email.toUpperCase() } }),
      409,
      "email_taken",
    );
    const bad = await api("POST", `/v1/accounts/${account.accountId}/users`, {
      token: account.adminToken,
      body: { ...body, email: `${unique("r")}@example.com`, role: "owner" },
    });
    expectProblem(bad, 422, "validation_failed");
    expect(bad.body.errors[0].pointer).toBe("/role");
  });

  it("lets only administrators manage users, and keeps the last administrator", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account, "agent");
    expectProblem(
      await api("POST", `/v1/accounts/${account.accountId}/users`, {
        token: agent.token,
        body: { name: "X", email: `${unique("x")}@example.com`, role: "administrator" },
      }),
      403,
      "forbidden",
    );
    expectProblem(await api("DELETE", `/v1/accounts/${account.accountId}/users/${account.adminId}`, { token: agent.token }), 403, "forbidden");
    expectProblem(
      await api("DELETE", `/v1/accounts/${account.accountId}/users/${account.adminId}`, { token: account.adminToken }),
      409,
      "invalid_state",
    );
  });

  it("issues tokens shown once, and a revoked token stops working on the next request", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account, "agent");
    const issued = await api("POST", `/v1/accounts/${account.accountId}/users/${agent.id}/tokens`, { token: agent.token });
    expect(issued.status).toBe(201);
    const second = await api("POST", `/v1/accounts/${account.accountId}/users/${agent.id}/tokens`, { token: agent.token });
    expect(second.body.token).not.toBe(issued.body.token);
    expect((await api("GET", `/v1/accounts/${account.accountId}/users`, { token: issued.body.token })).status).toBe(200);

    const revoked = await api("DELETE", `/v1/accounts/${account.accountId}/users/${agent.id}/tokens/${issued.body.id}`, {
      token: agent.token,
    });
    expect(revoked.status).toBe(204);
    expectProblem(await api("GET", `/v1/accounts/${account.accountId}/users`, { token: issued.body.token }), 401, "invalid_token");
    expect((await api("GET", `/v1/accounts/${account.accountId}/users`, { token: second.body.token })).status).toBe(200);
    expectProblem(
      await api("DELETE", `/v1/accounts/${account.accountId}/users/${agent.id}/tokens/${issued.body.id}`, { token: agent.token }),
      404,
      "token_not_found",
    );
    // An agent cannot mint tokens for somebody else.
    expectProblem(
      await api("POST", `/v1/accounts/${account.accountId}/users/${account.adminId}/tokens`, { token: agent.token }),
      403,
      "forbidden",
    );
  });
});

describe("tenant isolation", () => {
  it("answers every account route called with another account's token as if the account did not exist", async () => {
    const a = await createTestAccount();
    const b = await createTestAccount();
    const bAgent = await createTestUser(b, "agent");
    const calls: Array<[string, string, unknown?]> = [
      ["GET", `/v1/accounts/${b.accountId}/users`],
      ["POST", `/v1/accounts/${b.accountId}/users`, { name: "X", email: "x@example.com", role: "agent" }],
      ["GET", `/v1/accounts/${b.accountId}/users/${bAgent.id}`],
      ["PATCH", `/v1/accounts/${b.accountId}/users/${bAgent.id}`, { name: "Y" }],
      ["DELETE", `/v1/accounts/${b.accountId}/users/${bAgent.id}`],
      ["POST", `/v1/accounts/${b.accountId}/users/${bAgent.id}/tokens`],
      ["DELETE", `/v1/accounts/${b.accountId}/users/${bAgent.id}/tokens/tok_x`],
    ];
    for (const [method, path, body] of calls) {
      const res = await api(method, path, { token: a.adminToken, body });
      expectProblem(res, 404, "account_not_found");
      const missing = await api(method, path.replace(b.accountId, "acc_DOESNOTEXIST"), { token: a.adminToken, body });
      expect(missing.body.detail.replace("acc_DOESNOTEXIST", b.accountId)).toBe(res.body.detail);
    }
    expect((await api("GET", `/v1/accounts/${b.accountId}/users/${bAgent.id}`, { token: b.adminToken })).status).toBe(200);
  });
});
