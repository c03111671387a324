// Webhooks in Chatwoot's form, per endpoint: payload_format "chatwoot" gives Chatwoot's bodies (event names,
// webhook_data shapes, numeric ids that match the Chatwoot API's), signature "chatwoot" / "both" gives
// X-Chatwoot-Signature over "{timestamp}.{body}" — checked byte for byte by the receiver with Node's crypto —
// with X-Chatwoot-Delivery stable across retries. Our retries, order and delivery log apply unchanged.
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { api, createTestAccount } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage } from "../support/fixtures";
import { receiverPath, script, waitForPayloads } from "../support/receiver-client";

describe("Chatwoot-form webhooks", () => {
  it("an inbox webhook in Chatwoot's format, signed both ways; a retry keeps X-Chatwoot-Delivery; order holds", async () => {
    const account = await createTestAccount();
    const path = await receiverPath();
    const inbox = await createTestInbox(account, { webhookPath: path });
    await script(path, [{ status: 500 }], { status: 200, chatwoot_secret: inbox.secret });
    const patched = await api("PATCH", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}`, {
      token: account.adminToken,
      body: { webhook_payload_format: "chatwoot", webhook_signature: "both" },
    });
    expect(patched.body).toMatchObject({ webhook_payload_format: "chatwoot", webhook_signature: "both" });
    const token = await createInboxToken(account, inbox);
    const sent = await sendMessage(token, inbox, { contact: { source_id: "cw-hook-1", name: "Gil" }, content: "Hello" });
    const reply = await api("POST", `/v1/accounts/${account.accountId}/conversations/${sent.conversation.id}/messages`, {
      token: account.adminToken,
      body: { content: "Hi Gil" },
    });
    expect(reply.status, reply.text).toBe(201);

    const arrived = await waitForPayloads(path, 2, "message_created");
    for (const { request, body } of arrived) {
      // Chatwoot's signature, verified on the exact bytes; the Standard Webhooks one, by the library.
      if (request.status === 200) expect(request.chatwoot_signature_valid).toBe(true);
      expect(request.headers["x-chatwoot-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(request.headers["x-chatwoot-timestamp"]).toBe(request.headers["webhook-timestamp"]);
      expect(request.headers["x-chatwoot-delivery"]).toBe(request.headers["webhook-id"]);
      expect(() => new Webhook(inbox.secret!).verify(request.body, request.headers)).not.toThrow();
      expect(body).not.toHaveProperty("sequence");
    }
    // The first request (answered 500) is retried with the same delivery id, and then verifies.
    const first = (await waitForPayloads(path, 1))[0]!.request;
    expect(first.status).toBe(500);
    const sameDelivery = async () =>
      (await waitForPayloads(path, 0)).filter((item) => item.request.headers["x-chatwoot-delivery"] === first.headers["x-chatwoot-delivery"]);
    await expect.poll(async () => (await sameDelivery()).length, { timeout: 15_000, interval: 50 }).toBe(2);
    const attempts = await sameDelivery();
    expect(attempts.map((item) => item.request.status)).toEqual([500, 200]);
    expect(attempts[1]!.request.chatwoot_signature_valid).toBe(true);

    const [incoming, outgoing] = arrived.filter((item) => item.request.status === 200).map((item) => item.body);
    expect(incoming).toMatchObject({
      event: "message_created",
      content: "Hello",
      message_type: "incoming",
      content_type: "text",
      private: false,
      sender: { type: "contact", name: "Gil" },
      inbox: { name: expect.any(String) },
      conversation: { status: "open", channel: "Channel::Api", meta: { sender: { name: "Gil", type: "contact" } } },
      account: { id: expect.any(Number) },
    });
    expect(outgoing).toMatchObject({ event: "message_created", content: "Hi Gil", message_type: "outgoing", sender: { type: "user" } });
    expect(typeof incoming!.id).toBe("number");
    expect(outgoing!.id).toBeGreaterThan(incoming!.id);

    // The numbers are the Chatwoot API's: the same conversation and message there.
    const listed = await api("GET", `/api/v1/accounts/${incoming!.account.id}/conversations/${incoming!.conversation.id}/messages`, {
      headers: { api_access_token: account.adminToken },
    });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.payload.map((m: { id: number }) => m.id)).toEqual([incoming!.id, outgoing!.id]);

    const resolved = await api("POST", `/v1/accounts/${account.accountId}/conversations/${sent.conversation.id}/status`, {
      token: account.adminToken,
      body: { status: "resolved" },
    });
    expect(resolved.status, resolved.text).toBe(200);
    const [changed] = await waitForPayloads(path, 1, "conversation_status_changed");
    expect(changed!.body).toMatchObject({
      event: "conversation_status_changed",
      id: incoming!.conversation.id,
      status: "resolved",
      changed_attributes: [{ status: { previous_value: "open", current_value: "resolved" } }],
    });
    // Per conversation, in order: conversation_created, the two messages, the status change (and its activity line).
    const order = (await waitForPayloads(path, 0))
      .filter((item) => item.request.status === 200 && item.body.event !== "contact_created")
      .map((item) => (item.body.message_type === "activity" ? "activity" : item.body.event));
    expect(order.filter((event) => event !== "activity")).toEqual(["conversation_created", "message_created", "message_created", "conversation_status_changed"]);
    expect(order).toContain("activity");
  });

  it("an account-level endpoint with signature chatwoot only sends Chatwoot's headers; contact events in Chatwoot's shape", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const path = await receiverPath();
    const created = await api("POST", `/v1/accounts/${account.accountId}/webhooks`, {
      token: account.adminToken,
      body: { url: `${env.RECEIVER_URL}${path}`, payload_format: "chatwoot", signature: "chatwoot", events: ["contact_created", "conversation_created"] },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ payload_format: "chatwoot", signature: "chatwoot" });
    await script(path, [], { status: 200, chatwoot_secret: created.body.secret });
    const token = await createInboxToken(account, inbox);
    await sendMessage(token, inbox, { contact: { source_id: "cw-hook-2", name: "Hana", email: "hana@example.com" }, content: "Hi" });
    const [contact] = await waitForPayloads(path, 1, "contact_created");
    expect(contact!.request.chatwoot_signature_valid).toBe(true);
    expect(contact!.request.headers).not.toHaveProperty("webhook-signature");
    expect(contact!.body).toMatchObject({ event: "contact_created", name: "Hana", email: "hana@example.com", type: "contact", account: { id: expect.any(Number) } });
    const [conversation] = await waitForPayloads(path, 1, "conversation_created");
    expect(conversation!.body).toMatchObject({ event: "conversation_created", status: "open", meta: { sender: { id: contact!.body.id } } });
  });
});
