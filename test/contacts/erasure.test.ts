// Issue 19: erasure (GDPR / LGPD) of a contact: bounded steps, background completion, idempotent,
// ids-only contact_deleted, an audit line without personal data, and the source id free again.
import { describe, expect, it } from "vitest";
import { identifierHash } from "../../src/domain/identity";
import { api, createTestAccount, createTestUser, expectProblem, unique } from "../support/api";
import { count, createInboxToken, createTestInbox, setMembers } from "../support/fixtures";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards } from "../support/shards";

async function setup(webhookPath?: string) {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account, { webhookPath, lockToSingleConversation: false });
  const token = await createInboxToken(account, inbox);
  return { account, inbox, token, base: `/v1/inboxes/${inbox.identifier}` };
}

/** A contact with `threads` conversations of `messages` messages each (plus an agent reply and a private note in the first). */
async function history(ctx: Awaited<ReturnType<typeof setup>>, sourceId: string, threads: number, messages: number) {
  const conversations: string[] = [];
  let contactId = "";
  for (let t = 0; t < threads; t++) {
    for (let m = 0; m < messages; m++) {
      const res = await api("POST", `${ctx.base}/messages`, {
        token: ctx.token,
        body: { contact: { source_id: sourceId, name: "Maria Erasable", email: "maria.erasable@example.com" }, conversation: { source_id: `${sourceId}-t${t}` }, content: `secret message ${t}/${m}` },
      });
      expect(res.status, res.text).toBe(201);
      contactId = res.body.contact.id;
      if (m === 0) conversations.push(res.body.conversation.id);
    }
  }
  const url = `/v1/accounts/${ctx.account.accountId}/conversations/${conversations[0]}/messages`;
  expect((await api("POST", url, { token: ctx.account.adminToken, body: { content: "reply to Maria" } })).status).toBe(201);
  expect((await api("POST", url, { token: ctx.account.adminToken, body: { content: "note about Maria", private: true } })).status).toBe(201);
  return { contactId, conversations };
}

async function leftovers(contactId: string, conversations: string[]) {
  const list = conversations.map(() => "?").join(", ");
  return {
    conversations: await count(`SELECT count(*) AS n FROM conversations WHERE id IN (${list})`, ...conversations),
    messages: await count(`SELECT count(*) AS n FROM messages WHERE conversation_id IN (${list})`, ...conversations),
    events: await count(`SELECT count(*) AS n FROM events WHERE conversation_id IN (${list})`, ...conversations),
    deliveries: await count(`SELECT count(*) AS n FROM webhook_deliveries WHERE conversation_id IN (${list})`, ...conversations),
    contact_events: await count(
      "SELECT count(*) AS n FROM events WHERE (data ->> '$.contact.id') = ? AND type <> 'contact_deleted'",
      contactId,
    ),
    contact: await count("SELECT count(*) AS n FROM contacts WHERE id = ?", contactId),
    links: await count("SELECT count(*) AS n FROM contact_inboxes WHERE contact_id = ?", contactId),
  };
}

const nothingLeft = { conversations: 0, messages: 0, events: 0, deliveries: 0, contact_events: 0, contact: 0, links: 0 };

describe("erasing a contact", () => {
  it("erases a long history in bounded steps, finishing in the background, with the status visible", async () => {
    const hook = await receiverPath();
    const ctx = await setup(hook);
    const sourceId = unique("maria");
    const { contactId, conversations } = await history(ctx, sourceId, 2, 30);
    const url = `/v1/accounts/${ctx.account.accountId}/contacts/${contactId}`;

    const first = await api("DELETE", url, { token: ctx.account.adminToken });
    expect(first.status, first.text).toBe(202);
    expect(first.body).toMatchObject({ contact_id: contactId, scope: "account", status: "in_progress", steps: 3 });
    // What identifies the person is gone at once, and the source id already names nobody.
    expectProblem(await api("GET", `${ctx.base}/contacts/${sourceId}`, { token: ctx.token }), 404, "contact_not_found");
    const wiped = await allShards.prepare("SELECT name, email FROM contacts WHERE id = ?").bind(contactId).first<{ name: string | null; email: string | null }>();
    expect(wiped?.name ?? null).toBeNull();

    // Nobody calls again: the background run finishes it (the audit list only reads).
    const audit = () => api("GET", `/v1/accounts/${ctx.account.accountId}/contact_erasures`, { token: ctx.account.adminToken });
    await expect.poll(async () => (await audit()).body.data[0]?.status, { timeout: 20_000, interval: 100 }).toBe("completed");
    const done = await api("DELETE", url, { token: ctx.account.adminToken });
    expect(done.status).toBe(200);
    expect(done.body.id).toBe(first.body.id);
    expect(done.body.steps).toBeGreaterThan(3);
    expect(done.body.deleted.messages).toBe(62);
    expect(await leftovers(contactId, conversations)).toEqual(nothingLeft);

    // contact_deleted: ids only, on the inbox's webhook.
    const [deleted] = await waitForPayloads(hook, 1, "contact_deleted");
    expect(deleted!.body.contact).toEqual({ id: contactId, source_id: sourceId });
    expect(deleted!.request.body).not.toContain("Maria");
    expect(deleted!.request.body).not.toContain("maria.erasable");

    // The audit line: who and what, never the person.
    const log = await audit();
    expect(log.status).toBe(200);
    expect(log.body.data[0]).toMatchObject({ id: first.body.id, contact_id: contactId, status: "completed", requested_by: { type: "user", id: ctx.account.adminId } });
    expect(log.text).not.toContain("Maria");
    expect(log.text).not.toContain(sourceId);

    // The source id is free: a new person.
    const again = await api("PUT", `${ctx.base}/contacts/${sourceId}`, { token: ctx.token, body: { name: "Someone else" } });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(contactId);
  });

  it("the integrator erases through its source id; a contact linked to another inbox stays there; repeats answer the same erasure", async () => {
    const account = await createTestAccount();
    const shop = await createTestInbox(account);
    const partner = await createTestInbox(account);
    const shopToken = await createInboxToken(account, shop);
    const partnerToken = await createInboxToken(account, partner);
    const identifier = unique("linked");
    const secret = async (id: string) =>
      (await api("GET", `/v1/accounts/${account.accountId}/inboxes/${id}/identity`, { token: account.adminToken })).body.identity_secret;
    const inShop = await api("POST", `/v1/inboxes/${shop.identifier}/messages`, {
      token: shopToken,
      body: { contact: { source_id: "s-1", identifier, identifier_hash: await identifierHash(await secret(shop.id), identifier) }, content: "in shop" },
    });
    const inPartner = await api("POST", `/v1/inboxes/${partner.identifier}/messages`, {
      token: partnerToken,
      body: { contact: { source_id: "p-1", identifier, identifier_hash: await identifierHash(await secret(partner.id), identifier) }, content: "in partner" },
    });
    expect(inPartner.body.contact.id).toBe(inShop.body.contact.id);

    const erased = await api("DELETE", `/v1/inboxes/${partner.identifier}/contacts/p-1`, { token: partnerToken });
    expect(erased.status, erased.text).toBe(200);
    expect(erased.body).toMatchObject({ scope: "inbox", inbox_id: partner.id, status: "completed" });
    expect(await count("SELECT count(*) AS n FROM conversations WHERE id = ?", inPartner.body.conversation.id)).toBe(0);
    // The shop still has the person and their conversation.
    const shopView = await api("GET", `/v1/inboxes/${shop.identifier}/contacts/s-1`, { token: shopToken });
    expect(shopView.status).toBe(200);
    expect(await count("SELECT count(*) AS n FROM messages WHERE conversation_id = ?", inShop.body.conversation.id)).toBe(1);

    const repeat = await api("DELETE", `/v1/inboxes/${partner.identifier}/contacts/p-1`, { token: partnerToken });
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(erased.body.id);
    expectProblem(await api("DELETE", `/v1/inboxes/${partner.identifier}/contacts/never-was`, { token: partnerToken }), 404, "contact_not_found");
    // Another inbox's token cannot erase the shop's contact by its source id: it names nobody there.
    expectProblem(await api("DELETE", `/v1/inboxes/${partner.identifier}/contacts/s-1`, { token: partnerToken }), 404, "contact_not_found");
  });

  it("concurrent erasures of one contact share one erasure", async () => {
    const ctx = await setup();
    const { contactId } = await history(ctx, unique("c"), 1, 3);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api("DELETE", `/v1/accounts/${ctx.account.accountId}/contacts/${contactId}`, { token: ctx.account.adminToken })),
    );
    expect(results.map((res) => res.status).every((status) => status === 200 || status === 202), results.map((r) => r.text).join("\n")).toBe(true);
    expect(new Set(results.map((res) => res.body.id)).size).toBe(1);
    expect(await count("SELECT count(*) AS n FROM contact_erasures WHERE contact_id = ?", contactId)).toBe(1);
  });

  it("only administrators and the inbox's integrator erase; strangers get 404", async () => {
    const ctx = await setup();
    const agent = await createTestUser(ctx.account);
    await setMembers(ctx.account, ctx.inbox, [agent.id]);
    const sourceId = unique("kept");
    const { contactId } = await history(ctx, sourceId, 1, 1);
    expectProblem(await api("DELETE", `/v1/accounts/${ctx.account.accountId}/contacts/${contactId}`, { token: agent.token }), 403, "forbidden");
    expectProblem(await api("DELETE", `${ctx.base}/contacts/${sourceId}`, { token: agent.token }), 403, "forbidden");
    const stranger = await createTestAccount();
    expectProblem(await api("DELETE", `/v1/accounts/${stranger.accountId}/contacts/${contactId}`, { token: stranger.adminToken }), 404, "contact_not_found");
    expect(await count("SELECT count(*) AS n FROM contacts WHERE id = ?", contactId)).toBe(1);
  });
});
