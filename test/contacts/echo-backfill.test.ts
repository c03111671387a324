// Issue 19: the integrator records messages the business sent from its own system (outgoing, sender the
// integration) without getting them echoed back, and imports history with its original times.
import { describe, expect, it } from "vitest";
import { api, createTestAccount, expectProblem, unique } from "../support/api";
import { createInboxToken, createTestInbox } from "../support/fixtures";
import { payloads, receiverPath, waitForPayloads } from "../support/receiver-client";

async function setup() {
  const account = await createTestAccount();
  const hook = await receiverPath();
  const inbox = await createTestInbox(account, { webhookPath: hook });
  const token = await createInboxToken(account, inbox);
  return { account, inbox, token, hook, base: `/v1/inboxes/${inbox.identifier}` };
}

describe("integrator echo", () => {
  it("records an outgoing message from the integration without sending it back to the inbox's webhook", async () => {
    const { token, hook, base } = await setup();
    const sourceId = unique("u");
    const mine = await api("POST", `${base}/messages`, {
      token,
      body: { contact: { source_id: sourceId }, message_type: "outgoing", content: "Your order shipped (sent by our CRM)", source_id: unique("crm") },
    });
    expect(mine.status, mine.text).toBe(201);
    expect(mine.body.message).toMatchObject({ message_type: "outgoing", sender: { type: "integration" }, status: "sent" });
    // The contact's answer comes after it; its webhook arrives, ours never does.
    const reply = await api("POST", `${base}/conversations/${mine.body.conversation.id}/messages`, { token, body: { content: "thanks!" } });
    expect(reply.status).toBe(201);
    const created = await waitForPayloads(hook, 1, "message_created");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const all = (await payloads(hook, "message_created")).map((item) => item.body.message.id);
    expect(all).toEqual([reply.body.id]);
    expect(created[0]!.body.message.seq).toBe(2);
    // Nor in the pull fallback.
    const pulled = await api("GET", `${base}/events?limit=100`, { token });
    expect(pulled.body.data.filter((event: any) => event.event === "message_created").map((event: any) => event.message.id)).toEqual([reply.body.id]);
    // The history has both, in order; the integrator may still report delivery receipts for its own message.
    const history = await api("GET", `${base}/conversations/${mine.body.conversation.id}/messages`, { token });
    expect(history.body.data.map((m: any) => m.sender.type)).toEqual(["integration", "contact"]);
    const receipt = await api("POST", `${base}/messages/${mine.body.message.id}/status`, { token, body: { status: "delivered" } });
    expect(receipt.status, receipt.text).toBe(200);
  });

  it("echoes it when asked, and never accepts echo on an incoming message", async () => {
    const { token, hook, base } = await setup();
    const echoed = await api("POST", `${base}/messages`, {
      token,
      body: { contact: { source_id: unique("e") }, message_type: "outgoing", echo: true, content: "copy me" },
    });
    expect(echoed.status).toBe(201);
    const [arrived] = await waitForPayloads(hook, 1, "message_created");
    expect(arrived!.body.message).toMatchObject({ id: echoed.body.message.id, sender: { type: "integration" } });
    expect(arrived!.body.origin.type).toBe("token");
    expectProblem(await api("POST", `${base}/messages`, { token, body: { contact: { source_id: "x" }, echo: true, content: "no" } }), 422, "validation_failed");
  });

  it("an outgoing message leaves a resolved conversation resolved", async () => {
    const { account, token, base } = await setup();
    const first = await api("POST", `${base}/messages`, { token, body: { contact: { source_id: unique("r") }, content: "hi" } });
    const conversationId = first.body.conversation.id;
    await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/status`, { token: account.adminToken, body: { status: "resolved" } });
    const mine = await api("POST", `${base}/conversations/${conversationId}/messages`, { token, body: { message_type: "outgoing", content: "survey link" } });
    expect(mine.status, mine.text).toBe(201);
    expect((await api("GET", `${base}/conversations/${conversationId}`, { token })).body.status).toBe("resolved");
  });
});

describe("backfill", () => {
  it("imports history with its original times; seq stays the order of arrival", async () => {
    const { token, base } = await setup();
    const sourceId = unique("h");
    const times = ["2024-03-01T12:05:00.000Z", "2024-03-01T12:00:00.000Z", "2024-03-01T12:10:00.000Z"];
    const sent = [];
    for (const [i, at] of times.entries()) {
      const res = await api("POST", `${base}/messages`, {
        token,
        body: {
          contact: { source_id: sourceId },
          message_type: i === 1 ? "outgoing" : "incoming",
          external_created_at: at,
          content: `old ${i}`,
          source_id: `${sourceId}-m${i}`,
        },
      });
      expect(res.status, res.text).toBe(201);
      sent.push(res.body.message);
    }
    expect(sent.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(sent.map((m) => m.external_created_at)).toEqual(times);
    expect(Date.parse(sent[0].created_at)).toBeGreaterThan(Date.parse("2026-01-01"));
    // A retry of an import is deduped by its source id, as always.
    const again = await api("POST", `${base}/messages`, {
      token,
      body: { contact: { source_id: sourceId }, external_created_at: times[0], content: "old 0", source_id: `${sourceId}-m0` },
    });
    expect(again.status).toBe(200);
    expectProblem(
      await api("POST", `${base}/messages`, { token, body: { contact: { source_id: sourceId }, external_created_at: "2999-01-01T00:00:00Z", content: "future" } }),
      422,
      "validation_failed",
    );
    expectProblem(
      await api("POST", `${base}/messages`, { token, body: { contact: { source_id: sourceId }, external_created_at: "yesterday", content: "bad" } }),
      422,
      "validation_failed",
    );
  });
});
