// Issue 19: an inbox token reads and writes only contacts reached through its own inbox; an identifier
// links a person across inboxes only with proof (identifier_hash, or a user token of the account).
import { describe, expect, it } from "vitest";
import { identifierHash } from "../../src/domain/identity";
import { api, createTestAccount, createTestUser, expectProblem, unique } from "../support/api";
import { createInboxToken, createTestInbox, setMembers } from "../support/fixtures";
import { allShards } from "../support/shards";

async function shopAndPartner() {
  const account = await createTestAccount();
  const shop = await createTestInbox(account);
  const partner = await createTestInbox(account);
  return {
    account,
    shop: { ...shop, token: await createInboxToken(account, shop), base: `/v1/inboxes/${shop.identifier}` },
    partner: { ...partner, token: await createInboxToken(account, partner), base: `/v1/inboxes/${partner.identifier}` },
  };
}

async function identity(account: { accountId: string; adminToken: string }, inboxId: string) {
  const res = await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inboxId}/identity`, { token: account.adminToken });
  expect(res.status, res.text).toBe(200);
  return res.body as { identity_secret: string; hmac_mandatory: boolean };
}

describe("isolation by inbox", () => {
  it("another inbox's token that knows an identifier gets a contact of its own, never the other inbox's data", async () => {
    const { shop, partner } = await shopAndPartner();
    const identifier = unique("maria");
    const maria = await api("PUT", `${shop.base}/contacts/shop-user-1`, {
      token: shop.token,
      body: { name: "Maria", email: "maria@example.com", identifier, custom_attributes: { vip: true } },
    });
    expect(maria.status).toBe(201);

    const probe = await api("PUT", `${partner.base}/contacts/partner-x`, { token: partner.token, body: { identifier } });
    expect(probe.status, probe.text).toBe(201);
    expect(probe.body.id).not.toBe(maria.body.id);
    expect(probe.body).toMatchObject({ name: null, email: null, custom_attributes: {}, identifier, identifier_verified: false });

    const overwrite = await api("PUT", `${partner.base}/contacts/partner-x`, { token: partner.token, body: { email: "attacker@example.com" } });
    expect(overwrite.status).toBe(200);
    const seen = await api("GET", `${shop.base}/contacts/shop-user-1`, { token: shop.token });
    expect(seen.body).toMatchObject({ id: maria.body.id, email: "maria@example.com", custom_attributes: { vip: true } });

    // The one-call path is the same door.
    const sent = await api("POST", `${partner.base}/messages`, {
      token: partner.token,
      body: { contact: { source_id: unique("partner-y"), identifier, email: "attacker@example.com" }, content: "hi" },
    });
    expect(sent.status, sent.text).toBe(201);
    expect(sent.body.contact.id).not.toBe(maria.body.id);
    expect((await api("GET", `${shop.base}/contacts/shop-user-1`, { token: shop.token })).body.email).toBe("maria@example.com");
  });

  it("links across inboxes when both prove the identifier with their inbox's identity secret", async () => {
    const { account, shop, partner } = await shopAndPartner();
    const identifier = unique("person");
    const shopSecret = (await identity(account, shop.id)).identity_secret;
    const partnerSecret = (await identity(account, partner.id)).identity_secret;
    expect(shopSecret).not.toBe(partnerSecret);
    const first = await api("PUT", `${shop.base}/contacts/a-1`, {
      token: shop.token,
      body: { identifier, identifier_hash: await identifierHash(shopSecret, identifier), name: "P" },
    });
    expect(first.status, first.text).toBe(201);
    expect(first.body.identifier_verified).toBe(true);
    // The shop's secret does not prove anything in the partner's inbox.
    expectProblem(
      await api("PUT", `${partner.base}/contacts/b-9`, {
        token: partner.token,
        body: { identifier, identifier_hash: await identifierHash(shopSecret, identifier) },
      }),
      422,
      "identifier_hash_invalid",
    );
    const second = await api("PUT", `${partner.base}/contacts/b-9`, {
      token: partner.token,
      body: { identifier, identifier_hash: await identifierHash(partnerSecret, identifier) },
    });
    expect(second.status, second.text).toBe(201);
    expect(second.body).toMatchObject({ id: first.body.id, source_id: "b-9", name: "P", identifier_verified: true });
  });

  it("a verified identifier is not changed or taken over without proof", async () => {
    const { account, shop } = await shopAndPartner();
    const identifier = unique("v");
    const secret = (await identity(account, shop.id)).identity_secret;
    await api("PUT", `${shop.base}/contacts/v-1`, { token: shop.token, body: { identifier, identifier_hash: await identifierHash(secret, identifier) } });
    expectProblem(await api("PUT", `${shop.base}/contacts/v-1`, { token: shop.token, body: { identifier: "other" } }), 422, "identifier_hash_required");
    // Repeating the verified identifier without proof changes nothing.
    const same = await api("PUT", `${shop.base}/contacts/v-1`, { token: shop.token, body: { identifier } });
    expect(same.status).toBe(200);
    expect(same.body.identifier_verified).toBe(true);
  });

  it("an unverified identifier is verified later by proving it, and an unverified one stays unique within its inbox", async () => {
    const { account, shop } = await shopAndPartner();
    const identifier = unique("late");
    const created = await api("PUT", `${shop.base}/contacts/l-1`, { token: shop.token, body: { identifier } });
    expect(created.body.identifier_verified).toBe(false);
    // Same inbox, same unverified identifier: the same person.
    const again = await api("PUT", `${shop.base}/contacts/l-2`, { token: shop.token, body: { identifier } });
    expect(again.body.id).toBe(created.body.id);
    const secret = (await identity(account, shop.id)).identity_secret;
    const proven = await api("PUT", `${shop.base}/contacts/l-1`, {
      token: shop.token,
      body: { identifier, identifier_hash: await identifierHash(secret, identifier) },
    });
    expect(proven.status).toBe(200);
    expect(proven.body.identifier_verified).toBe(true);
    const events = await allShards.prepare("SELECT data FROM events WHERE inbox_id = ? AND type = 'contact_updated' ORDER BY position DESC LIMIT 1")
      .bind(shop.id)
      .first<{ data: string }>();
    expect(JSON.parse(events!.data).changed_attributes).toEqual(["identifier_verified"]);
  });

  it("a user token of the account links without a hash; an inbox token cannot", async () => {
    const { account, shop, partner } = await shopAndPartner();
    const agent = await createTestUser(account);
    await setMembers(account, partner, [agent.id]);
    const identifier = unique("u");
    const secret = (await identity(account, shop.id)).identity_secret;
    const first = await api("PUT", `${shop.base}/contacts/u-1`, { token: shop.token, body: { identifier, identifier_hash: await identifierHash(secret, identifier) } });
    const byAgent = await api("PUT", `${partner.base}/contacts/u-2`, { token: agent.token, body: { identifier } });
    expect(byAgent.status, byAgent.text).toBe(201);
    expect(byAgent.body.id).toBe(first.body.id);
    const byToken = await api("PUT", `${partner.base}/contacts/u-3`, { token: partner.token, body: { identifier } });
    expect(byToken.body.id).not.toBe(first.body.id);
  });

  it("hmac_mandatory refuses an identifier without a valid hash; rotating the secret invalidates old hashes", async () => {
    const { account, shop } = await shopAndPartner();
    const url = `/v1/accounts/${account.accountId}/inboxes/${shop.id}/identity`;
    const on = await api("PATCH", url, { token: account.adminToken, body: { hmac_mandatory: true } });
    expect(on.status, on.text).toBe(200);
    expect(on.body.hmac_mandatory).toBe(true);
    const identifier = unique("m");
    expectProblem(await api("PUT", `${shop.base}/contacts/m-1`, { token: shop.token, body: { identifier } }), 422, "identifier_hash_required");
    expectProblem(
      await api("POST", `${shop.base}/messages`, { token: shop.token, body: { contact: { source_id: "m-1", identifier }, content: "x" } }),
      422,
      "identifier_hash_required",
    );
    // No identifier at all is still fine.
    expect((await api("PUT", `${shop.base}/contacts/m-0`, { token: shop.token, body: { name: "anon" } })).status).toBe(201);
    const oldHash = await identifierHash(on.body.identity_secret, identifier);
    expect((await api("PUT", `${shop.base}/contacts/m-1`, { token: shop.token, body: { identifier, identifier_hash: oldHash } })).status).toBe(201);

    const rotated = await api("POST", `${url}/rotate`, { token: account.adminToken });
    expect(rotated.status).toBe(200);
    expect(rotated.body.identity_secret).not.toBe(on.body.identity_secret);
    const other = unique("m2");
    expectProblem(
      await api("PUT", `${shop.base}/contacts/m-2`, { token: shop.token, body: { identifier: other, identifier_hash: await identifierHash(on.body.identity_secret, other) } }),
      422,
      "identifier_hash_invalid",
    );
    expect(
      (await api("PUT", `${shop.base}/contacts/m-2`, { token: shop.token, body: { identifier: other, identifier_hash: await identifierHash(rotated.body.identity_secret, other) } })).status,
    ).toBe(201);
  });

  it("a replayed rotation never hands out an identity secret that was rotated since", async () => {
    const { account, shop } = await shopAndPartner();
    const url = `/v1/accounts/${account.accountId}/inboxes/${shop.id}/identity/rotate`;
    const key = { "idempotency-key": unique("rotate") };
    const first = await api("POST", url, { token: account.adminToken, headers: key });
    expect(first.body.identity_secret).toMatch(/^idsec_[0-9a-f]{64}$/);
    const replay = await api("POST", url, { token: account.adminToken, headers: key });
    expect(replay.body.identity_secret).toBe(first.body.identity_secret);
    await api("POST", url, { token: account.adminToken });
    const stale = await api("POST", url, { token: account.adminToken, headers: key });
    expectProblem(stale, 409, "idempotency_answer_withdrawn");
    expect(stale.text).not.toContain(first.body.identity_secret);
  });

  it("identity settings are for administrators of the account only", async () => {
    const { account, shop } = await shopAndPartner();
    const agent = await createTestUser(account);
    await setMembers(account, shop, [agent.id]);
    const url = `/v1/accounts/${account.accountId}/inboxes/${shop.id}/identity`;
    expectProblem(await api("GET", url, { token: agent.token }), 403, "forbidden");
    expectProblem(await api("GET", url, { token: shop.token }), 403, "forbidden");
    const stranger = await createTestAccount();
    expectProblem(await api("GET", `/v1/accounts/${stranger.accountId}/inboxes/${shop.id}/identity`, { token: stranger.adminToken }), 404, "inbox_not_found");
  });
});
