import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CALLER_TTL_MS } from "../../src/domain/tokens";
import { api, createTestAccount, createTestUser, expectProblem } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";

// An isolate remembers a resolved token for CALLER_TTL_MS (src/domain/tokens.ts). Through the API a
// revocation is seen at once by the isolate that made it (test/http/accounts.test.ts); another isolate
// is simulated here by changing D1 behind the Worker's back, which no isolate hears about.
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the isolate's memory of tokens", () => {
  it("is at most 1 s", () => {
    expect(CALLER_TTL_MS).toBeLessThanOrEqual(1000);
  });

  it("a token revoked by another isolate stops working within CALLER_TTL_MS", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account, "agent");
    const path = `/v1/accounts/${account.accountId}/users`;
    expect((await api("GET", path, { token: agent.token })).status).toBe(200);
    await env.DB.prepare("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ?").bind(Date.now(), agent.id).run();
    await wait(CALLER_TTL_MS + 50);
    expectProblem(await api("GET", path, { token: agent.token }), 401, "invalid_token");
  });

  it("an inbox token revoked by another isolate stops working on the integrator API within CALLER_TTL_MS", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const token = await createInboxToken(account, inbox);
    await sendMessage(token, inbox, { contact: { source_id: "cache-1" }, content: "one" });
    await env.DB.prepare("UPDATE api_tokens SET revoked_at = ? WHERE inbox_id = ?").bind(Date.now(), inbox.id).run();
    await wait(CALLER_TTL_MS + 50);
    const refused = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, {
      token,
      body: { contact: { source_id: "cache-1" }, content: "two" },
    });
    expectProblem(refused, 401, "invalid_token");
  });

  it("a membership removed by another isolate closes the inbox to the agent within CALLER_TTL_MS", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const agent = await createTestUser(account, "agent");
    await env.DB.prepare("INSERT INTO inbox_members (inbox_id, user_id, account_id, created_at) VALUES (?, ?, ?, ?)")
      .bind(inbox.id, agent.id, account.accountId, Date.now())
      .run();
    const path = `/v1/inboxes/${inbox.identifier}/contacts/nobody`;
    expect((await api("GET", path, { token: agent.token })).status).toBe(404);
    expect((await api("GET", path, { token: agent.token })).body.code).toBe("contact_not_found");
    await env.DB.prepare("DELETE FROM inbox_members WHERE inbox_id = ? AND user_id = ?").bind(inbox.id, agent.id).run();
    await wait(CALLER_TTL_MS + 50);
    expectProblem(await api("GET", path, { token: agent.token }), 404, "inbox_not_found");
  });
});
