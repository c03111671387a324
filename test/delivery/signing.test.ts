import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { activeSecrets, signPayload, webhookHeaders } from "../../src/delivery/signing";
import { newWebhookSecret } from "../../src/core/crypto";

const body = JSON.stringify({ id: "evt_01TEST", event: "message_created", content: "Olá, ✓ unicode" });

function signedNow(secrets: string[]) {
  return webhookHeaders({ secrets, id: "evt_01TEST", timestamp: Math.floor(Date.now() / 1000), body });
}

describe("webhook signing", () => {
  it("makes secrets in the Standard Webhooks format: whsec_ + base64 of 32 random bytes", () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(atob(secret.slice("whsec_".length))).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it("gives byte-identical signatures to the standardwebhooks library", async () => {
    const secret = newWebhookSecret();
    const timestamp = 1_700_000_000;
    const ours = await signPayload({ secrets: [secret], id: "evt_1", timestamp, body });
    expect(ours).toBe(new Webhook(secret).sign("evt_1", new Date(timestamp * 1000), body));
  });

  it("sends the Standard Webhooks headers, verifiable by the library", async () => {
    const secret = newWebhookSecret();
    const headers = await signedNow([secret]);
    expect(Object.keys(headers).sort()).toEqual(
      ["content-type", "user-agent", "webhook-id", "webhook-signature", "webhook-timestamp"].sort(),
    );
    expect(headers["content-type"]).toBe("application/json");
    expect(headers["user-agent"]).toBe("edge-inbox-webhooks/1");
    expect(headers["webhook-id"]).toBe("evt_01TEST");
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it("during a rotation signs with both secrets, and either one verifies", async () => {
    const previous = newWebhookSecret();
    const current = newWebhookSecret();
    const headers = await signedNow([current, previous]);
    expect(headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(() => new Webhook(current).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(previous).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
  });

  it("a changed body, id or timestamp no longer verifies", async () => {
    const secret = newWebhookSecret();
    const headers = await signedNow([secret]);
    const webhook = new Webhook(secret);
    expect(() => webhook.verify(body.replace("Olá", "Ola"), headers)).toThrow();
    expect(() => webhook.verify(body, { ...headers, "webhook-id": "evt_other" })).toThrow();
    expect(() =>
      webhook.verify(body, { ...headers, "webhook-timestamp": String(Number(headers["webhook-timestamp"]) - 1) }),
    ).toThrow();
  });

  it("keeps the previous secret active only until it expires", () => {
    const now = Date.now();
    const inbox = { webhookSecret: "whsec_new", previousWebhookSecret: "whsec_old", previousSecretExpiresAt: now + 1000 };
    expect(activeSecrets(inbox, now)).toEqual(["whsec_new", "whsec_old"]);
    expect(activeSecrets(inbox, now + 999)).toEqual(["whsec_new", "whsec_old"]);
    expect(activeSecrets(inbox, now + 1000)).toEqual(["whsec_new"]);
    expect(activeSecrets({ ...inbox, previousWebhookSecret: null, previousSecretExpiresAt: null }, now)).toEqual(["whsec_new"]);
  });
});
