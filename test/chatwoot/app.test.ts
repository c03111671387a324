// Chatwoot's Application API subset: api_access_token, numeric ids and display_ids, payload/meta wrappers,
// JSON and form bodies alike, Chatwoot's `{ error }` bodies, tenant isolation, idempotency by source_id/echo_id.
import { beforeAll, describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, type TestAccount } from "../support/api";
import { createTestInbox, type TestInbox } from "../support/fixtures";
import { expectChatwootShape } from "./contract";

let account: TestAccount;
let inbox: TestInbox;
let accountNumber: number;
let inboxNumber: number;

/** A request on Chatwoot's surface with Chatwoot's token header (JSON body, or a form when `form` is set). */
function cw(method: string, path: string, token: string, body?: Record<string, unknown>, form = false) {
  if (!form || body === undefined) return api(method, path, { headers: { api_access_token: token }, body });
  const data = new FormData();
  for (const [key, value] of Object.entries(body)) data.append(key, String(value));
  return api(method, path, { headers: { api_access_token: token }, rawBody: data });
}

const base = () => `/api/v1/accounts/${accountNumber}`;

async function newConversation(content = "Hi") {
  const contact = await cw("POST", `${base()}/contacts`, account.adminToken, { inbox_id: inboxNumber, name: "Eva" });
  expect(contact.status, contact.text).toBe(200);
  const conversation = await cw("POST", `${base()}/conversations`, account.adminToken, {
    inbox_id: inboxNumber,
    source_id: contact.body.payload.contact_inbox.source_id,
    message: { content },
  });
  expect(conversation.status, conversation.text).toBe(200);
  return { contact: contact.body.payload.contact, conversation: conversation.body };
}

beforeAll(async () => {
  account = await createTestAccount();
  inbox = await createTestInbox(account, { lockToSingleConversation: false });
  const me = await cw("GET", "/api/v1/profile", account.adminToken);
  accountNumber = me.body.account_id;
  inboxNumber = (await cw("GET", `${base()}/inboxes`, account.adminToken)).body.payload.find((i: { inbox_identifier: string }) => i.inbox_identifier === inbox.identifier).id;
});

describe("Chatwoot Application API", () => {
  it("authenticates with api_access_token or a bearer token; anything else is Chatwoot's 401", async () => {
    expect((await api("GET", "/api/v1/profile", { token: account.adminToken })).status).toBe(200);
    const missing = await api("GET", "/api/v1/profile");
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ error: "Invalid Access Token" });
    expect((await cw("GET", "/api/v1/profile", "edgeinbox_not-a-token")).status).toBe(401);
    const profile = await cw("GET", "/api/v1/profile", account.adminToken);
    expectChatwootShape("user", profile.body);
    expect(profile.body.accounts[0].id).toBe(accountNumber);
  });

  it("another account's token gets 404 for this account, its conversations and contacts", async () => {
    const { contact, conversation } = await newConversation();
    const stranger = await createTestAccount();
    for (const path of [`${base()}/conversations`, `${base()}/conversations/${conversation.id}`, `${base()}/contacts/${contact.id}`, `${base()}/inboxes`]) {
      const res = await cw("GET", path, stranger.adminToken);
      expect(res.status, path).toBe(404);
      expect(typeof res.body.error).toBe("string");
    }
    // In its own account the same numbers name nothing of ours.
    const theirs = (await cw("GET", "/api/v1/profile", stranger.adminToken)).body.account_id;
    const res = await cw("GET", `/api/v1/accounts/${theirs}/conversations/${conversation.id}`, stranger.adminToken);
    expect(res.status).toBe(404);
    // An agent who is not a member of the inbox does not see its conversations.
    const agent = await createTestUser(account, "agent");
    expect((await cw("GET", `${base()}/conversations/${conversation.id}`, agent.token)).status).toBe(404);
  });

  it("lists conversations with meta and filters; shows one with display_id, contact and last message", async () => {
    const { conversation } = await newConversation("filter me");
    const labelled = await cw("POST", `${base()}/conversations/${conversation.id}/labels`, account.adminToken, { labels: ["vip", "billing"] });
    expect(labelled.body).toEqual({ payload: ["billing", "vip"] });
    const list = await api("GET", `${base()}/conversations?status=open&inbox_id=${inboxNumber}&labels[]=vip&assignee_type=unassigned`, {
      headers: { api_access_token: account.adminToken },
    });
    expect(list.status, list.text).toBe(200);
    expectChatwootShape("conversation_list", list.body);
    expect(list.body.data.payload.map((c: { id: number }) => c.id)).toEqual([conversation.id]);
    expect(list.body.data.meta).toMatchObject({ mine_count: 0, unassigned_count: 1, all_count: 1 });
    const shown = await cw("GET", `${base()}/conversations/${conversation.id}`, account.adminToken);
    expectChatwootShape("conversation", shown.body);
    expect(shown.body.last_non_activity_message.content).toBe("filter me");
    expect(shown.body.messages[0].message_type).toBe(1);
  });

  it("toggles status (incl. snoozed_until) and assigns, with JSON or form bodies alike", async () => {
    const { conversation } = await newConversation();
    const until = Math.floor(Date.now() / 1000) + 3600;
    const snoozed = await cw("POST", `${base()}/conversations/${conversation.id}/toggle_status`, account.adminToken, { status: "snoozed", snoozed_until: until }, true);
    expect(snoozed.status, snoozed.text).toBe(200);
    expect(snoozed.body.payload).toMatchObject({ success: true, current_status: "snoozed", conversation_id: conversation.id });
    const shown = await cw("GET", `${base()}/conversations/${conversation.id}`, account.adminToken);
    expect(shown.body.snoozed_until).toBe(until);
    const toggled = await cw("POST", `${base()}/conversations/${conversation.id}/toggle_status`, account.adminToken, {});
    expect(toggled.body.payload.current_status).toBe("resolved");

    const me = await cw("GET", "/api/v1/profile", account.adminToken);
    await api("PUT", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/members`, { token: account.adminToken, body: { user_ids: [account.adminId] } });
    const assigned = await cw("POST", `${base()}/conversations/${conversation.id}/assignments`, account.adminToken, { assignee_id: me.body.id }, true);
    expect(assigned.status, assigned.text).toBe(200);
    expect(assigned.body).toMatchObject({ id: me.body.id, type: "user" });
    const labels = await cw("GET", `${base()}/conversations/${conversation.id}/labels`, account.adminToken);
    expect(labels.body).toEqual({ payload: [] });
    const bad = await cw("POST", `${base()}/conversations/${conversation.id}/toggle_status`, account.adminToken, { status: "closed" });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toContain("status");
  });

  it("creates messages (private notes, source_id and echo_id idempotent), lists them, reports delivery status with external_error", async () => {
    const { conversation } = await newConversation();
    const path = `${base()}/conversations/${conversation.id}/messages`;
    const reply = await cw("POST", path, account.adminToken, { content: "Reply", source_id: "crm-1" }, true);
    expect(reply.status, reply.text).toBe(200);
    expectChatwootShape("message", reply.body);
    const repeat = await cw("POST", path, account.adminToken, { content: "Reply", source_id: "crm-1" });
    expect(repeat.body.id).toBe(reply.body.id);
    const echoed = await cw("POST", path, account.adminToken, { content: "Echo", echo_id: "e-1" });
    const echoedAgain = await cw("POST", path, account.adminToken, { content: "Echo", echo_id: "e-1" });
    expect(echoedAgain.body.id).toBe(echoed.body.id);
    expect(echoed.body.echo_id).toBe("e-1");
    const note = await cw("POST", path, account.adminToken, { content: "Note", private: "true" }, true);
    expect(note.body.private).toBe(true);
    const incoming = await cw("POST", path, account.adminToken, { content: "From the contact", message_type: "incoming" });
    expect(incoming.body.message_type).toBe(0);

    const list = await cw("GET", path, account.adminToken);
    expect(list.body.payload.map((m: { content: string }) => m.content)).toEqual(["Hi", "Reply", "Echo", "Note", "From the contact"]);
    expect(list.body.meta.contact.type).toBe("contact");

    const failed = await cw("PATCH", `${path}/${reply.body.id}`, account.adminToken, { status: "failed", external_error: "blocked by the provider" });
    expect(failed.status, failed.text).toBe(200);
    expect(failed.body).toMatchObject({ status: "failed", content_attributes: { external_error: "blocked by the provider" } });
    const notOutgoing = await cw("PATCH", `${path}/${incoming.body.id}`, account.adminToken, { status: "read" });
    expect(notOutgoing.status).toBe(409);
    expect((await cw("GET", `${base()}/conversations/999999/messages`, account.adminToken)).status).toBe(404);

    const deleted = await cw("DELETE", `${path}/${note.body.id}`, account.adminToken);
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.body).toMatchObject({ id: note.body.id, content: "This message was deleted", content_attributes: { deleted: true } });
    const after = await cw("GET", path, account.adminToken);
    expect(after.body.payload.find((m: { id: number }) => m.id === note.body.id).content).toBe("This message was deleted");
    expect((await cw("DELETE", `${path}/987654`, account.adminToken)).status).toBe(404);
  });

  it("creates, reads and searches contacts; links one to another inbox (contact_inboxes)", async () => {
    const created = await cw("POST", `${base()}/contacts`, account.adminToken, { inbox_id: inboxNumber, name: "Fabi Search", email: "fabi@example.com", source_id: "crm-fabi" }, true);
    expect(created.status, created.text).toBe(200);
    expectChatwootShape("contact", created.body);
    expect(created.body.payload.contact_inbox.source_id).toBe("crm-fabi");
    const again = await cw("POST", `${base()}/contacts`, account.adminToken, { inbox_id: inboxNumber, name: "Fabi Search", source_id: "crm-fabi" });
    expect(again.body.payload.contact.id).toBe(created.body.payload.contact.id);
    const id = created.body.payload.contact.id;
    const shown = await cw("GET", `${base()}/contacts/${id}`, account.adminToken);
    expect(shown.body.payload).toMatchObject({ id, name: "Fabi Search", email: "fabi@example.com" });
    const found = await cw("GET", `${base()}/contacts/search?q=fabi%20search`, account.adminToken);
    expect(found.body.payload.map((c: { id: number }) => c.id)).toContain(id);

    const other = await createTestInbox(account);
    const otherNumber = (await cw("GET", `${base()}/inboxes`, account.adminToken)).body.payload.find((i: { inbox_identifier: string }) => i.inbox_identifier === other.identifier).id;
    const shownInbox = await cw("GET", `${base()}/inboxes/${otherNumber}/`, account.adminToken);
    expect(shownInbox.body).toMatchObject({ id: otherNumber, channel_type: "Channel::Api" });
    expectChatwootShape("inbox", shownInbox.body);
    const linked = await cw("POST", `${base()}/contacts/${id}/contact_inboxes`, account.adminToken, { inbox_id: otherNumber, source_id: "other-fabi" });
    expect(linked.status, linked.text).toBe(200);
    expect(linked.body).toMatchObject({ source_id: "other-fabi", inbox: { id: otherNumber } });
    const withBoth = await cw("GET", `${base()}/contacts/${id}`, account.adminToken);
    expect(withBoth.body.payload.contact_inboxes.map((l: { source_id: string }) => l.source_id).sort()).toEqual(["crm-fabi", "other-fabi"]);
    const noInbox = await cw("POST", `${base()}/contacts`, account.adminToken, { name: "Nowhere" });
    expect(noInbox.status).toBe(422);
    expect(noInbox.body.error).toContain("inbox_id");
  });
});
