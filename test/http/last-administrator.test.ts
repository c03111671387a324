// Issue 19: the last administrator can be neither demoted nor deleted, also under concurrent requests.
import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem } from "../support/api";
import { count } from "../support/fixtures";

const admins = (accountId: string) =>
  count("SELECT count(*) AS n FROM users WHERE account_id = ? AND role = 'administrator' AND deleted_at IS NULL", accountId);

describe("the last administrator", () => {
  it("cannot be demoted to agent", async () => {
    const account = await createTestAccount();
    const res = await api("PATCH", `/v1/accounts/${account.accountId}/users/${account.adminId}`, {
      token: account.adminToken,
      body: { role: "agent" },
    });
    expectProblem(res, 409, "invalid_state");
    expect(await admins(account.accountId)).toBe(1);
    // Other changes to the last administrator are fine.
    const renamed = await api("PATCH", `/v1/accounts/${account.accountId}/users/${account.adminId}`, {
      token: account.adminToken,
      body: { name: "Still in charge", role: "administrator" },
    });
    expect(renamed.status, renamed.text).toBe(200);
  });

  it.each([
    ["two administrators demoting each other at once", ["demote", "demote"]],
    ["two administrators deleting each other at once", ["delete", "delete"]],
    ["one demoting, one deleting at once", ["demote", "delete"]],
  ] as const)("%s: exactly one wins, one administrator is left", async (_, kinds) => {
    for (let round = 0; round < 5; round++) {
      const account = await createTestAccount();
      const second = await createTestUser(account, "administrator", "Second");
      const call = (kind: "demote" | "delete", token: string, targetId: string) =>
        kind === "demote"
          ? api("PATCH", `/v1/accounts/${account.accountId}/users/${targetId}`, { token, body: { role: "agent" } })
          : api("DELETE", `/v1/accounts/${account.accountId}/users/${targetId}`, { token });
      // Each removes the other, so each request is made by an administrator who is still there when it starts.
      const results = await Promise.all([call(kinds[0], account.adminToken, second.id), call(kinds[1], second.token, account.adminId)]);
      const statuses = results.map((res) => res.status).sort();
      expect(statuses, results.map((res) => res.text).join("\n")).toEqual(kinds[0] === kinds[1] && kinds[0] === "delete" ? [204, 409] : statuses.includes(204) ? [204, 409] : [200, 409]);
      expect(await admins(account.accountId)).toBe(1);
    }
  });

  it("many concurrent demotions of many administrators leave exactly one", async () => {
    const account = await createTestAccount();
    const others = await Promise.all(Array.from({ length: 5 }, (_, i) => createTestUser(account, "administrator", `Admin ${i}`)));
    const everyone = [account.adminId, ...others.map((user) => user.id)];
    const results = await Promise.all(
      everyone.map((id) => api("PATCH", `/v1/accounts/${account.accountId}/users/${id}`, { token: account.adminToken, body: { role: "agent" } })),
    );
    expect(results.filter((res) => res.status === 200)).toHaveLength(5);
    expect(results.filter((res) => res.status === 409)).toHaveLength(1);
    expect(await admins(account.accountId)).toBe(1);
  });
});
