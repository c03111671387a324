// Issue 19: finding people and conversations — the account contacts API and full-text conversation search.
import { describe, expect, it } from "vitest";
import { ftsQuery } from "../../src/domain/search";
import { api, createTestAccount, createTestUser, expectProblem, unique } from "../support/api";
import { createInboxToken, createTestInbox, setMembers } from "../support/fixtures";
import { allShards } from "../support/shards";

async function world() {
  const account = await createTestAccount();
  const shop = await createTestInbox(account);
  const partner = await createTestInbox(account);
  const shopToken = await createInboxToken(account, shop);
  const partnerToken = await createInboxToken(account, partner);
  const agent = await createTestUser(account, "agent", "Ana");
  await setMembers(account, shop, [agent.id]);
  const send = async (token: string, inbox: { identifier: string }, contact: Record<string, unknown>, content: string) => {
    const res = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body: { contact, content } });
    expect(res.status, res.text).toBe(201);
    return res.body as { contact: { id: string }; conversation: { id: string } };
  };
  return { account, shop, partner, shopToken, partnerToken, agent, send };
}

describe("account contacts API", () => {
  it("lists and searches by name, email, phone and source id; agents see only their inboxes' contacts", async () => {
    const w = await world();
    const tag = unique("z").replace(/[^a-z0-9]/g, "");
    const maria = await w.send(w.shopToken, w.shop, { source_id: `shop-${tag}`, name: `Maria ${tag}`, email: `maria.${tag}@example.com`, phone: "+55 11 99999-0000" }, "oi");
    const joao = await w.send(w.partnerToken, w.partner, { source_id: `partner-${tag}`, name: `João ${tag}` }, "olá");
    const list = (token: string, q?: string) =>
      api("GET", `/v1/accounts/${w.account.accountId}/contacts${q === undefined ? "" : `?q=${encodeURIComponent(q)}`}`, { token });

    const all = await list(w.account.adminToken);
    expect(all.status, all.text).toBe(200);
    expect(all.body.data.map((c: { id: string }) => c.id).sort()).toEqual([maria.contact.id, joao.contact.id].sort());
    expect((await list(w.account.adminToken, `MARIA.${tag}`)).body.data.map((c: { id: string }) => c.id)).toEqual([maria.contact.id]);
    expect((await list(w.account.adminToken, "99999")).body.data.map((c: { id: string }) => c.id)).toEqual([maria.contact.id]);
    expect((await list(w.account.adminToken, `partner-${tag}`)).body.data.map((c: { id: string }) => c.id)).toEqual([joao.contact.id]);
    expect((await list(w.account.adminToken, "100%_literal")).body.data).toEqual([]);

    // The agent works the shop only.
    expect((await list(w.agent.token)).body.data.map((c: { id: string }) => c.id)).toEqual([maria.contact.id]);
    expect((await list(w.agent.token, `partner-${tag}`)).body.data).toEqual([]);
    expectProblem(await api("GET", `/v1/accounts/${w.account.accountId}/contacts/${joao.contact.id}`, { token: w.agent.token }), 404, "contact_not_found");
    const got = await api("GET", `/v1/accounts/${w.account.accountId}/contacts/${maria.contact.id}`, { token: w.agent.token });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: maria.contact.id, email: `maria.${tag}@example.com`, inboxes: [{ inbox_id: w.shop.id, source_id: `shop-${tag}` }] });
    // Inbox tokens and other accounts: no.
    expect([403, 404]).toContain((await list(w.shopToken)).status);
    const stranger = await createTestAccount();
    expectProblem(await api("GET", `/v1/accounts/${stranger.accountId}/contacts/${maria.contact.id}`, { token: stranger.adminToken }), 404, "contact_not_found");
  });

  it("an agent corrects a contact: merged attributes, a verified identifier, contact_updated on every inbox reaching it", async () => {
    const w = await world();
    const maria = await w.send(w.shopToken, w.shop, { source_id: unique("m"), name: "Maria", custom_attributes: { plan: "free" } }, "hi");
    const url = `/v1/accounts/${w.account.accountId}/contacts/${maria.contact.id}`;
    const identifier = unique("crm");
    const patched = await api("PATCH", url, { token: w.agent.token, body: { email: "maria@example.com", identifier, custom_attributes: { tier: 2 } } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ email: "maria@example.com", identifier, identifier_verified: true, custom_attributes: { plan: "free", tier: 2 } });
    const event = await allShards.prepare("SELECT data FROM events WHERE inbox_id = ? AND type = 'contact_updated' ORDER BY position DESC LIMIT 1")
      .bind(w.shop.id)
      .first<{ data: string }>();
    expect(JSON.parse(event!.data).contact).toMatchObject({ id: maria.contact.id, email: "maria@example.com" });
    // The verified identifier now links the partner's contact when the partner proves it — here with an admin token.
    const linked = await api("PUT", `/v1/inboxes/${w.partner.identifier}/contacts/${unique("p")}`, { token: w.account.adminToken, body: { identifier } });
    expect(linked.body.id).toBe(maria.contact.id);
    // The agent does not work the partner's inbox: it is not listed for them.
    const seen = await api("GET", url, { token: w.agent.token });
    expect(seen.body.inboxes.map((link: { inbox_id: string }) => link.inbox_id)).toEqual([w.shop.id]);
    expectProblem(await api("PATCH", url, { token: w.agent.token, body: { identifier_hash: "0".repeat(64) } }), 422, "validation_failed");
  });
});

describe("conversation search (FTS5)", () => {
  it("turns what is typed into word-prefix phrases, never FTS operators", () => {
    expect(ftsQuery("pedido 1042")).toBe('"pedido"* "1042"*');
    expect(ftsQuery('NEAR("x" y) OR content:z*')).toBe('"NEAR"* "x"* "y"* "OR"* "content"* "z"*');
    expect(() => ftsQuery("***")).toThrow("letter or digit");
  });

  it("finds conversations by message text, accents and case ignored, within what each agent may see, private notes for agents", async () => {
    const w = await world();
    const word = `xq${unique("w").replace(/[^a-z0-9]/g, "")}`;
    const inShop = await w.send(w.shopToken, w.shop, { source_id: unique("s") }, `Olá, meu PEDIDO ${word} não chegou`);
    const inPartner = await w.send(w.partnerToken, w.partner, { source_id: unique("p") }, `pedido ${word} atrasado`);
    const other = await w.send(w.shopToken, w.shop, { source_id: unique("o") }, "nothing to see here");
    const note = await api("POST", `/v1/accounts/${w.account.accountId}/conversations/${other.conversation.id}/messages`, {
      token: w.account.adminToken,
      body: { content: `internal ${word} remark`, private: true },
    });
    expect(note.status).toBe(201);
    const search = (token: string, q: string) => api("GET", `/v1/accounts/${w.account.accountId}/conversations?q=${encodeURIComponent(q)}`, { token });
    const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((c) => c.id).sort();

    const admin = await search(w.account.adminToken, `nao ${word}`);
    expect(admin.status, admin.text).toBe(200);
    expect(ids(admin)).toEqual([inShop.conversation.id]);
    expect(ids(await search(w.account.adminToken, word))).toEqual([inShop.conversation.id, inPartner.conversation.id, other.conversation.id].sort());
    expect(ids(await search(w.account.adminToken, `pedi ${word.slice(0, -2)}`))).toEqual([inShop.conversation.id, inPartner.conversation.id].sort());
    // The agent works the shop only; the private note is theirs to find.
    expect(ids(await search(w.agent.token, word))).toEqual([inShop.conversation.id, other.conversation.id].sort());
    expect((await search(w.agent.token, word)).body.meta.counts.all).toBe(2);
    // Another account never sees them.
    const stranger = await createTestAccount();
    const foreign = await api("GET", `/v1/accounts/${stranger.accountId}/conversations?q=${word}`, { token: stranger.adminToken });
    expect(foreign.body.data).toEqual([]);
    expectProblem(await search(w.account.adminToken, "!!!"), 422, "validation_failed");
  });

  it("forgets erased messages", async () => {
    const w = await world();
    const word = `er${unique("w").replace(/[^a-z0-9]/g, "")}`;
    const sourceId = unique("gone");
    const sent = await w.send(w.shopToken, w.shop, { source_id: sourceId }, `remember ${word}`);
    const search = () => api("GET", `/v1/accounts/${w.account.accountId}/conversations?q=${word}`, { token: w.account.adminToken });
    expect((await search()).body.data).toHaveLength(1);
    expect((await api("DELETE", `/v1/inboxes/${w.shop.identifier}/contacts/${sourceId}`, { token: w.shopToken })).status).toBe(200);
    expect((await search()).body.data).toEqual([]);
    // The index itself forgot the words, not only the messages it pointed at.
    expect(await allShards.prepare("SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH ?").bind(`"${word}"`).first("n")).toBe(0);
    expect(sent.conversation.id).toMatch(/^cnv_/);
  });
});
