import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, unique } from "../support/api";
import { count, createInboxToken, createTestInbox, sendMessage, setMembers } from "../support/fixtures";
import { receiverPath } from "../support/receiver-client";
import { buildApp } from "../../src/app";
import { faults } from "../../src/faults";
import { idempotentMiddlewares } from "../../src/http/idempotency";
import { allShards } from "../support/shards";

async function countUsers(accountId: string) {
  const row = await allShards.prepare("SELECT count(*) AS n FROM users WHERE account_id = ?").bind(accountId).first<{ n: number }>();
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

// Issue 22: a stored answer never outlives the caller's rights, and a refusal is never remembered.
const keyed = (key: string) => ({ "idempotency-key": key });

async function demote(account: { accountId: string; adminToken: string }, userId: string) {
  const res = await api("PATCH", `/v1/accounts/${account.accountId}/users/${userId}`, { token: account.adminToken, body: { role: "agent" } });
  expect(res.status, res.text).toBe(200);
}

/** An inbox with one member agent and one conversation opened by the integrator. */
async function conversationWithAgent() {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account);
  const inboxToken = await createInboxToken(account, inbox);
  const agent = await createTestUser(account, "agent", "Ann");
  await setMembers(account, inbox, [agent.id]);
  const first = await sendMessage(inboxToken, inbox, { contact: { source_id: unique("c"), name: "Maria" }, content: "help" });
  return { account, inbox, inboxToken, agent, conversationId: first.conversation.id };
}

describe("a replay never outlives the caller's rights", () => {
  it("is part of every POST route, behind that route's own guard", () => {
    const posts = buildApp().routes.filter((route) => route.method === "POST" && route.path.startsWith("/v1/"));
    const paths = [...new Set(posts.map((route) => route.path))];
    expect(paths.length).toBeGreaterThanOrEqual(19);
    for (const path of paths) {
      expect(posts.some((route) => route.path === path && idempotentMiddlewares.has(route.handler)), path).toBe(true);
    }
  });

  it("refuses the replay of a created inbox (and its secret) to an administrator demoted since: 403", async () => {
    const account = await createTestAccount();
    const bo = await createTestUser(account, "administrator", "Bo");
    const path = `/v1/accounts/${account.accountId}/inboxes`;
    const body = { name: unique("Bo's inbox") };
    const first = await api("POST", path, { token: bo.token, body, headers: keyed("K2") });
    expect(first.status, first.text).toBe(201);
    expect(first.body.secret).toMatch(/^whsec_/);
    await demote(account, bo.id);

    const again = await api("POST", path, { token: bo.token, body, headers: keyed("K2") });
    expectProblem(again, 403, "forbidden");
    expect(again.text).not.toContain(first.body.secret);
    expect(again.headers.get("idempotent-replayed")).toBeNull();
  });

  it("refuses the replay of a reply to an agent removed from the inbox: 404", async () => {
    const { account, inbox, agent, conversationId } = await conversationWithAgent();
    const path = `/v1/accounts/${account.accountId}/conversations/${conversationId}/messages`;
    const key = unique("reply");
    const first = await api("POST", path, { token: agent.token, body: { content: "On it" }, headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    await setMembers(account, inbox, []);

    const again = await api("POST", path, { token: agent.token, body: { content: "On it" }, headers: keyed(key) });
    expectProblem(again, 404, "conversation_not_found");
    expect(again.text).not.toContain(first.body.id);
  });

  it("refuses the replay of an integrator write to an agent removed from the inbox: 404", async () => {
    const { account, inbox, agent } = await conversationWithAgent();
    const path = `/v1/inboxes/${inbox.identifier}/messages`;
    const key = unique("one-call");
    const body = { contact: { source_id: unique("c"), name: "Lee" }, content: "hello" };
    const first = await api("POST", path, { token: agent.token, body, headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    await setMembers(account, inbox, []);

    expectProblem(await api("POST", path, { token: agent.token, body, headers: keyed(key) }), 404, "inbox_not_found");
  });

  it("drops a stored answer carrying a token once that token is revoked, and never issues a second one", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const path = `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`;
    const key = unique("token");
    const first = await api("POST", path, { token: account.adminToken, headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    // While the token is live, the replay is the answer.
    const replayed = await api("POST", path, { token: account.adminToken, headers: keyed(key) });
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect(replayed.body.token).toBe(first.body.token);
    const revoked = await api("DELETE", `${path}/${first.body.id}`, { token: account.adminToken });
    expect(revoked.status).toBe(204);

    const again = await api("POST", path, { token: account.adminToken, headers: keyed(key) });
    expectProblem(again, 409, "idempotency_answer_withdrawn");
    expect(again.text).not.toContain(first.body.token);
    expect(await count("SELECT count(*) AS n FROM api_tokens WHERE inbox_id = ?", inbox.id)).toBe(1);
  });

  it("drops a stored answer carrying a user token once it is revoked", async () => {
    const account = await createTestAccount();
    const path = `/v1/accounts/${account.accountId}/users/${account.adminId}/tokens`;
    const key = unique("user-token");
    const first = await api("POST", path, { token: account.adminToken, headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    expect((await api("DELETE", `${path}/${first.body.id}`, { token: account.adminToken })).status).toBe(204);

    const again = await api("POST", path, { token: account.adminToken, headers: keyed(key) });
    expectProblem(again, 409, "idempotency_answer_withdrawn");
    expect(again.text).not.toContain(first.body.token);
  });

  it("drops a stored answer carrying a webhook secret once the secret is rotated, and never creates a second inbox", async () => {
    const account = await createTestAccount();
    const path = `/v1/accounts/${account.accountId}/inboxes`;
    const body = { name: unique("Rotated") };
    const key = unique("inbox");
    const first = await api("POST", path, { token: account.adminToken, body, headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    const rotatePath = `${path}/${first.body.id}/secret/rotate`;
    const rotateKey = unique("rotate");
    const rotated = await api("POST", rotatePath, { token: account.adminToken, headers: keyed(rotateKey) });
    expect(rotated.status, rotated.text).toBe(200);

    const again = await api("POST", path, { token: account.adminToken, body, headers: keyed(key) });
    expectProblem(again, 409, "idempotency_answer_withdrawn");
    expect(again.text).not.toContain(first.body.secret);
    expect(again.body.detail).toContain(first.body.id);
    expect(await count("SELECT count(*) AS n FROM inboxes WHERE account_id = ? AND name = ?", account.accountId, body.name)).toBe(1);

    // The rotation's own answer: replayed while its secret is current, dropped after the next rotation.
    expect((await api("POST", rotatePath, { token: account.adminToken, headers: keyed(rotateKey) })).body.secret).toBe(rotated.body.secret);
    expect((await api("POST", rotatePath, { token: account.adminToken })).status).toBe(200);
    const stale = await api("POST", rotatePath, { token: account.adminToken, headers: keyed(rotateKey) });
    expectProblem(stale, 409, "idempotency_answer_withdrawn");
    expect(stale.text).not.toContain(rotated.body.secret);
  });
});

describe("a refusal is never remembered", () => {
  it("runs a corrected retry with the key of a 422", async () => {
    const account = await createTestAccount();
    const path = `/v1/accounts/${account.accountId}/inboxes`;
    const key = unique("K1");
    expectProblem(await api("POST", path, { token: account.adminToken, body: { name: 42 }, headers: keyed(key) }), 422, "validation_failed");
    const fixed = await api("POST", path, { token: account.adminToken, body: { name: "Fixed" }, headers: keyed(key) });
    expect(fixed.status, fixed.text).toBe(201);
    expect(fixed.headers.get("idempotent-replayed")).toBeNull();
    // Once it ran, the key holds its answer.
    const again = await api("POST", path, { token: account.adminToken, body: { name: "Fixed" }, headers: keyed(key) });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(fixed.body.id);
  });

  it("runs a corrected retry with the key of a 409 precondition (email taken, not an outgoing message)", async () => {
    const account = await createTestAccount();
    const path = `/v1/accounts/${account.accountId}/users`;
    const taken = `${unique("taken")}@example.com`;
    expect((await api("POST", path, { token: account.adminToken, body: { name: "First", email: taken } })).status).toBe(201);
    const key = unique("user");
    expectProblem(await api("POST", path, { token: account.adminToken, body: { name: "Second", email: taken }, headers: keyed(key) }), 409, "email_taken");
    const fixed = await api("POST", path, { token: account.adminToken, body: { name: "Second", email: `${unique("free")}@example.com` }, headers: keyed(key) });
    expect(fixed.status, fixed.text).toBe(201);

    // An inbox-token answer that is refused (409 not an outgoing reply) is not remembered either.
    const { inbox, inboxToken } = await conversationWithAgent();
    const incoming = await sendMessage(inboxToken, inbox, { contact: { source_id: unique("c") }, content: "hi" });
    const statusKey = unique("status");
    const statusPath = `/v1/inboxes/${inbox.identifier}/messages/${incoming.message.id}/status`;
    expectProblem(await api("POST", statusPath, { token: inboxToken, body: { status: "read" }, headers: keyed(statusKey) }), 409, "invalid_state");
    expectProblem(await api("POST", statusPath, { token: inboxToken, body: { status: "delivered" }, headers: keyed(statusKey) }), 409, "invalid_state");
  });
});

describe("a replay racing a demotion", () => {
  it("a duplicate that waited for the first request is re-authorised when it wakes: 403 after a demotion in between", async () => {
    const account = await createTestAccount();
    const bo = await createTestUser(account, "administrator", "Bo");
    const hook = await receiverPath([{ status: 200, delay_ms: 1500 }]);
    const inbox = await createTestInbox(account, { webhookPath: hook });
    const path = `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/webhook/test`;
    const key = unique("ping");
    const first = api("POST", path, { token: bo.token, headers: keyed(key) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Authorised now, then waits for the first request's answer…
    const duplicate = api("POST", path, { token: bo.token, headers: keyed(key) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // …while Bo loses the right to test webhooks.
    await demote(account, bo.id);
    expect((await first).status).toBe(200);
    expectProblem(await duplicate, 403, "forbidden");
  });

  it("a duplicate that waited for a first request that was refused runs only if its caller still may: 403 after a demotion", async () => {
    const account = await createTestAccount();
    const bo = await createTestUser(account, "administrator", "Bo");
    const path = `/v1/accounts/${account.accountId}/inboxes`;
    const key = unique("held");
    const release = faults.hold("idempotency.lease_held");
    try {
      const first = api("POST", path, { token: bo.token, body: { name: 42 }, headers: keyed(key) });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const duplicate = api("POST", path, { token: bo.token, body: { name: 42 }, headers: keyed(key) });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await demote(account, bo.id);
      release();
      expectProblem(await first, 422, "validation_failed");
      expectProblem(await duplicate, 403, "forbidden");
    } finally {
      release();
    }
  });

  it("no replay starts after the demotion has answered, however the two interleave", async () => {
    const account = await createTestAccount();
    const path = `/v1/accounts/${account.accountId}/inboxes`;
    for (let round = 0; round < 6; round += 1) {
      const bo = await createTestUser(account, "administrator", `Bo ${round}`);
      const key = unique("race");
      const body = { name: unique("Race") };
      expect((await api("POST", path, { token: bo.token, body, headers: keyed(key) })).status).toBe(201);
      let demotedAt = Infinity;
      const replays: { startedAt: number; status: number; replayed: boolean }[] = [];
      await Promise.all([
        (async () => {
          await new Promise((resolve) => setTimeout(resolve, round * 3));
          await demote(account, bo.id);
          demotedAt = performance.now();
        })(),
        ...Array.from({ length: 8 }, async (_, i) => {
          await new Promise((resolve) => setTimeout(resolve, i * 4));
          const startedAt = performance.now();
          const res = await api("POST", path, { token: bo.token, body, headers: keyed(key) });
          replays.push({ startedAt, status: res.status, replayed: res.headers.get("idempotent-replayed") === "true" });
        }),
      ]);
      for (const replay of replays) {
        expect(replay.status === 201 ? replay.replayed : replay.status === 403, JSON.stringify(replay)).toBe(true);
        if (replay.startedAt > demotedAt) expect(replay.status).toBe(403);
      }
      expectProblem(await api("POST", path, { token: bo.token, body, headers: keyed(key) }), 403, "forbidden");
      expect(await count("SELECT count(*) AS n FROM inboxes WHERE account_id = ? AND name = ?", account.accountId, body.name)).toBe(1);
    }
  });
});
