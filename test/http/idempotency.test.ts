import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createTestAccount, expectProblem, unique } from "../support/api";

async function countUsers(accountId: string) {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM users WHERE account_id = ?").bind(accountId).first<{ n: number }>();
  return row!.n;
}

describe("Idempotency-Key", () => {
  it("replays the first response with Idempotent-Replayed and writes once", async () => {
    const account = await createTestAccount();
    const key = unique("key");
    const body = { name: "Ana", email: `${unique("ana")}@example.com`, role: "agent" };
    const first = await api("POST", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken, body, headers: { "idempotency-key": key } });
    const again = await api("POST", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken, body, headers: { "idempotency-key": key } });
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.text).toBe(first.text);
    expect(await countUsers(account.accountId)).toBe(2);
  });

  it("rejects the same key with a different body (422 idempotency_key_reused)", async () => {
    const account = await createTestAccount();
    const key = unique("key");
    const path = `/v1/accounts/${account.accountId}/users`;
    await api("POST", path, { token: account.adminToken, body: { name: "A", email: `${unique("a")}@example.com` }, headers: { "idempotency-key": key } });
    const res = await api("POST", path, { token: account.adminToken, body: { name: "B", email: `${unique("b")}@example.com` }, headers: { "idempotency-key": key } });
    expectProblem(res, 422, "idempotency_key_reused");
    expect(res.body.detail).toContain(key);
  });

  it("serialises concurrent duplicates: all get the same success, one row is written", async () => {
    const account = await createTestAccount();
    const key = unique("key");
    const body = { name: "Concurrent", email: `${unique("c")}@example.com` };
    const responses = await Promise.all(
      Array.from({ length: 30 }, () =>
        api("POST", `/v1/accounts/${account.accountId}/users`, { token: account.adminToken, body, headers: { "idempotency-key": key } }),
      ),
    );
    expect(new Set(responses.map((res) => res.status))).toEqual(new Set([201]));
    expect(new Set(responses.map((res) => res.body.id)).size).toBe(1);
    expect(responses.filter((res) => res.headers.get("idempotent-replayed") === "true")).toHaveLength(29);
    expect(await countUsers(account.accountId)).toBe(2);
  });

  it("scopes keys to the account: another account's same key is independent", async () => {
    const a = await createTestAccount();
    const b = await createTestAccount();
    const key = unique("shared");
    const body = { name: "Same", email: "same@example.com" };
    const ra = await api("POST", `/v1/accounts/${a.accountId}/users`, { token: a.adminToken, body, headers: { "idempotency-key": key } });
    const rb = await api("POST", `/v1/accounts/${b.accountId}/users`, { token: b.adminToken, body, headers: { "idempotency-key": key } });
    expect(ra.status).toBe(201);
    expect(rb.status).toBe(201);
    expect(rb.headers.get("idempotent-replayed")).toBeNull();
    expect(rb.body.id).not.toBe(ra.body.id);
  });

  it("does not store failures worth retrying and rejects malformed keys", async () => {
    const account = await createTestAccount();
    const path = `/v1/accounts/${account.accountId}/users`;
    expectProblem(
      await api("POST", path, { token: account.adminToken, body: { name: "x", email: "x@example.com" }, headers: { "idempotency-key": "k".repeat(256) } }),
      400,
      "invalid_idempotency_key",
    );
    // A 404 (wrong account) is not remembered: the same key works once the request is right.
    const key = unique("key");
    const other = await createTestAccount();
    const wrong = await api("POST", `/v1/accounts/${other.accountId}/users`, {
      token: account.adminToken,
      body: { name: "x", email: `${unique("x")}@example.com` },
      headers: { "idempotency-key": key },
    });
    expectProblem(wrong, 404, "account_not_found");
  });
});
