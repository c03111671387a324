import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, unique, type TestAccount } from "../support/api";
import { createInboxToken, createTestInbox, sendMessage, setMembers, type TestInbox } from "../support/fixtures";
import { agentStream, contactStream, eventsOf, isClient, openSocket } from "../support/realtime";
import { markQuiet } from "../../src/realtime/forward";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards, shardDb } from "../support/shards";

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

    for (const [path, code] of [
      [url, "invalid_ticket"],
      [`/v1/accounts/${account.accountId}/realtime?ticket=rtk_unknown`, "invalid_ticket"],
      [`/v1/accounts/${account.accountId}/realtime`, "unauthorized"],
    ]) {
      const refused = await openSocket(path!);
      expect(isClient(refused)).toBe(false);
      if (!isClient(refused)) {
        expect(refused.status).toBe(401);
        expect(refused.headers.get("content-type")).toBe("application/problem+json");
        expect(refused.body.code).toBe(code);
      }
    }

    const expired = `rtk_${unique("expired")}`;
    await (await shardDb(account.accountId)).prepare(
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

describe("nudges skipped while nobody listens (realtime/forward.ts)", () => {
  it("an event committed while the isolate still takes the account for quiet reaches a socket that just connected", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const contact = unique("c");
    // Nobody listens: this commit's nudge is answered "quiet", so the next ones are skipped for a while.
    await sendMessage(account.adminToken, inbox, { contact: { source_id: contact }, content: unique("before") });
    const stream = await agentStream(account.accountId, account.adminToken);
    // What another isolate (which did not open the socket) still believes: the account is quiet.
    markQuiet(account.accountId, Date.now());
    const content = unique("in-the-window");
    await sendMessage(account.adminToken, inbox, { contact: { source_id: contact }, content });
    // Delivered by the object's pump after the quiet window (≈ 1.25 s), not by the skipped nudge.
    expect((await stream.next(messageEvent(content))).message.content).toBe(content);
    stream.close();
  });
});

describe("visibility: the same rules as the API", () => {
  it("admin, member, non-member, another account, and contacts each see exactly their share", async () => {
    const account = await createTestAccount();
    const inbox1 = await createTestInbox(account);
    const inbox2 = await createTestInbox(account);
    const member = await createTestUser(account, "agent", "Member");
    const outsider = await createTestUser(account, "agent", "Outsider");
    await setMembers(account, inbox1, [member.id]);
    await setMembers(account, inbox2, [outsider.id]);
    const other = await createTestAccount();
    const otherInbox = await createTestInbox(other);

    const contactA = await upsertContact(account.adminToken, inbox1);
    const contactB = await upsertContact(account.adminToken, inbox1);

    const admin = await agentStream(account.accountId, account.adminToken);
    const memberStream = await agentStream(account.accountId, member.token);
    const outsiderStream = await agentStream(account.accountId, outsider.token);
    const otherAdmin = await agentStream(other.accountId, other.adminToken);
    const streamA = await contactStream(inbox1.identifier, contactA.sourceId, contactA.pubsubToken);
    const streamB = await contactStream(inbox1.identifier, contactB.sourceId, contactB.pubsubToken);

    const fromA = unique("from-a");
    const sentA = await sendMessage(account.adminToken, inbox1, { contact: { source_id: contactA.sourceId }, content: fromA });
    const note = unique("note");
    await reply(account, account.adminToken, sentA.conversation.id, { content: note, private: true });
    const answer = unique("answer");
    await reply(account, member.token, sentA.conversation.id, { content: answer });
    // Markers: later events each stream does see, so "not received" means "skipped", not "not yet".
    const fromB = unique("from-b");
    await sendMessage(account.adminToken, inbox1, { contact: { source_id: contactB.sourceId }, content: fromB });
    const inInbox2 = unique("inbox2");
    await sendMessage(account.adminToken, inbox2, { contact: { source_id: unique("c") }, content: inInbox2 });
    const elsewhere = unique("other-account");
    await sendMessage(other.adminToken, otherInbox, { contact: { source_id: unique("c") }, content: elsewhere });

    const noteEvent = (frame: Record<string, any>) => frame.message?.content === note;
    // Administrator: everything of the account, the private note included.
    for (const content of [fromA, note, answer, fromB, inInbox2]) await admin.next((frame) => frame.message?.content === content);
    // Member of inbox 1: inbox 1 with the note, not inbox 2.
    for (const content of [fromA, note, answer, fromB]) await memberStream.next((frame) => frame.message?.content === content);
    // Outsider (inbox 2 only): nothing of inbox 1.
    await outsiderStream.next(messageEvent(inInbox2));
    expect(outsiderStream.frames.filter((frame) => frame.inbox?.id === inbox1.id)).toEqual([]);
    // Another account: only its own.
    await otherAdmin.next(messageEvent(elsewhere));
    expect(otherAdmin.frames.filter((frame) => frame.account && frame.account.id !== other.accountId)).toEqual([]);
    // Contact A: its message and the reply, never the note, never contact B's conversation.
    await streamA.next(messageEvent(fromA));
    await streamA.next(messageEvent(answer));
    // Contact B's stream receives B's message only after A's events committed: by then A's were skipped.
    await streamB.next(messageEvent(fromB));
    expect(streamA.frames.filter(noteEvent)).toEqual([]);
    expect(streamA.frames.filter((frame) => frame.message?.private === true || frame.message?.message_type === "activity")).toEqual([]);
    expect(streamB.frames.filter((frame) => frame.conversation_id === sentA.conversation.id)).toEqual([]);
    expect(streamB.frames.filter(noteEvent)).toEqual([]);
    // Contact A never sees contact B (B's message committed before the marker below reaches A).
    const later = unique("later");
    await reply(account, account.adminToken, sentA.conversation.id, { content: later });
    await streamA.next(messageEvent(later));
    expect(streamA.frames.filter((frame) => frame.message?.content === fromB)).toEqual([]);
    for (const stream of [admin, memberStream, outsiderStream, otherAdmin, streamA, streamB]) stream.close();
  });

  it("a pubsub_token opens only its own contact's stream in its own inbox", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const otherInbox = await createTestInbox(account);
    const a = await upsertContact(account.adminToken, inbox);
    const b = await upsertContact(account.adminToken, inbox);
    // The token is stable across upserts.
    expect((await upsertContact(account.adminToken, inbox, a.sourceId)).pubsubToken).toBe(a.pubsubToken);
    for (const path of [
      `/v1/inboxes/${inbox.identifier}/contacts/${b.sourceId}/realtime?pubsub_token=${a.pubsubToken}`,
      `/v1/inboxes/${otherInbox.identifier}/contacts/${a.sourceId}/realtime?pubsub_token=${a.pubsubToken}`,
      `/v1/inboxes/${inbox.identifier}/contacts/${a.sourceId}/realtime?pubsub_token=pst_wrong`,
    ]) {
      const refused = await openSocket(path);
      expect(isClient(refused) ? 101 : { status: refused.status, code: refused.body.code }).toEqual({ status: 401, code: "invalid_pubsub_token" });
    }
    const bare = await openSocket(`/v1/inboxes/${inbox.identifier}/contacts/${a.sourceId}/realtime`);
    expect(isClient(bare) ? 101 : { status: bare.status, code: bare.body.code }).toEqual({ status: 401, code: "unauthorized" });
  });
});

describe("server-side clients", () => {
  it("may open either stream with a bearer token instead of a ticket or pubsub_token, within the same rules", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const otherInbox = await createTestInbox(account);
    const contact = await upsertContact(account.adminToken, inbox);
    const inboxToken = await createInboxToken(account, inbox);
    const otherToken = await createInboxToken(account, otherInbox);
    const agentSide = await openSocket(`/v1/accounts/${account.accountId}/realtime`, { token: account.adminToken });
    const contactSide = await openSocket(`/v1/inboxes/${inbox.identifier}/contacts/${contact.sourceId}/realtime`, { token: inboxToken });
    if (!isClient(agentSide) || !isClient(contactSide)) throw new Error("bearer upgrade refused");
    await agentSide.next((frame) => frame.event === "ready");
    await contactSide.next((frame) => frame.event === "ready");
    const content = unique("server-side");
    await sendMessage(inboxToken, inbox, { contact: { source_id: contact.sourceId }, content });
    await agentSide.next(messageEvent(content));
    await contactSide.next(messageEvent(content));
    // Another inbox's token: the same 404 as an inbox that does not exist; an inbox token on the agent stream: 403.
    const foreign = await openSocket(`/v1/inboxes/${inbox.identifier}/contacts/${contact.sourceId}/realtime`, { token: otherToken });
    expect(isClient(foreign) ? 101 : foreign.status).toBe(404);
    const wrongKind = await openSocket(`/v1/accounts/${account.accountId}/realtime`, { token: inboxToken });
    expect(isClient(wrongKind) ? 101 : wrongKind.status).toBe(403);
    agentSide.close();
    contactSide.close();
  });
});

describe("order and resume", () => {
  it("concurrent writes to one conversation arrive in sequence order, none missing", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const sent = await sendMessage(account.adminToken, inbox, { contact: { source_id: unique("c") }, content: "start" });
    const stream = await agentStream(account.accountId, account.adminToken);
    const contents = Array.from({ length: 20 }, (_, i) => `${unique("burst")}-${i}`);
    await Promise.all(contents.map((content) => reply(account, account.adminToken, sent.conversation.id, { content })));
    for (const content of contents) await stream.next(messageEvent(content));
    const sequences = eventsOf(stream, sent.conversation.id).map((frame) => frame.sequence as number);
    expect(sequences.length).toBe(20);
    for (let i = 1; i < sequences.length; i++) expect(sequences[i]).toBe(sequences[i - 1]! + 1);
    const positions = stream.frames.filter((frame) => typeof frame.id === "string").map((frame) => Number(frame.position));
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
    stream.close();
  });

  it("a client that reconnects with its last position gets what it missed, in order, then the live events", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const first = await agentStream(account.accountId, account.adminToken);
    const seen = unique("seen");
    const sent = await sendMessage(account.adminToken, inbox, { contact: { source_id: unique("c") }, content: seen });
    const last = await first.next(messageEvent(seen));
    first.close();
    await first.closed;

    const missed = [unique("missed-1"), unique("missed-2"), unique("missed-3")];
    for (const content of missed) await reply(account, account.adminToken, sent.conversation.id, { content });

    const resumed = await agentStream(account.accountId, account.adminToken, { after: last.position });
    const replayed = resumed.frames.filter((frame) => typeof frame.id === "string");
    expect(replayed.map((frame) => frame.message?.content)).toEqual(missed);
    expect(replayed.every((frame) => Number(frame.position) > Number(last.position))).toBe(true);
    const ready = resumed.frames.find((frame) => frame.event === "ready")!;
    expect(resumed.frames.indexOf(ready)).toBe(resumed.frames.length - 1);
    expect(ready.position).toBe(replayed[replayed.length - 1]!.position);

    const live = unique("live");
    await reply(account, account.adminToken, sent.conversation.id, { content: live });
    await resumed.next(messageEvent(live));
    expect(resumed.frames.filter((frame) => frame.message?.content === missed[0])).toHaveLength(1);
    resumed.close();
  });

  it("a position the events store no longer has answers resync_required (never a silent skip)", async () => {
    const account = await createTestAccount();
    const other = await createTestAccount();
    const otherInbox = await createTestInbox(other);
    const foreign = await agentStream(other.accountId, other.adminToken);
    const content = unique("foreign");
    await sendMessage(other.adminToken, otherInbox, { contact: { source_id: unique("c") }, content });
    const foreignPosition = (await foreign.next(messageEvent(content))).position as string;
    foreign.close();
    // Pruned (never existed) and another account's position: both mean "reload, then continue from here".
    for (const after of ["999999999999", foreignPosition]) {
      const stream = await agentStream(account.accountId, account.adminToken, { after });
      const resync = await stream.next((frame) => frame.event === "resync_required");
      expect(resync.position).toMatch(/^\d+$/);
      expect(stream.frames.filter((frame) => typeof frame.id === "string")).toEqual([]);
      stream.close();
    }
  });
});

describe("typing and last seen", () => {
  it("an agent typing reaches the agents' streams, the contact's stream and the webhook; a contact typing only the agents, live", async () => {
    const account = await createTestAccount();
    const webhookPath = await receiverPath();
    const inbox = await createTestInbox(account, { webhookPath });
    const contact = await upsertContact(account.adminToken, inbox);
    const sent = await sendMessage(account.adminToken, inbox, { contact: { source_id: contact.sourceId }, content: "hi" });
    const conversationId = sent.conversation.id;
    const admin = await agentStream(account.accountId, account.adminToken);
    const stream = await contactStream(inbox.identifier, contact.sourceId, contact.pubsubToken);

    const on = await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/typing`, {
      token: account.adminToken,
      body: { status: "on" },
    });
    expect(on.status, on.text).toBe(200);
    const typing = (frame: Record<string, any>) => frame.event === "conversation_typing_on" && frame.conversation_id === conversationId;
    expect(await admin.next(typing)).toMatchObject({ sequence: null, user: { id: account.adminId, type: "user" }, conversation: { id: conversationId } });
    await stream.next(typing);
    // Stored like every event: the webhook and the pull API carry it.
    const stored = await allShards.prepare("SELECT count(*) AS n FROM events WHERE conversation_id = ? AND type = 'conversation_typing_on'")
      .bind(conversationId)
      .first<{ n: number }>();
    expect(stored!.n).toBe(1);
    const [hook] = await waitForPayloads(webhookPath, 1, "conversation_typing_on");
    expect(hook!.body).toMatchObject({ event: "conversation_typing_on", conversation_id: conversationId, sequence: null, user: { id: account.adminId } });
    const off = await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/typing`, {
      token: account.adminToken,
      body: { status: "off" },
    });
    expect(off.status).toBe(200);
    const typingOff = await admin.next((frame) => frame.event === "conversation_typing_off");
    await stream.next((frame) => frame.event === "conversation_typing_off");
    // A resume does not replay typing: it was only news while it happened.
    const resumed = await agentStream(account.accountId, account.adminToken, { after: String(Number(typingOff.position) - 3) });
    expect(resumed.frames.filter((frame) => String(frame.event).startsWith("conversation_typing"))).toEqual([]);
    resumed.close();

    const inboxToken = await createInboxToken(account, inbox);
    const contactOn = await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/typing`, {
      token: inboxToken,
      body: { status: "on" },
    });
    expect(contactOn.status, contactOn.text).toBe(200);
    const fromContact = await admin.next((frame) => typing(frame) && frame.origin?.type === "token");
    expect(fromContact.position).toBeNull();
    expect(fromContact.contact).toMatchObject({ id: contact.contactId });
    // Not stored, and not on the contact's own stream (a later reply proves it was skipped).
    const marker = unique("marker");
    await reply(account, account.adminToken, conversationId, { content: marker });
    await stream.next(messageEvent(marker));
    expect(stream.frames.filter((frame) => typing(frame) && frame.origin?.type === "token")).toEqual([]);
    expect(
      (await allShards.prepare("SELECT count(*) AS n FROM events WHERE conversation_id = ? AND type = 'conversation_typing_on'").bind(conversationId).first<{ n: number }>())!.n,
    ).toBe(1);

    const bad = await api("POST", `/v1/accounts/${account.accountId}/conversations/${conversationId}/typing`, {
      token: account.adminToken,
      body: { status: "maybe" },
    });
    expectProblem(bad, 422, "validation_failed");
    admin.close();
    stream.close();
  });

  it("the contact's last_seen marks earlier replies read (message_updated on the streams)", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const contact = await upsertContact(account.adminToken, inbox);
    const sent = await sendMessage(account.adminToken, inbox, { contact: { source_id: contact.sourceId }, content: "hi" });
    const conversationId = sent.conversation.id;
    const first = await reply(account, account.adminToken, conversationId, { content: unique("r1") });
    const second = await reply(account, account.adminToken, conversationId, { content: unique("r2") });
    await reply(account, account.adminToken, conversationId, { content: unique("note"), private: true });
    const stream = await contactStream(inbox.identifier, contact.sourceId, contact.pubsubToken);
    const admin = await agentStream(account.accountId, account.adminToken);

    const inboxToken = await createInboxToken(account, inbox);
    const seen = await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/last_seen`, { token: inboxToken });
    expect(seen.status, seen.text).toBe(200);
    expect(seen.body.read_message_ids).toEqual([first.id, second.id]);
    for (const client of [stream, admin]) {
      for (const id of [first.id, second.id]) {
        const updated = await client.next((frame) => frame.event === "message_updated" && frame.message?.id === id);
        expect(updated.message.status).toBe("read");
        expect(updated.changed_attributes).toEqual([{ status: { previous_value: "sent", current_value: "read" } }]);
      }
    }
    // Nothing left to mark.
    const again = await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/last_seen`, { token: inboxToken });
    expect(again.body.read_message_ids).toEqual([]);
    stream.close();
    admin.close();
  });

  it("each agent's last seen gives the conversation list its unread count", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const agent = await createTestUser(account);
    await setMembers(account, inbox, [agent.id]);
    const sourceId = unique("c");
    const sent = await sendMessage(account.adminToken, inbox, { contact: { source_id: sourceId }, content: "one" });
    await sendMessage(account.adminToken, inbox, { contact: { source_id: sourceId }, content: "two" });
    const unread = async (token: string) => {
      const list = await api("GET", `/v1/accounts/${account.accountId}/conversations?inbox_id=${inbox.id}`, { token });
      expect(list.status, list.text).toBe(200);
      return list.body.data.find((conversation: { id: string }) => conversation.id === sent.conversation.id).unread_count;
    };
    expect(await unread(agent.token)).toBe(2);
    const seen = await api("POST", `/v1/accounts/${account.accountId}/conversations/${sent.conversation.id}/last_seen`, { token: agent.token });
    expect(seen.status, seen.text).toBe(200);
    expect(seen.body.unread_count).toBe(0);
    expect(await unread(agent.token)).toBe(0);
    // Per agent: the administrator has not looked yet.
    expect(await unread(account.adminToken)).toBe(2);
    // Replies do not count; the contact's next message does.
    await reply(account, agent.token, sent.conversation.id, { content: "answer" });
    await sendMessage(account.adminToken, inbox, { contact: { source_id: sourceId }, content: "three" });
    expect(await unread(agent.token)).toBe(1);
    // Another agent's conversation is a 404, as everywhere.
    const outsider = await createTestUser(account);
    expectProblem(
      await api("POST", `/v1/accounts/${account.accountId}/conversations/${sent.conversation.id}/last_seen`, { token: outsider.token }),
      404,
      "conversation_not_found",
    );
  });
});

describe("losing access closes the sockets within seconds", () => {
  it("revoking the token closes the streams it opened (4001); the user's other token keeps its own", async () => {
    const account = await createTestAccount();
    const agent = await createTestUser(account);
    const second = await api("POST", `/v1/accounts/${account.accountId}/users/${agent.id}/tokens`, { token: account.adminToken });
    const viaFirst = await agentStream(account.accountId, agent.token);
    const viaSecond = await agentStream(account.accountId, second.body.token);
    const firstId = (await allShards.prepare("SELECT id FROM api_tokens WHERE user_id = ? AND id <> ?").bind(agent.id, second.body.id).first<{ id: string }>())!.id;
    const started = Date.now();
    const revoked = await api("DELETE", `/v1/accounts/${account.accountId}/users/${agent.id}/tokens/${firstId}`, { token: account.adminToken });
    expect(revoked.status, revoked.text).toBe(204);
    expect((await viaFirst.closed).code).toBe(4001);
    expect(Date.now() - started).toBeLessThan(3000);
    // The other token's stream is still open: a ping is answered.
    viaSecond.ws.send("ping");
    await viaSecond.next((frame) => frame.event === "pong");
    viaSecond.close();
  });

  it("removing a member from an inbox closes their stream (4003); a deleted user's closes (4001)", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const agent = await createTestUser(account);
    const bystander = await createTestUser(account);
    await setMembers(account, inbox, [agent.id, bystander.id]);
    const stream = await agentStream(account.accountId, agent.token);
    const bystanderStream = await agentStream(account.accountId, bystander.token);
    await setMembers(account, inbox, [bystander.id]);
    expect((await stream.closed).code).toBe(4003);
    // Reconnecting gives the new view: inbox events no longer arrive.
    const again = await agentStream(account.accountId, agent.token);
    const content = unique("after-removal");
    await sendMessage(account.adminToken, inbox, { contact: { source_id: unique("c") }, content });
    await bystanderStream.next(messageEvent(content));
    expect(again.frames.filter((frame) => frame.inbox?.id === inbox.id)).toEqual([]);

    const deleted = await api("DELETE", `/v1/accounts/${account.accountId}/users/${agent.id}`, { token: account.adminToken });
    expect(deleted.status, deleted.text).toBe(204);
    expect((await again.closed).code).toBe(4001);
    bystanderStream.close();
  });

  it("rotating a pubsub_token closes the contact's streams (4001); the old token no longer opens one", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const contact = await upsertContact(account.adminToken, inbox);
    const stream = await contactStream(inbox.identifier, contact.sourceId, contact.pubsubToken);
    const inboxToken = await createInboxToken(account, inbox);
    const rotated = await api("POST", `/v1/inboxes/${inbox.identifier}/contacts/${contact.sourceId}/pubsub_token/rotate`, { token: inboxToken });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.pubsub_token).not.toBe(contact.pubsubToken);
    expect((await stream.closed).code).toBe(4001);
    const old = await openSocket(`/v1/inboxes/${inbox.identifier}/contacts/${contact.sourceId}/realtime?pubsub_token=${contact.pubsubToken}`);
    expect(isClient(old) ? 101 : old.status).toBe(401);
    const fresh = await contactStream(inbox.identifier, contact.sourceId, rotated.body.pubsub_token);
    // The upsert now returns the new one.
    expect((await upsertContact(account.adminToken, inbox, contact.sourceId)).pubsubToken).toBe(rotated.body.pubsub_token);
    fresh.close();
  });
});

describe("erasure", () => {
  it("erasing a contact closes their open streams (4001), in the inbox erased and no other", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const other = await createTestInbox(account);
    const erased = await upsertContact(account.adminToken, inbox);
    const elsewhere = await upsertContact(account.adminToken, other);
    const stream = await contactStream(inbox.identifier, erased.sourceId, erased.pubsubToken);
    const bystander = await contactStream(other.identifier, elsewhere.sourceId, elsewhere.pubsubToken);
    const deleted = await api("DELETE", `/v1/inboxes/${inbox.identifier}/contacts/${erased.sourceId}`, { token: account.adminToken });
    expect(deleted.status, deleted.text).toBeLessThan(300);
    expect((await stream.closed).code).toBe(4001);
    const again = await openSocket(`/v1/inboxes/${inbox.identifier}/contacts/${erased.sourceId}/realtime?pubsub_token=${erased.pubsubToken}`);
    expect(isClient(again) ? 101 : again.status).not.toBe(101);
    // The other inbox's contact stream is untouched: it still gets its own events.
    const content = unique("still-live");
    await sendMessage(account.adminToken, other, { contact: { source_id: elsewhere.sourceId }, content });
    await bystander.next(messageEvent(content));
    bystander.close();
  });
});

describe("hibernation done right", () => {
  it("sockets carry tags and a serialized attachment; ping is answered by the runtime", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const agent = await createTestUser(account);
    await setMembers(account, inbox, [agent.id]);
    const stream = await agentStream(account.accountId, agent.token);
    stream.ws.send("ping");
    await stream.next((frame) => frame.event === "pong");
    const stub = env.REALTIME.get(env.REALTIME.idFromName(account.accountId));
    const seen = await runInDurableObject(stub, (_instance, state) =>
      state.getWebSockets(`user:${agent.id}`).map((ws) => ({ tags: state.getTags(ws), attachment: ws.deserializeAttachment() })),
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]!.tags).toEqual(expect.arrayContaining(["agent", `user:${agent.id}`, `inbox:${inbox.id}`]));
    expect(seen[0]!.attachment).toMatchObject({ subscriber: { kind: "agent", userId: agent.id, role: "agent", inboxIds: [inbox.id] } });
    // The runtime recorded the ping it answered: the idle sweep reads it without waking the object per ping.
    const stamped = await runInDurableObject(stub, (_instance, state) =>
      state.getWebSockets(`user:${agent.id}`).map((ws) => state.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? null),
    );
    expect(stamped[0]).not.toBeNull();
    stream.close();
  });

  it("a client that does not acknowledge is dropped with 4008 before it can hold more than the budget, and resumes where it was", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const sent = await sendMessage(account.adminToken, inbox, { contact: { source_id: unique("c") }, content: "start" });
    const slow = await agentStream(account.accountId, account.adminToken, { ack: false });
    const big = "x".repeat(8000);
    const contents = Array.from({ length: 8 }, (_, i) => `${unique("big")}-${i}-${big}`);
    for (const content of contents) await reply(account, account.adminToken, sent.conversation.id, { content });
    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    const received = slow.frames.filter((frame) => typeof frame.id === "string");
    // REALTIME_UNACKED_BYTES is 32 KiB in tests: about four of these frames.
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(contents.length);
    const resumed = await agentStream(account.accountId, account.adminToken, { after: received[received.length - 1]!.position });
    const rest = resumed.frames.filter((frame) => typeof frame.id === "string").map((frame) => frame.message.content);
    expect([...received.map((frame) => frame.message.content), ...rest]).toEqual(contents);
    resumed.close();
  });

  it("a socket that stopped pinging is closed by the object's sweep (4000); one that pings stays; the tail survives in storage", async () => {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account);
    const silent = await agentStream(account.accountId, account.adminToken);
    const pinging = await agentStream(account.accountId, account.adminToken);
    pinging.ws.send("ping");
    await pinging.next((frame) => frame.event === "pong");
    const content = unique("tail");
    await sendMessage(account.adminToken, inbox, { contact: { source_id: unique("c") }, content });
    const last = await pinging.next(messageEvent(content));
    const stub = env.REALTIME.get(env.REALTIME.idFromName(account.accountId));
    // As if both had connected long ago: only the runtime's record of a ping keeps one alive.
    await runInDurableObject(stub, async (instance, state) => {
      for (const ws of state.getWebSockets()) {
        const attachment = ws.deserializeAttachment() as { connectedAt: number };
        ws.serializeAttachment({ ...attachment, connectedAt: Date.now() - 10 * 60_000 });
      }
      // A wake-up after hibernation continues from the stored tail, not from memory.
      expect(state.storage.kv.get("tail")).toBe(Number(last.position));
      await instance.alarm();
    });
    expect((await silent.closed).code).toBe(4000);
    pinging.ws.send("ping");
    expect((await pinging.next((frame) => frame.event === "pong" && pinging.frames.filter((f) => f.event === "pong").length === 2)).event).toBe("pong");
    pinging.close();
  });

  it("many sockets of one account stay one object; closing them leaves none behind", async () => {
    const account = await createTestAccount();
    const streams = await Promise.all(Array.from({ length: 12 }, () => agentStream(account.accountId, account.adminToken)));
    const stub = env.REALTIME.get(env.REALTIME.idFromName(account.accountId));
    expect((await stub.stats()).agents).toBe(12);
    for (const stream of streams) stream.close();
    await Promise.all(streams.map((stream) => stream.closed));
    await expect.poll(async () => (await stub.stats()).sockets).toBe(0);
  });
});
