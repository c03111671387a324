import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, unique, type TestAccount } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage, setMembers, type TestInbox } from "../support/fixtures";
import { agentStream, contactStream, eventsOf, isClient, openSocket, type StreamClient } from "../support/realtime";

async function sha256Hex(value: string) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function upsertContact(token: string, inbox: TestInbox, sourceId = unique("src")) {
  const res = await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/${sourceId}`, { token, body: { name: "Maria" } });
  expect([200, 201], res.text).toContain(res.status);
  return { sourceId, contactId: res.body.id as string, pubsubToken: res.body.pubsub_token as string };
}

async function reply(account: TestAccount, token: string, conversationId: string, body: Record<string, unknown>) {
  const res = await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/messages`, { token, body });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; seq: number };
}

const messageEvent = (content: string) => (frame: Record<string, any>) => frame.event === "message_created" && frame.message?.content === content;

describe("agent stream tickets", () => {
  it("a ticket opens the stream once; a reused, unknown, missing or expired ticket is a 401 problem before the upgrade", async () => {
    const account = await createTestAccount();
    const ticket = await api("POST", `/v1/accounts/${account.accountId}/realtime/tickets`, { token: account.adminToken });
    expect(ticket.status, ticket.text).toBe(201);
    expect(ticket.body.ticket).toMatch(/^rtk_/);
    expect(Date.parse(ticket.body.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);

    const url = `/v1/accounts/${account.accountId}/realtime?ticket=${encodeURIComponent(ticket.body.ticket)}`;
    const first = await openSocket(url);
    expect(isClient(first)).toBe(true);
    if (isClient(first)) {
      expect((await first.next((frame) => frame.event === "ready")).position).toMatch(/^\d+$/);
      first.close();
    }

    for (const path of [url, `/v1/accounts/${account.accountId}/realtime?ticket=rtk_unknown`, `/v1/accounts/${account.accountId}/realtime`]) {
      const refused = await openSocket(path);
      expect(isClient(refused)).toBe(false);
      if (!isClient(refused)) {
        expect(refused.status).toBe(401);
        expect(refused.headers.get("content-type")).toBe("application/problem+json");
        expect(refused.body.code).toBe("invalid_ticket");
      }
    }

    const expired = `rtk_${unique("expired")}`;
    await env.DB.prepare(
      "INSERT INTO realtime_tickets (ticket_hash, account_id, user_id, token_id, expires_at, created_at) VALUES (?, ?, ?, 'tok_x', ?, ?)",
    )
      .bind(await sha256Hex(expired), account.accountId, account.adminId, Date.now() - 1, Date.now() - 60_000)
      .run();
    const late = await openSocket(`/v1/accounts/${account.accountId}/realtime?ticket=${expired}`);
    expect(isClient(late) ? 101 : late.status).toBe(401);

    // Another account's ticket does not open this account's stream.
    const other = await createTestAccount();
    const foreign = await api("POST", `/v1/accounts/${other.accountId}/realtime/tickets`, { token: other.adminToken });
    const crossed = await openSocket(`/v1/accounts/${account.accountId}/realtime?ticket=${encodeURIComponent(foreign.body.ticket)}`);
    expect(isClient(crossed) ? 101 : crossed.status).toBe(401);
  });

  it("without Upgrade: websocket the stream URL is a 426 problem, and tickets need a user token", async () => {
    const account = await createTestAccount();
    const plain = await api("GET", `/v1/accounts/${account.accountId}/realtime?ticket=x`);
    expectProblem(plain, 426, "upgrade_required");
    expectProblem(await api("POST", `/v1/accounts/${account.accountId}/realtime/tickets`), 401, "unauthorized");
    const inbox = await createTestInbox(account);
    const inboxToken = await createInboxToken(account, inbox);
    expectProblem(await api("POST", `/v1/accounts/${account.accountId}/realtime/tickets`, { token: inboxToken }), 403, "forbidden");
  });
});

describe("live events", () => {
  it("an incoming message reaches the admin's stream as the webhook JSON with a position", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const stream = await agentStream(account.accountId, account.adminToken);
    const content = unique("hello");
    const sent = await sendMessage(account.adminToken, inbox, { contact: { source_id: unique("c") }, content });
    const frame = await stream.next(messageEvent(content));
    expect(frame).toMatchObject({
      event: "message_created",
      account: { id: account.accountId },
      inbox: { id: inbox.id },
      conversation_id: sent.conversation.id,
      message: { id: sent.message.id, content },
      origin: { type: "user" },
    });
    expect(frame.id).toMatch(/^evt_/);
    expect(frame.position).toMatch(/^\d+$/);
    expect(typeof frame.sequence).toBe("number");
    stream.close();
  });
});
