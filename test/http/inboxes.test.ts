import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { isInboxMember } from "../../src/domain/inbox-members";
import { findInboxByIdentifier } from "../../src/domain/inboxes";
import { api, createTestAccount, createTestUser, expectProblem, unique, type TestAccount } from "../support/api";
import { allShards, shardBindings, shardDb } from "../support/shards";

const inboxesPath = (account: TestAccount) => `/v1/accounts/${account.accountId}/inboxes`;
const inboxPath = (account: TestAccount, inboxId: string) => `${inboxesPath(account)}/${inboxId}`;

async function createInbox(account: TestAccount, body: Record<string, unknown> = {}) {
  const res = await api("POST", inboxesPath(account), { token: account.adminToken, body: { name: unique("inbox"), ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; identifier: string; name: string; secret: string; webhook_url: string | null };
}

/** A receiver path scripted with these answers (then 200), and its URL. */
async function receiverEndpoint(steps: Record<string, unknown>[] = []) {
  const path = `/${unique("inbox-hook")}`;
  const res = await fetch(`${env.RECEIVER_URL}/__control/script`, { method: "POST", body: JSON.stringify({ path, steps }) });
  expect(res.status).toBe(204);
  return { path, url: `${env.RECEIVER_URL}${path}` };
}

async function receivedAt(path: string): Promise<{ headers: Record<string, string>; body: string }[]> {
  return (await fetch(`${env.RECEIVER_URL}/__control/received?path=${encodeURIComponent(path)}`)).json();
}

async function inboxCount(account: TestAccount): Promise<number> {
  const row = await allShards.prepare("SELECT count(*) AS n FROM inboxes WHERE account_id = ?").bind(account.accountId).first<{ n: number }>();
  return row!.n;
}

describe("inbox lifecycle", () => {
  it("creates, reads, lists, updates and deletes an inbox", async () => {
    const account = await createTestAccount();
    const created = await api("POST", inboxesPath(account), {
      token: account.adminToken,
      body: { name: "  Support API  ", webhook_url: "https://hooks.example.com/edge" },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      name: "Support API",
      channel_type: "api",
      webhook_url: "https://hooks.example.com/edge",
      webhook_status: { enabled: true, disabled_at: null, disabled_reason: null },
      lock_to_single_conversation: true,
      auto_assignment: false,
      max_assignment_limit: null,
    });
    const inbox = created.body;
    expect(inbox.id).toMatch(/^inb_[0-9A-Z]{26}$/);
    expect(inbox.identifier).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(inbox.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Date.parse(inbox.created_at)).not.toBeNaN();

    const { secret: _secret, ...withoutSecret } = inbox;
    const fetched = await api("GET", inboxPath(account, inbox.id), { token: account.adminToken });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(withoutSecret);

    const listed = await api("GET", inboxesPath(account), { token: account.adminToken });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ data: [withoutSecret], next_cursor: null });

    const patched = await api("PATCH", inboxPath(account, inbox.id), {
      token: account.adminToken,
      body: { name: "Renamed", lock_to_single_conversation: false, auto_assignment: true, max_assignment_limit: 5 },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({
      id: inbox.id,
      identifier: inbox.identifier,
      name: "Renamed",
      webhook_url: "https://hooks.example.com/edge",
      lock_to_single_conversation: false,
      auto_assignment: true,
      max_assignment_limit: 5,
    });
    expect(patched.body.secret).toBeUndefined();
    expect(Date.parse(patched.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(inbox.updated_at));

    const cleared = await api("PATCH", inboxPath(account, inbox.id), {
      token: account.adminToken,
      body: { webhook_url: null, max_assignment_limit: null },
    });
    expect(cleared.body).toMatchObject({ webhook_url: null, max_assignment_limit: null, webhook_status: { enabled: false } });

    const deleted = await api("DELETE", inboxPath(account, inbox.id), { token: account.adminToken });
    expect(deleted.status).toBe(204);
    expectProblem(await api("GET", inboxPath(account, inbox.id), { token: account.adminToken }), 404, "inbox_not_found");
    expectProblem(await api("PATCH", inboxPath(account, inbox.id), { token: account.adminToken, body: { name: "x" } }), 404, "inbox_not_found");
    expectProblem(await api("DELETE", inboxPath(account, inbox.id), { token: account.adminToken }), 404, "inbox_not_found");
    expectProblem(await api("POST", `${inboxPath(account, inbox.id)}/secret/rotate`, { token: account.adminToken }), 404, "inbox_not_found");
    expect((await api("GET", inboxesPath(account), { token: account.adminToken })).body.data).toEqual([]);
  });

  it("never shows the secret again after creation except on rotation", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account);
    const responses = [
      await api("GET", inboxPath(account, inbox.id), { token: account.adminToken }),
      await api("GET", inboxesPath(account), { token: account.adminToken }),
      await api("PATCH", inboxPath(account, inbox.id), { token: account.adminToken, body: { name: "x" } }),
    ];
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(res.text).not.toContain(inbox.secret);
      expect(res.text).not.toContain("whsec_");
    }
    const rotated = await api("POST", `${inboxPath(account, inbox.id)}/secret/rotate`, { token: account.adminToken });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(inbox.secret);
    expect(rotated.body.id).toBe(inbox.id);
  });

  it("pages the list with a cursor in creation order", async () => {
    const account = await createTestAccount();
    const ids = [(await createInbox(account)).id, (await createInbox(account)).id, (await createInbox(account)).id];
    const first = await api("GET", `${inboxesPath(account)}?limit=2`, { token: account.adminToken });
    expect(first.body.data.map((inbox: { id: string }) => inbox.id)).toEqual(ids.slice(0, 2));
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api("GET", `${inboxesPath(account)}?limit=2&cursor=${first.body.next_cursor}`, { token: account.adminToken });
    expect(second.body).toMatchObject({ data: [{ id: ids[2] }], next_cursor: null });
    expectProblem(await api("GET", `${inboxesPath(account)}?cursor=garbage`, { token: account.adminToken }), 400, "invalid_cursor");
    expectProblem(await api("GET", `${inboxesPath(account)}?limit=0`, { token: account.adminToken }), 422, "validation_failed");
  });

  it("replays a create with the same Idempotency-Key instead of making a second inbox", async () => {
    const account = await createTestAccount();
    const key = unique("key");
    const options = { token: account.adminToken, body: { name: "Once" }, headers: { "idempotency-key": key } };
    const first = await api("POST", inboxesPath(account), options);
    const second = await api("POST", inboxesPath(account), options);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await inboxCount(account)).toBe(1);
  });

  it("makes a deleted inbox's identifier stop resolving and fails its pending deliveries", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account, { webhook_url: "https://hooks.example.com/x" });
    const shard = await shardBindings(account.accountId);
    expect((await findInboxByIdentifier(shard, inbox.identifier))?.id).toBe(inbox.id);
    const now = Date.now();
    await shard.DB.prepare(
      "INSERT INTO webhook_deliveries (id, account_id, inbox_id, event_id, event_type, url, state, created_at, updated_at) VALUES (?, ?, ?, ?, 'message_created', ?, 'pending', ?, ?)",
    )
      .bind(unique("whd"), account.accountId, inbox.id, unique("evt"), "https://hooks.example.com/x", now, now)
      .run();

    expect((await api("DELETE", inboxPath(account, inbox.id), { token: account.adminToken })).status).toBe(204);

    expect(await findInboxByIdentifier(shard, inbox.identifier)).toBeNull();
    const delivery = await allShards.prepare("SELECT state, last_error FROM webhook_deliveries WHERE inbox_id = ?")
      .bind(inbox.id)
      .first<{ state: string; last_error: string }>();
    expect(delivery).toEqual({ state: "failed", last_error: "The inbox was deleted." });
    expect(await findInboxByIdentifier(shard, "no-such-identifier")).toBeNull();
  });
});

describe("bad input: a clear 4xx, nothing written", () => {
  const badBodies: [string, unknown, string, string?][] = [
    ["an empty name", { name: "" }, "validation_failed", "/name"],
    ["a blank name", { name: "   " }, "validation_failed", "/name"],
    ["a 300-character name", { name: "n".repeat(300) }, "validation_failed", "/name"],
    ["a missing name", {}, "validation_failed", "/name"],
    ["a name that is not a string", { name: 42 }, "validation_failed", "/name"],
    ["an unknown field", { name: "ok", colour: "blue" }, "validation_failed"],
    ["a non-boolean setting", { name: "ok", auto_assignment: "yes" }, "validation_failed", "/auto_assignment"],
    ["a zero assignment limit", { name: "ok", max_assignment_limit: 0 }, "validation_failed", "/max_assignment_limit"],
    ["a webhook URL with credentials", { name: "ok", webhook_url: "https://user:pw@hooks.example.com/" }, "webhook_url_not_allowed"],
    ["a webhook URL that is not a URL", { name: "ok", webhook_url: "not a url" }, "webhook_url_not_allowed"],
    ["an empty webhook URL", { name: "ok", webhook_url: "" }, "webhook_url_not_allowed"],
    ["an http webhook URL", { name: "ok", webhook_url: "http://hooks.example.com/" }, "webhook_url_not_allowed"],
    ["a private webhook host", { name: "ok", webhook_url: "https://10.0.0.5/hook" }, "webhook_url_not_allowed"],
    ["a CGNAT webhook host", { name: "ok", webhook_url: "https://100.64.1.1/hook" }, "webhook_url_not_allowed"],
    ["the metadata address", { name: "ok", webhook_url: "http://169.254.169.254/latest" }, "webhook_url_not_allowed"],
    ["a metadata host name", { name: "ok", webhook_url: "https://metadata.google.internal/" }, "webhook_url_not_allowed"],
    ["IPv6 loopback", { name: "ok", webhook_url: "https://[::1]/hook" }, "webhook_url_not_allowed"],
    ["an IPv4-mapped IPv6 host", { name: "ok", webhook_url: "https://[::ffff:10.0.0.1]/hook" }, "webhook_url_not_allowed"],
    ["a loopback address other than 127.0.0.1", { name: "ok", webhook_url: "http://127.0.0.2/hook" }, "webhook_url_not_allowed"],
    ["a webhook URL over 2048 characters", { name: "ok", webhook_url: `https://hooks.example.com/${"a".repeat(2050)}` }, "validation_failed"],
  ];

  it.each(badBodies)("refuses %s on create", async (_label, body, code, pointer) => {
    const account = await createTestAccount();
    const res = await api("POST", inboxesPath(account), { token: account.adminToken, body });
    expectProblem(res, 422, code);
    if (pointer) expect(res.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
    expect(await inboxCount(account)).toBe(0);
  });

  it("names the rule a refused webhook URL breaks", async () => {
    const account = await createTestAccount();
    const res = await api("POST", inboxesPath(account), {
      token: account.adminToken,
      body: { name: "ok", webhook_url: "https://169.254.169.254/latest/meta-data" },
    });
    expectProblem(res, 422, "webhook_url_not_allowed");
    expect(res.body.rule).toBe("metadata");
    expect(res.body.detail).toContain("metadata");
  });

  it("refuses the same bad input on PATCH and leaves the inbox as it was", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account, { webhook_url: "https://hooks.example.com/ok" });
    const before = await api("GET", inboxPath(account, inbox.id), { token: account.adminToken });
    const badPatches: [unknown, string][] = [
      [{ name: "" }, "validation_failed"],
      [{ name: "n".repeat(300) }, "validation_failed"],
      [{ colour: "blue" }, "validation_failed"],
      [{ max_assignment_limit: -1 }, "validation_failed"],
      [{ webhook_url: "https://user:pw@hooks.example.com/" }, "webhook_url_not_allowed"],
      [{ webhook_url: "not a url" }, "webhook_url_not_allowed"],
      [{ webhook_url: "https://192.168.0.1/" }, "webhook_url_not_allowed"],
      [{ webhook_url: "https://[fe80::1]/", name: "renamed too" }, "webhook_url_not_allowed"],
    ];
    for (const [body, code] of badPatches) {
      expectProblem(await api("PATCH", inboxPath(account, inbox.id), { token: account.adminToken, body }), 422, code);
    }
    expectProblem(
      await api("PATCH", inboxPath(account, inbox.id), { token: account.adminToken, body: { webhook_enabled: "yes" } }),
      422,
      "validation_failed",
    );
    expect((await api("GET", inboxPath(account, inbox.id), { token: account.adminToken })).body).toEqual(before.body);
  });

  it("allows http to 127.0.0.1 and localhost when ALLOW_LOOPBACK_WEBHOOKS is set, as in tests", async () => {
    const account = await createTestAccount();
    expect((await createInbox(account, { webhook_url: "http://127.0.0.1:9999/hook" })).webhook_url).toBe("http://127.0.0.1:9999/hook");
    expect((await createInbox(account, { webhook_url: "http://localhost:9999/hook" })).webhook_url).toBe("http://localhost:9999/hook");
  });

  it("answers unknown ids with 404 naming them", async () => {
    const account = await createTestAccount();
    const res = await api("GET", inboxPath(account, "inb_NOPE"), { token: account.adminToken });
    expectProblem(res, 404, "inbox_not_found");
    expect(res.body.detail).toContain("inb_NOPE");
  });
});

describe("members", () => {
  it("PUT replaces the set, GET lists it", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account);
    const ana = await createTestUser(account, "agent", "Ana");
    const bruno = await createTestUser(account, "agent", "Bruno");
    const membersPath = `${inboxPath(account, inbox.id)}/members`;

    expect((await api("GET", membersPath, { token: account.adminToken })).body).toEqual({ data: [], next_cursor: null });

    const first = await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: [ana.id, bruno.id, ana.id] } });
    expect(first.status, first.text).toBe(200);
    expect(first.body.data.map((user: { id: string }) => user.id).sort()).toEqual([ana.id, bruno.id].sort());
    expect(first.body.data[0]).toMatchObject({ role: "agent", email: expect.any(String) });

    const second = await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: [bruno.id, account.adminId] } });
    expect(second.body.data.map((user: { id: string }) => user.id).sort()).toEqual([bruno.id, account.adminId].sort());
    const listed = await api("GET", membersPath, { token: account.adminToken });
    expect(listed.body).toEqual(second.body);
    expect(await isInboxMember(await shardBindings(account.accountId), account.accountId, inbox.id, ana.id)).toBe(false);
    expect(await isInboxMember(await shardBindings(account.accountId), account.accountId, inbox.id, bruno.id)).toBe(true);

    const emptied = await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: [] } });
    expect(emptied.body).toEqual({ data: [], next_cursor: null });
  });

  it("refuses a user of another account or an unknown id with a 422 naming it, changing nothing", async () => {
    const account = await createTestAccount();
    const other = await createTestAccount();
    const inbox = await createInbox(account);
    const ana = await createTestUser(account);
    const stranger = await createTestUser(other);
    const membersPath = `${inboxPath(account, inbox.id)}/members`;
    await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: [ana.id] } });

    const foreign = await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: [ana.id, stranger.id] } });
    expectProblem(foreign, 422, "validation_failed");
    expect(foreign.body.detail).toContain(stranger.id);
    expect(foreign.body.errors).toEqual([{ location: "body", pointer: "/user_ids/1", detail: expect.stringContaining(stranger.id) }]);

    const unknown = await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: ["usr_GHOST"] } });
    expectProblem(unknown, 422, "validation_failed");
    expect(unknown.body.detail).toContain("usr_GHOST");

    const removedUser = await createTestUser(account);
    expect((await api("DELETE", `/v1/accounts/${account.accountId}/users/${removedUser.id}`, { token: account.adminToken })).status).toBe(204);
    const removed = await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: [removedUser.id] } });
    expectProblem(removed, 422, "validation_failed");

    expect((await api("GET", membersPath, { token: account.adminToken })).body.data.map((user: { id: string }) => user.id)).toEqual([ana.id]);
    expectProblem(await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: "x" } }), 422, "validation_failed");
    expectProblem(await api("PUT", membersPath, { token: account.adminToken, body: { user_ids: [], extra: 1 } }), 422, "validation_failed");
  });

  it("handles more members than D1 binds in one statement", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account);
    const now = Date.now();
    const ids = Array.from({ length: 120 }, (_, i) => `usr_BULK${String(i).padStart(3, "0")}${unique("u").replaceAll("-", "")}`);
    const db = await shardDb(account.accountId);
    await db.batch(
      ids.map((id) =>
        db.prepare("INSERT INTO users (id, account_id, name, email, role, created_at) VALUES (?, ?, 'Bulk', ?, 'agent', ?)").bind(
          id,
          account.accountId,
          `${id.toLowerCase()}@example.com`,
          now,
        ),
      ),
    );
    const res = await api("PUT", `${inboxPath(account, inbox.id)}/members`, { token: account.adminToken, body: { user_ids: ids } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data).toHaveLength(120);
  });
});

describe("agents", () => {
  it("see only inboxes they are members of, read-only", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account);
    const theirs = await createInbox(account);
    const notTheirs = await createInbox(account);
    await api("PUT", `${inboxPath(account, theirs.id)}/members`, { token: account.adminToken, body: { user_ids: [agent.id] } });

    const list = await api("GET", inboxesPath(account), { token: agent.token });
    expect(list.status).toBe(200);
    expect(list.body.data.map((inbox: { id: string }) => inbox.id)).toEqual([theirs.id]);
    expect((await api("GET", inboxPath(account, theirs.id), { token: agent.token })).status).toBe(200);
    expect((await api("GET", `${inboxPath(account, theirs.id)}/members`, { token: agent.token })).status).toBe(200);
    expectProblem(await api("GET", inboxPath(account, notTheirs.id), { token: agent.token }), 404, "inbox_not_found");
    expectProblem(await api("GET", `${inboxPath(account, notTheirs.id)}/members`, { token: agent.token }), 404, "inbox_not_found");

    const writes: [string, string, unknown?][] = [
      ["POST", inboxesPath(account), { name: "mine" }],
      ["PATCH", inboxPath(account, theirs.id), { name: "mine" }],
      ["DELETE", inboxPath(account, theirs.id)],
      ["POST", `${inboxPath(account, theirs.id)}/secret/rotate`],
      ["PUT", `${inboxPath(account, theirs.id)}/members`, { user_ids: [] }],
      ["POST", `${inboxPath(account, theirs.id)}/webhook/test`],
      ["POST", `${inboxPath(account, theirs.id)}/tokens`],
      ["DELETE", `${inboxPath(account, theirs.id)}/tokens/tok_X`],
    ];
    for (const [method, path, body] of writes) {
      expectProblem(await api(method, path, { token: agent.token, body }), 403, "forbidden");
    }
    expect(await inboxCount(account)).toBe(2);
  });
});

describe("tenant isolation", () => {
  it("another account's inboxes are 404 whichever way they are reached, and stay untouched", async () => {
    const owner = await createTestAccount();
    const intruder = await createTestAccount();
    const inbox = await createInbox(owner, { webhook_url: "https://hooks.example.com/owner" });
    const before = await api("GET", inboxPath(owner, inbox.id), { token: owner.adminToken });

    // The owner's path with the intruder's token: the account itself is hidden.
    const viaOwnerPath: [string, string, unknown?][] = [
      ["GET", inboxesPath(owner)],
      ["POST", inboxesPath(owner), { name: "x" }],
      ["GET", inboxPath(owner, inbox.id)],
      ["PATCH", inboxPath(owner, inbox.id), { name: "x" }],
      ["DELETE", inboxPath(owner, inbox.id)],
      ["POST", `${inboxPath(owner, inbox.id)}/secret/rotate`],
      ["GET", `${inboxPath(owner, inbox.id)}/members`],
      ["PUT", `${inboxPath(owner, inbox.id)}/members`, { user_ids: [] }],
      ["POST", `${inboxPath(owner, inbox.id)}/webhook/test`],
      ["POST", `${inboxPath(owner, inbox.id)}/tokens`],
    ];
    for (const [method, path, body] of viaOwnerPath) {
      expectProblem(await api(method, path, { token: intruder.adminToken, body }), 404, "account_not_found");
    }

    // The intruder's own account path with the owner's inbox id: the inbox does not exist there.
    const viaOwnPath: [string, string, unknown?][] = [
      ["GET", inboxPath(intruder, inbox.id)],
      ["PATCH", inboxPath(intruder, inbox.id), { name: "x" }],
      ["DELETE", inboxPath(intruder, inbox.id)],
      ["POST", `${inboxPath(intruder, inbox.id)}/secret/rotate`],
      ["GET", `${inboxPath(intruder, inbox.id)}/members`],
      ["PUT", `${inboxPath(intruder, inbox.id)}/members`, { user_ids: [intruder.adminId] }],
      ["POST", `${inboxPath(intruder, inbox.id)}/webhook/test`],
      ["POST", `${inboxPath(intruder, inbox.id)}/tokens`],
    ];
    for (const [method, path, body] of viaOwnPath) {
      expectProblem(await api(method, path, { token: intruder.adminToken, body }), 404, "inbox_not_found");
    }

    expect((await api("GET", inboxPath(owner, inbox.id), { token: owner.adminToken })).body).toEqual(before.body);
    expect((await api("GET", `${inboxPath(owner, inbox.id)}/members`, { token: owner.adminToken })).body.data).toEqual([]);
    const tokens = await allShards.prepare("SELECT count(*) AS n FROM api_tokens WHERE inbox_id = ?").bind(inbox.id).first<{ n: number }>();
    expect(tokens!.n).toBe(0);
  });

  it("needs a token at all", async () => {
    const account = await createTestAccount();
    expectProblem(await api("GET", inboxesPath(account)), 401, "unauthorized");
    expectProblem(await api("POST", inboxesPath(account), { body: { name: "x" } }), 401, "unauthorized");
  });
});

describe("inbox tokens", () => {
  it("are issued, refused on admin routes, revoked, and die with their inbox", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account);
    const otherInbox = await createInbox(account);
    const issued = await api("POST", `${inboxPath(account, inbox.id)}/tokens`, { token: account.adminToken });
    expect(issued.status, issued.text).toBe(201);
    expect(issued.body).toEqual({ id: expect.stringMatching(/^tok_/), token: expect.stringMatching(/^edgeinbox_/) });
    const inboxToken = issued.body.token as string;

    const adminRoutes: [string, string, unknown?][] = [
      ["GET", inboxesPath(account)],
      ["POST", inboxesPath(account), { name: "x" }],
      ["GET", inboxPath(account, inbox.id)],
      ["PATCH", inboxPath(account, inbox.id), { name: "x" }],
      ["DELETE", inboxPath(account, otherInbox.id)],
      ["POST", `${inboxPath(account, inbox.id)}/secret/rotate`],
      ["PUT", `${inboxPath(account, inbox.id)}/members`, { user_ids: [] }],
      ["GET", `${inboxPath(account, inbox.id)}/members`],
      ["POST", `${inboxPath(account, inbox.id)}/webhook/test`],
      ["POST", `${inboxPath(account, inbox.id)}/tokens`],
      ["DELETE", `${inboxPath(account, inbox.id)}/tokens/${issued.body.id}`],
      ["GET", `/v1/accounts/${account.accountId}/users`],
    ];
    for (const [method, path, body] of adminRoutes) {
      expectProblem(await api(method, path, { token: inboxToken, body }), 403, "forbidden");
    }
    const stranger = await createTestAccount();
    expectProblem(await api("GET", inboxesPath(stranger), { token: inboxToken }), 404, "account_not_found");

    // A token belongs to its inbox: revoking it through another inbox's path finds nothing.
    expectProblem(
      await api("DELETE", `${inboxPath(account, otherInbox.id)}/tokens/${issued.body.id}`, { token: account.adminToken }),
      404,
      "token_not_found",
    );
    expect((await api("DELETE", `${inboxPath(account, inbox.id)}/tokens/${issued.body.id}`, { token: account.adminToken })).status).toBe(204);
    expectProblem(await api("GET", inboxesPath(account), { token: inboxToken }), 401, "invalid_token");
    expectProblem(
      await api("DELETE", `${inboxPath(account, inbox.id)}/tokens/${issued.body.id}`, { token: account.adminToken }),
      404,
      "token_not_found",
    );

    const second = await api("POST", `${inboxPath(account, inbox.id)}/tokens`, { token: account.adminToken });
    expectProblem(await api("GET", inboxesPath(account), { token: second.body.token }), 403, "forbidden");
    await api("DELETE", inboxPath(account, inbox.id), { token: account.adminToken });
    expectProblem(await api("GET", inboxesPath(account), { token: second.body.token }), 401, "invalid_token");
    const revoked = await allShards.prepare("SELECT revoked_at FROM api_tokens WHERE id = ?").bind(second.body.id).first<{ revoked_at: number | null }>();
    expect(revoked!.revoked_at).toEqual(expect.any(Number));
    expectProblem(await api("POST", `${inboxPath(account, inbox.id)}/tokens`, { token: account.adminToken }), 404, "inbox_not_found");
  });
});

describe("webhook test ping", () => {
  it("sends a signed webhook.test event and reports a 2xx", async () => {
    const account = await createTestAccount();
    const hook = await receiverEndpoint([{ status: 200, body: "thanks" }]);
    const inbox = await createInbox(account, { webhook_url: hook.url });
    const res = await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ ok: true, status_code: 200, duration_ms: expect.any(Number), response_excerpt: "thanks" });

    const [request] = await receivedAt(hook.path);
    expect(request).toBeDefined();
    const payload = JSON.parse(request!.body);
    expect(payload).toEqual({
      id: expect.stringMatching(/^evt_/),
      event: "webhook.test",
      sequence: null,
      created_at: expect.any(String),
      account: { id: account.accountId },
      inbox: { id: inbox.id, name: inbox.name },
      origin: { type: "user", id: account.adminId },
    });
    expect(request!.headers["webhook-id"]).toBe(payload.id);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["user-agent"]).toBe("edge-inbox-webhooks/1");
    expect(new Webhook(inbox.secret).verify(request!.body, request!.headers)).toEqual(payload);
  });

  it("reports a 500 as a failed attempt with the response excerpt", async () => {
    const account = await createTestAccount();
    const hook = await receiverEndpoint([{ status: 500, body: "boom" }]);
    const inbox = await createInbox(account, { webhook_url: hook.url });
    const res = await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: false, status_code: 500, response_excerpt: "boom" });
  });

  it("reports a refused connection", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account, { webhook_url: "http://127.0.0.1:1/hook" });
    const res = await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: false, status_code: null, response_excerpt: "" });
    expect(res.body.error).toMatch(/connect/i);
  });

  it("reports a timeout after WEBHOOK_TIMEOUT_MS", async () => {
    const account = await createTestAccount();
    const hook = await receiverEndpoint([{ hang: true }]);
    const inbox = await createInbox(account, { webhook_url: hook.url });
    const res = await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: false, status_code: null });
    expect(res.body.error).toMatch(/3000 ms/);
    expect(res.body.duration_ms).toBeGreaterThanOrEqual(2900);
  });

  it("answers 422 no_webhook_url when the inbox has none", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account);
    expectProblem(await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken }), 422, "no_webhook_url");
  });
});

describe("secret rotation", () => {
  it("signs with both secrets for 24 h, each verifiable by the standardwebhooks library", async () => {
    const account = await createTestAccount();
    const hook = await receiverEndpoint();
    const inbox = await createInbox(account, { webhook_url: hook.url });
    const rotated = await api("POST", `${inboxPath(account, inbox.id)}/secret/rotate`, { token: account.adminToken });
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.secret as string;

    const row = await allShards.prepare("SELECT previous_secret_expires_at AS expires FROM inboxes WHERE id = ?").bind(inbox.id).first<{ expires: number }>();
    expect(Math.abs(row!.expires - (Date.now() + 24 * 3600 * 1000))).toBeLessThan(60_000);

    expect((await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken })).body.ok).toBe(true);
    const [during] = await receivedAt(hook.path);
    expect(during!.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(() => new Webhook(inbox.secret).verify(during!.body, during!.headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(during!.body, during!.headers)).not.toThrow();

    // Once the grace period is over only the new secret signs.
    await allShards.prepare("UPDATE inboxes SET previous_secret_expires_at = ? WHERE id = ?").bind(Date.now() - 1, inbox.id).run();
    await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken });
    const after = (await receivedAt(hook.path))[1]!;
    expect(after.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    expect(() => new Webhook(newSecret).verify(after.body, after.headers)).not.toThrow();
    expect(() => new Webhook(inbox.secret).verify(after.body, after.headers)).toThrow();
  });

  it("a second rotation drops the oldest secret", async () => {
    const account = await createTestAccount();
    const hook = await receiverEndpoint();
    const inbox = await createInbox(account, { webhook_url: hook.url });
    const second = (await api("POST", `${inboxPath(account, inbox.id)}/secret/rotate`, { token: account.adminToken })).body.secret;
    const third = (await api("POST", `${inboxPath(account, inbox.id)}/secret/rotate`, { token: account.adminToken })).body.secret;
    await api("POST", `${inboxPath(account, inbox.id)}/webhook/test`, { token: account.adminToken });
    const [request] = await receivedAt(hook.path);
    expect(() => new Webhook(third).verify(request!.body, request!.headers)).not.toThrow();
    expect(() => new Webhook(second).verify(request!.body, request!.headers)).not.toThrow();
    expect(() => new Webhook(inbox.secret).verify(request!.body, request!.headers)).toThrow();
  });
});

describe("webhook status", () => {
  async function disableAsIf410(inboxId: string) {
    await allShards.prepare("UPDATE inboxes SET webhook_disabled_at = ?, webhook_disabled_reason = ? WHERE id = ?")
      .bind(Date.now(), "The endpoint answered 410 Gone.", inboxId)
      .run();
  }

  it("a disabled endpoint is enabled again by webhook_enabled: true or a new webhook_url", async () => {
    const account = await createTestAccount();
    const inbox = await createInbox(account, { webhook_url: "https://hooks.example.com/a" });
    await disableAsIf410(inbox.id);
    const disabled = await api("GET", inboxPath(account, inbox.id), { token: account.adminToken });
    expect(disabled.body.webhook_status).toEqual({
      enabled: false,
      disabled_at: expect.any(String),
      disabled_reason: "The endpoint answered 410 Gone.",
    });

    const enabled = await api("PATCH", inboxPath(account, inbox.id), { token: account.adminToken, body: { webhook_enabled: true } });
    expect(enabled.body.webhook_status).toEqual({ enabled: true, disabled_at: null, disabled_reason: null });

    await disableAsIf410(inbox.id);
    const renamed = await api("PATCH", inboxPath(account, inbox.id), { token: account.adminToken, body: { name: "still off" } });
    expect(renamed.body.webhook_status.enabled).toBe(false);
    const moved = await api("PATCH", inboxPath(account, inbox.id), {
      token: account.adminToken,
      body: { webhook_url: "https://hooks.example.com/b" },
    });
    expect(moved.body).toMatchObject({ webhook_url: "https://hooks.example.com/b", webhook_status: { enabled: true, disabled_at: null } });

    const paused = await api("PATCH", inboxPath(account, inbox.id), { token: account.adminToken, body: { webhook_enabled: false } });
    expect(paused.body.webhook_status).toMatchObject({ enabled: false, disabled_reason: expect.stringContaining("administrator") });
  });
});

describe("API description", () => {
  it("documents every inbox operation in /openapi.json", async () => {
    const doc = (await api("GET", "/openapi.json")).body;
    const base = "/v1/accounts/{account_id}/inboxes";
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        base,
        `${base}/{inbox_id}`,
        `${base}/{inbox_id}/secret/rotate`,
        `${base}/{inbox_id}/members`,
        `${base}/{inbox_id}/webhook/test`,
        `${base}/{inbox_id}/tokens`,
        `${base}/{inbox_id}/tokens/{token_id}`,
      ]),
    );
    expect(doc.paths[base].post.responses["201"].content["application/json"].schema.$ref).toBe("#/components/schemas/InboxWithSecret");
    expect(doc.components.schemas.Inbox.properties.secret).toBeUndefined();
  });
});
