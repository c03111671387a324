import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage, setMembers } from "../support/fixtures";
import { payloads, receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards } from "../support/shards";

async function setup(options: { webhook?: boolean; lockToSingleConversation?: boolean } = {}) {
  const account = await createTestAccount();
  const webhookPath = options.webhook ? await receiverPath() : undefined;
  const inbox = await createTestInbox(account, { webhookPath, lockToSingleConversation: options.lockToSingleConversation });
  const token = await createInboxToken(account, inbox);
  const agent = await createTestUser(account, "agent", "Ana");
  await setMembers(account, inbox, [agent.id]);
  const first = await sendMessage(token, inbox, { contact: { source_id: "c-1", name: "Maria" }, content: "help" });
  const conversationPath = `/v1/accounts/${account.accountId}/conversations/${first.conversation.id}`;
  return { account, inbox, token, agent, webhookPath, conversationId: first.conversation.id, conversationPath, first };
}

async function sequences(conversationId: string) {
  const rows = await allShards.prepare("SELECT sequence FROM events WHERE conversation_id = ? ORDER BY sequence")
    .bind(conversationId)
    .all<{ sequence: number }>();
  return rows.results.map((row) => row.sequence);
}

describe("replies and notes", () => {
  it("sends a reply to the integrator once, keeps a note private, and shows both to agents only as appropriate", async () => {
    const { account, inbox, token, webhookPath, conversationId, conversationPath } = await setup({ webhook: true });
    const reply = await api("POST", `${conversationPath}/messages`, { token: account.adminToken, body: { content: "On it!" } });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ message_type: "outgoing", private: false, status: "sent", seq: 2, sender: { type: "user", id: account.adminId } });
    const note = await api("POST", `${conversationPath}/messages`, { token: account.adminToken, body: { content: "VIP customer", private: true } });
    expect(note.status).toBe(201);
    expect(note.body).toMatchObject({ private: true, seq: 3 });

    // The contact's message arrives first; wait for the reply itself, then a little for any stray duplicate.
    const isReply = (item: { body: Record<string, any> }) => item.body.message.message_type === "outgoing";
    await expect.poll(async () => (await payloads(webhookPath!, "message_created")).filter(isReply).length, { timeout: 10_000 }).toBe(1);
    const outgoing = await waitForPayloads(webhookPath!, 1, "message_created");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const created = (await payloads(webhookPath!, "message_created")).map((item) => item.body.message);
    expect(created.filter((message) => message.message_type === "outgoing")).toHaveLength(1);
    expect(created.some((message) => message.private)).toBe(false);
    expect(outgoing.find((item) => item.body.message.message_type === "outgoing")!.body.message.content).toBe("On it!");

    const integratorView = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages`, { token });
    expect(integratorView.body.data.map((m: { seq: number }) => m.seq)).toEqual([1, 2]);
    const pulled = await api("GET", `/v1/inboxes/${inbox.identifier}/events`, { token });
    expect(pulled.body.data.some((event: { message?: { private: boolean } }) => event.message?.private)).toBe(false);
    const agentView = await api("GET", `${conversationPath}/messages`, { token: account.adminToken });
    expect(agentView.body.data.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
  });

  it("takes delivery receipts for replies and tells the integrator with message_updated", async () => {
    const { account, inbox, token, webhookPath, conversationPath } = await setup({ webhook: true });
    const reply = await api("POST", `${conversationPath}/messages`, { token: account.adminToken, body: { content: "Shipped" } });
    const receipt = await api("POST", `/v1/inboxes/${inbox.identifier}/messages/${reply.body.id}/status`, {
      token,
      body: { status: "failed", reason: "user blocked the bot" },
    });
    expect(receipt.status).toBe(200);
    expect(receipt.body).toMatchObject({ status: "failed", status_reason: "user blocked the bot" });
    const [updated] = await waitForPayloads(webhookPath!, 1, "message_updated");
    expect(updated!.body).toMatchObject({
      message: { id: reply.body.id, status: "failed" },
      changed_attributes: [{ status: { previous_value: "sent", current_value: "failed" } }],
    });
  });

  it("applies the same Idempotency-Key rules to replies", async () => {
    const { account, conversationPath } = await setup();
    const send = () =>
      api("POST", `${conversationPath}/messages`, { token: account.adminToken, body: { content: "once" }, headers: { "idempotency-key": "reply-1" } });
    const responses = await Promise.all([send(), send(), send()]);
    expect(new Set(responses.map((res) => res.body.id)).size).toBe(1);
    const history = await api("GET", `${conversationPath}/messages`, { token: account.adminToken });
    expect(history.body.data.filter((m: { content: string }) => m.content === "once")).toHaveLength(1);
  });
});

describe("assignment, labels and status", () => {
  it("assigns to inbox members with an activity line and a conversation_updated event", async () => {
    const { account, agent, conversationPath, conversationId } = await setup();
    const assigned = await api("POST", `${conversationPath}/assignment`, { token: account.adminToken, body: { assignee_id: agent.id } });
    expect(assigned.status).toBe(200);
    expect(assigned.body.assignee_id).toBe(agent.id);
    const history = await api("GET", `${conversationPath}/messages`, { token: account.adminToken });
    expect(history.body.data.at(-1)).toMatchObject({ message_type: "activity", content: "Assigned to Ana by Admin" });
    const event = await allShards.prepare("SELECT data FROM events WHERE conversation_id = ? AND type = 'conversation_updated'")
      .bind(conversationId)
      .first<{ data: string }>();
    expect(JSON.parse(event!.data).changed_attributes).toEqual([{ assignee_id: { previous_value: null, current_value: agent.id } }]);

    const outsider = await createTestUser(account, "agent", "Out");
    const refused = await api("POST", `${conversationPath}/assignment`, { token: account.adminToken, body: { assignee_id: outsider.id } });
    expectProblem(refused, 422, "validation_failed");
    expect(refused.body.errors[0].pointer).toBe("/assignee_id");
    const stranger = await createTestAccount();
    expectProblem(await api("POST", `${conversationPath}/assignment`, { token: account.adminToken, body: { assignee_id: stranger.adminId } }), 422, "validation_failed");
    const unassigned = await api("POST", `${conversationPath}/assignment`, { token: account.adminToken, body: { assignee_id: null } });
    expect(unassigned.body.assignee_id).toBeNull();
  });

  it("replaces labels, creating account labels on first use, and refuses malformed ones", async () => {
    const { account, conversationPath } = await setup();
    const set = await api("POST", `${conversationPath}/labels`, { token: account.adminToken, body: { labels: ["vip", "refund"] } });
    expect(set.body.labels).toEqual(["refund", "vip"]);
    const replaced = await api("POST", `${conversationPath}/labels`, { token: account.adminToken, body: { labels: ["refund"] } });
    expect(replaced.body.labels).toEqual(["refund"]);
    const labels = await api("GET", `/v1/accounts/${account.accountId}/labels`, { token: account.adminToken });
    expect(labels.body.data.map((label: { name: string }) => label.name)).toEqual(["refund", "vip"]);
    const bad = await api("POST", `${conversationPath}/labels`, { token: account.adminToken, body: { labels: ["has space"] } });
    expectProblem(bad, 422, "validation_failed");
    expect(bad.body.errors[0].pointer).toBe("/labels/0");
  });

  it("resolves with an activity line; the contact writing again reopens it", async () => {
    const { account, inbox, token, conversationPath, conversationId } = await setup({ lockToSingleConversation: false });
    const resolved = await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "resolved" } });
    expect(resolved.body.status).toBe("resolved");
    const reply = await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages`, { token, body: { content: "again" } });
    expect(reply.status).toBe(201);
    const detail = await api("GET", conversationPath, { token: account.adminToken });
    expect(detail.body).toMatchObject({ status: "open", contact: { name: "Maria" }, last_message: { content: "again" } });
    const types = await allShards.prepare("SELECT type FROM events WHERE conversation_id = ? ORDER BY sequence").bind(conversationId).all<{ type: string }>();
    expect(types.results.map((row) => row.type)).toEqual([
      "conversation_created",
      "message_created",
      "conversation_status_changed",
      "message_created",
      "conversation_status_changed",
      "message_created",
    ]);
  });

  it("with lock_to_single_conversation, a message after resolution opens a new conversation", async () => {
    const { account, inbox, token, conversationPath, conversationId } = await setup({ lockToSingleConversation: true });
    await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "resolved" } });
    const next = await sendMessage(token, inbox, { contact: { source_id: "c-1" }, content: "new issue" });
    expect(next.conversation.id).not.toBe(conversationId);
    // Reopening the old one now would give the contact two unresolved conversations.
    const reopen = await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "open" } });
    expectProblem(reopen, 409, "invalid_state");
  });

  it("snoozes until a time and reopens by itself then", async () => {
    const { account, conversationPath } = await setup();
    const until = new Date(Date.now() + 1500).toISOString();
    const snoozed = await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "snoozed", snoozed_until: until } });
    expect(snoozed.body).toMatchObject({ status: "snoozed", snoozed_until: until });
    await expect
      .poll(async () => (await api("GET", conversationPath, { token: account.adminToken })).body.status, { timeout: 10_000, interval: 200 })
      .toBe("open");
    const history = await api("GET", `${conversationPath}/messages`, { token: account.adminToken });
    expect(history.body.data.at(-1).content).toBe("Conversation reopened: snooze ended");
  });

  it("refuses unknown statuses and snooze times in the past or missing", async () => {
    const { account, conversationPath } = await setup();
    expectProblem(await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "closed" } }), 422, "validation_failed");
    const past = await api("POST", `${conversationPath}/status`, {
      token: account.adminToken,
      body: { status: "snoozed", snoozed_until: new Date(Date.now() - 60_000).toISOString() },
    });
    expectProblem(past, 422, "validation_failed");
    expect(past.body.errors[0].pointer).toBe("/snoozed_until");
    expectProblem(await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "snoozed" } }), 422, "validation_failed");
  });

  it("ends concurrent assignments and status changes in a consistent state with gap-free sequences", async () => {
    const { account, agent, conversationPath, conversationId } = await setup();
    const other = await createTestUser(account, "agent", "Bia");
    const inboxId = (await api("GET", conversationPath, { token: account.adminToken })).body.inbox_id;
    await api("PUT", `/v1/accounts/${account.accountId}/inboxes/${inboxId}/members`, { token: account.adminToken, body: { user_ids: [agent.id, other.id] } });
    const calls = [];
    for (let i = 0; i < 10; i++) {
      calls.push(api("POST", `${conversationPath}/assignment`, { token: account.adminToken, body: { assignee_id: i % 2 ? agent.id : other.id } }));
      calls.push(api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: i % 2 ? "pending" : "open" } }));
    }
    const responses = await Promise.all(calls);
    expect(responses.every((res) => res.status === 200)).toBe(true);
    const seq = await sequences(conversationId);
    expect(seq).toEqual(Array.from({ length: seq.length }, (_, i) => i + 1));
    const history = await api("GET", `${conversationPath}/messages?limit=100`, { token: account.adminToken });
    const seqs = history.body.data.map((m: { seq: number }) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const detail = await api("GET", conversationPath, { token: account.adminToken });
    const row = await allShards.prepare("SELECT status, assignee_id FROM conversations WHERE id = ?").bind(conversationId).first();
    expect({ status: detail.body.status, assignee_id: detail.body.assignee_id }).toEqual(row);
  });
});

describe("who sees what", () => {
  it("lets admins and member agents see a conversation; a non-member agent and other accounts get 404", async () => {
    const { account, agent, conversationPath } = await setup();
    const outsider = await createTestUser(account, "agent", "Out");
    const stranger = await createTestAccount();
    expect((await api("GET", conversationPath, { token: account.adminToken })).status).toBe(200);
    expect((await api("GET", conversationPath, { token: agent.token })).status).toBe(200);
    expect((await api("POST", `${conversationPath}/messages`, { token: agent.token, body: { content: "hi" } })).status).toBe(201);
    expectProblem(await api("GET", conversationPath, { token: outsider.token }), 404, "conversation_not_found");
    expectProblem(await api("POST", `${conversationPath}/messages`, { token: outsider.token, body: { content: "hi" } }), 404, "conversation_not_found");
    expectProblem(await api("GET", conversationPath.replace(account.accountId, stranger.accountId), { token: stranger.adminToken }), 404, "conversation_not_found");
    expectProblem(await api("GET", conversationPath, { token: stranger.adminToken }), 404, "account_not_found");
    const list = await api("GET", `/v1/accounts/${account.accountId}/conversations`, { token: outsider.token });
    expect(list.body.data).toEqual([]);
  });

  it("filters the list by status, inbox, assignee and label, with counts per status", async () => {
    const { account, agent, inbox, token, conversationPath, conversationId } = await setup({ lockToSingleConversation: false });
    const second = await sendMessage(token, inbox, { contact: { source_id: "c-2", name: "Carla Dias", email: "carla@example.com" }, content: "other" });
    await api("POST", `${conversationPath}/assignment`, { token: account.adminToken, body: { assignee_id: agent.id } });
    await api("POST", `${conversationPath}/labels`, { token: account.adminToken, body: { labels: ["vip"] } });
    await api("POST", `/v1/accounts/${account.accountId}/conversations/${second.conversation.id}/status`, { token: account.adminToken, body: { status: "resolved" } });
    const list = async (query: string, token_ = account.adminToken) =>
      (await api("GET", `/v1/accounts/${account.accountId}/conversations${query}`, { token: token_ })).body;
    const all = await list("");
    expect(all.data.map((c: { id: string }) => c.id)).toEqual([second.conversation.id, conversationId]);
    expect(all.meta.counts).toEqual({ open: 1, pending: 0, snoozed: 0, resolved: 1, all: 2 });
    // Each item says who it is with, so a list needs no request per contact.
    expect(all.data[0].contact).toEqual({ id: second.contact.id, source_id: "c-2", name: "Carla Dias", email: "carla@example.com", phone: null });
    expect((await list("?status=resolved")).data.map((c: { id: string }) => c.id)).toEqual([second.conversation.id]);
    expect((await list(`?inbox_id=${inbox.id}`)).data).toHaveLength(2);
    expect((await list("?assignee=unassigned")).data.map((c: { id: string }) => c.id)).toEqual([second.conversation.id]);
    expect((await list("?assignee=me", agent.token)).data.map((c: { id: string }) => c.id)).toEqual([conversationId]);
    expect((await list("?label=vip")).data.map((c: { id: string }) => c.id)).toEqual([conversationId]);
    const paged = await list("?limit=1");
    expect(paged.data).toHaveLength(1);
    expect((await list(`?limit=1&cursor=${paged.next_cursor}`)).data.map((c: { id: string }) => c.id)).toEqual([conversationId]);
  });

  it("keeps a deleted inbox's conversations readable but refuses changes with 409 inbox_deleted", async () => {
    const { account, inbox, conversationPath } = await setup();
    expect((await api("DELETE", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}`, { token: account.adminToken })).status).toBe(204);
    const detail = await api("GET", conversationPath, { token: account.adminToken });
    expect(detail.status).toBe(200);
    expect(detail.body.inbox_deleted).toBe(true);
    expectProblem(await api("POST", `${conversationPath}/messages`, { token: account.adminToken, body: { content: "x" } }), 409, "inbox_deleted");
    expectProblem(await api("POST", `${conversationPath}/status`, { token: account.adminToken, body: { status: "resolved" } }), 409, "inbox_deleted");
  });
});
