// Chatwoot's Client API (/public/api/v1/inboxes/{identifier}/…): opt-in per inbox, Chatwoot's shapes
// (checked against Chatwoot's published schemas, test/chatwoot/contract.ts), idempotent by source_id and
// echo_id, identifier_hash checked with the inbox's identity secret.
import { beforeAll, describe, expect, it } from "vitest";
import { api, createTestAccount, TEST_PLATFORM_TOKEN, type TestAccount } from "../support/api";
import { createTestInbox, type TestInbox } from "../support/fixtures";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { chatwootValidator, expectChatwootShape } from "./contract";

let account: TestAccount;
let inbox: TestInbox;

async function enable(target: TestInbox, on = true) {
  const res = await api("PATCH", `/v1/accounts/${account.accountId}/inboxes/${target.id}`, { token: account.adminToken, body: { public_client_api: on } });
  expect(res.status, res.text).toBe(200);
  expect(res.body.public_client_api).toBe(on);
}

const base = (target: TestInbox) => `/public/api/v1/inboxes/${target.identifier}`;

beforeAll(async () => {
  account = await createTestAccount();
  inbox = await createTestInbox(account);
  await enable(inbox);
});

describe("Chatwoot Client API", () => {
  it("is 404 (Chatwoot's { error }) for an inbox that has not turned it on, and for unknown identifiers", async () => {
    const off = await createTestInbox(account);
    for (const path of [base(off), `${base(off)}/contacts`, "/public/api/v1/inboxes/no-such-inbox"]) {
      const res = await api(path.endsWith("contacts") ? "POST" : "GET", path, { body: path.endsWith("contacts") ? {} : undefined });
      expect(res.status, res.text).toBe(404);
      expect(typeof res.body.error).toBe("string");
      expect(res.headers.get("content-type")).toContain("application/json");
    }
    expect((await api("GET", base(inbox))).status).toBe(200);
    await enable(off);
    await enable(off, false);
    expect((await api("GET", base(off))).status).toBe(404);
    // Also settable when the inbox is created.
    const created = await api("POST", `/v1/accounts/${account.accountId}/inboxes`, { token: account.adminToken, body: { name: "Widget", public_client_api: true } });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ public_client_api: true, webhook_payload_format: "edge-inbox", webhook_signature: "standard" });
    expect((await api("GET", `/public/api/v1/inboxes/${created.body.identifier}`)).status).toBe(200);
  });

  it("the contract check rejects what Chatwoot's schema rejects", () => {
    expect(chatwootValidator("public_contact").validate({ id: "12", source_id: "a", name: "x", email: null, pubsub_token: "t" }).valid).toBe(false);
    expect(chatwootValidator("public_message").validate({ id: 1, content: "x", message_type: "incoming" }).valid).toBe(false);
  });

  it("shows the inbox", async () => {
    const res = await api("GET", base(inbox));
    expect(res.status).toBe(200);
    expectChatwootShape("public_inbox", res.body);
    expect(res.body.identifier).toBe(inbox.identifier);
  });

  it("creates a contact (source_id generated), reads and updates it; the same source_id is the same contact", async () => {
    const created = await api("POST", `${base(inbox)}/contacts`, { body: { name: "Ana", email: "ana@example.com" } });
    expect(created.status, created.text).toBe(200);
    expectChatwootShape("public_contact", created.body);
    expect(created.body).toMatchObject({ name: "Ana", email: "ana@example.com" });
    expect(Number.isInteger(created.body.id)).toBe(true);
    expect(created.body.source_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.pubsub_token.length).toBeGreaterThan(10);

    const got = await api("GET", `${base(inbox)}/contacts/${created.body.source_id}`);
    expect(got.body).toEqual(created.body);
    const patched = await api("PATCH", `${base(inbox)}/contacts/${created.body.source_id}`, { body: { name: "Ana Maria", phone_number: "+5511999990000" } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ id: created.body.id, name: "Ana Maria", phone_number: "+5511999990000" });

    const again = await api("POST", `${base(inbox)}/contacts`, { body: { source_id: created.body.source_id, name: "Ana Maria" } });
    expect(again.body.id).toBe(created.body.id);
    expect((await api("GET", `${base(inbox)}/contacts/nobody-here`)).status).toBe(404);
  });

  it("checks identifier_hash with the inbox's identity secret (Chatwoot's hmac_token)", async () => {
    const identity = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/identity`, { token: account.adminToken });
    expect(identity.status, identity.text).toBe(200);
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(identity.body.identity_secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("user-42")));
    const hash = [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
    const good = await api("POST", `${base(inbox)}/contacts`, { body: { identifier: "user-42", identifier_hash: hash } });
    expect(good.status, good.text).toBe(200);
    const again = await api("POST", `${base(inbox)}/contacts`, { body: { identifier: "user-42", identifier_hash: hash } });
    expect(again.body.id).toBe(good.body.id);
    // Without the hash, knowing the identifier links to no one: a new contact, nothing of the other shown.
    const guess = await api("POST", `${base(inbox)}/contacts`, { body: { identifier: "user-42" } });
    expect(guess.status, guess.text).toBe(200);
    expect(guess.body.id).not.toBe(good.body.id);
    const bad = await api("POST", `${base(inbox)}/contacts`, { body: { identifier: "user-42", identifier_hash: "0".repeat(64) } });
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe("identifier_hash_invalid");
  });

  it("opens a conversation, takes messages (echo_id is idempotent) and lists them in order", async () => {
    const contact = (await api("POST", `${base(inbox)}/contacts`, { body: { name: "Bia" } })).body;
    const conversationPath = `${base(inbox)}/contacts/${contact.source_id}/conversations`;
    const opened = await api("POST", conversationPath, { body: {} });
    expect(opened.status, opened.text).toBe(200);
    expectChatwootShape("public_conversation", opened.body);
    const displayId = opened.body.id;
    expect(Number.isInteger(displayId)).toBe(true);

    const messages = `${conversationPath}/${displayId}/messages`;
    const first = await api("POST", messages, { body: { content: "Hello", echo_id: "tmp-1" } });
    expect(first.status, first.text).toBe(200);
    expectChatwootShape("public_message", first.body);
    expect(first.body).toMatchObject({ content: "Hello", message_type: 0, conversation_id: displayId, echo_id: "tmp-1" });
    expect(first.body.sender).toMatchObject({ id: contact.id, type: "contact" });
    const retry = await api("POST", messages, { body: { content: "Hello", echo_id: "tmp-1" } });
    expect(retry.body.id).toBe(first.body.id);
    const second = await api("POST", messages, { body: { content: "Second" } });
    expect(second.body.id).toBeGreaterThan(first.body.id);

    const listed = await api("GET", messages);
    expect(listed.status).toBe(200);
    for (const message of listed.body) expectChatwootShape("public_message", message);
    expect(listed.body.map((m: { content: string }) => m.content)).toEqual(["Hello", "Second"]);
    const older = await api("GET", `${messages}?before=${second.body.id}`);
    expect(older.body.map((m: { id: number }) => m.id)).toEqual([first.body.id]);

    const shown = await api("GET", `${conversationPath}/${displayId}`);
    expectChatwootShape("public_conversation", shown.body);
    expect(shown.body.messages).toHaveLength(2);
    const list = await api("GET", conversationPath);
    expect(list.body.map((c: { id: number }) => c.id)).toContain(displayId);

    expect((await api("POST", `${conversationPath}/${displayId}/toggle_typing`, { body: { typing_status: "on" } })).status).toBe(200);
    expect((await api("POST", `${conversationPath}/${displayId}/update_last_seen`)).status).toBe(200);
    const resolved = await api("POST", `${conversationPath}/${displayId}/toggle_status`);
    expect(resolved.status, resolved.text).toBe(200);
    expect(resolved.body.status).toBe("resolved");
  });

  it("takes files as multipart attachments[]", async () => {
    const contact = (await api("POST", `${base(inbox)}/contacts`, { body: {} })).body;
    const conversationPath = `${base(inbox)}/contacts/${contact.source_id}/conversations`;
    const opened = (await api("POST", conversationPath, { body: {} })).body;
    const form = new FormData();
    form.append("content", "see attached");
    form.append("echo_id", "file-1");
    form.append("attachments[]", new File(["hello file"], "note.txt", { type: "text/plain" }));
    const res = await api("POST", `${conversationPath}/${opened.id}/messages`, { rawBody: form });
    expect(res.status, res.text).toBe(200);
    expectChatwootShape("public_message", res.body);
    expect(res.body.attachments).toHaveLength(1);
    expect(res.body.attachments[0]).toMatchObject({ file_type: "file", extension: "txt", file_size: 10 });
    expect(res.body.attachments[0].data_url).toContain("/attachments/");
  });

  it("numbers are handed out once each, also to concurrent first requests", async () => {
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => api("POST", `${base(inbox)}/contacts`, { body: { name: `Parallel ${i}` } })));
    const ids = created.map((res) => res.body.id as number);
    expect(new Set(ids).size).toBe(10);
    // Read back, each keeps its number.
    for (const res of created) expect((await api("GET", `${base(inbox)}/contacts/${res.body.source_id}`)).body.id).toBe(res.body.id);
  });

  it("PATCH …/messages/{id} stores submitted_values (a CSAT answer), with a message_updated; only the contact's own", async () => {
    const webhookPath = await receiverPath();
    const hooked = await createTestInbox(account, { webhookPath });
    await enable(hooked);
    const contact = (await api("POST", `${base(hooked)}/contacts`, { body: {} })).body;
    const conversationPath = `${base(hooked)}/contacts/${contact.source_id}/conversations`;
    const opened = (await api("POST", conversationPath, { body: {} })).body;
    const messages = `${conversationPath}/${opened.id}/messages`;
    const message = (await api("POST", messages, { body: { content: "Rate us" } })).body;
    const answer = { csat_survey_response: { rating: 5, feedback_message: "Great" } };

    const patched = await api("PATCH", `${messages}/${message.id}`, { body: { submitted_values: answer } });
    expect(patched.status, patched.text).toBe(200);
    expectChatwootShape("public_message", patched.body);
    expect(patched.body).toMatchObject({ id: message.id, content: "Rate us", content_attributes: { submitted_values: answer } });
    const listed = (await api("GET", messages)).body;
    expect(listed.find((m: { id: number }) => m.id === message.id).content_attributes).toEqual({ submitted_values: answer });
    const [updated] = await waitForPayloads(webhookPath, 1, "message_updated");
    expect(updated!.body).toMatchObject({
      message: { content_attributes: { submitted_values: answer } },
      changed_attributes: [{ submitted_values: { previous_value: null, current_value: answer } }],
    });

    // Another contact's conversation, an unknown message, a bad body; and the inbox with the API off.
    const stranger = (await api("POST", `${base(hooked)}/contacts`, { body: {} })).body;
    const elsewhere = `${base(hooked)}/contacts/${stranger.source_id}/conversations/${opened.id}/messages/${message.id}`;
    const foreign = await api("PATCH", elsewhere, { body: { submitted_values: answer } });
    expect(foreign.status).toBe(404);
    expect(typeof foreign.body.error).toBe("string");
    const theirs = (await api("POST", `${base(hooked)}/contacts/${stranger.source_id}/conversations`, { body: {} })).body;
    const crossed = await api("PATCH", `${base(hooked)}/contacts/${stranger.source_id}/conversations/${theirs.id}/messages/${message.id}`, {
      body: { submitted_values: answer },
    });
    expect(crossed.status).toBe(404);
    expect((await api("PATCH", `${messages}/999999999`, { body: { submitted_values: answer } })).status).toBe(404);
    expect((await api("PATCH", `${messages}/${message.id}`, { body: { submitted_values: "five" } })).status).toBe(422);
    await enable(hooked, false);
    expect((await api("PATCH", `${messages}/${message.id}`, { body: { submitted_values: answer } })).status).toBe(404);
  });

  it("another inbox's contact or conversation is a 404", async () => {
    const other = await createTestInbox(account);
    await enable(other);
    const contact = (await api("POST", `${base(inbox)}/contacts`, { body: {} })).body;
    const opened = (await api("POST", `${base(inbox)}/contacts/${contact.source_id}/conversations`, { body: {} })).body;
    expect((await api("GET", `${base(other)}/contacts/${contact.source_id}`)).status).toBe(404);
    const stranger = (await api("POST", `${base(inbox)}/contacts`, { body: {} })).body;
    expect((await api("GET", `${base(inbox)}/contacts/${stranger.source_id}/conversations/${opened.id}`)).status).toBe(404);
  });
});

describe("Chatwoot Client API: rate limit", () => {
  it("counts requests per inbox identifier and answers Chatwoot's 429 with Retry-After", async () => {
    const limited = await createTestAccount();
    const target = await createTestInbox(limited);
    const on = await api("PATCH", `/v1/accounts/${limited.accountId}/inboxes/${target.id}`, { token: limited.adminToken, body: { public_client_api: true } });
    expect(on.status).toBe(200);
    const set = await api("PATCH", `/v1/accounts/${limited.accountId}`, { token: TEST_PLATFORM_TOKEN, body: { rate_limits: { per_token: 3 } } });
    expect(set.status, set.text).toBe(200);
    const statuses: number[] = [];
    let refused;
    for (let i = 0; i < 5; i++) {
      const res = await api("GET", `/public/api/v1/inboxes/${target.identifier}`);
      statuses.push(res.status);
      if (res.status === 429) refused = res;
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(refused!.body.code).toBe("rate_limited");
    expect(typeof refused!.body.error).toBe("string");
    expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another inbox's identifier has its own allowance.
    const other = await createTestInbox(limited);
    await api("PATCH", `/v1/accounts/${limited.accountId}/inboxes/${other.id}`, { token: limited.adminToken, body: { public_client_api: true } });
    expect((await api("GET", `/public/api/v1/inboxes/${other.identifier}`)).status).toBe(200);
  });
});
