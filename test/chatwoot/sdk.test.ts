// One real Chatwoot client library from npm, used unchanged: @figuro/chatwoot-sdk (its Client API and its
// Application API services). It sends with axios; axios' transport adapter — the one piece of axios made to
// be replaced — hands each request to this Worker's own fetch instead of the network, so the library's
// request building (URLs, headers, api_access_token, JSON and multipart bodies via form-data) and its
// response and error handling all run as they would against Chatwoot.
import ChatwootClient from "@figuro/chatwoot-sdk";
import axios, { type AxiosRequestConfig } from "axios";
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createTestAccount, type TestAccount } from "../support/api";
import { createTestInbox, type TestInbox } from "../support/fixtures";
import { expectChatwootShape } from "./contract";

/** form-data (the library's multipart body) is a Node stream: its bytes, collected. */
function collect(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    stream.on("data", (chunk: string | Uint8Array) => chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk));
    stream.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.on("error", reject);
    stream.resume();
  });
}

async function workerAdapter(config: AxiosRequestConfig) {
  const data = config.data as unknown;
  const body =
    data === undefined || data === null
      ? undefined
      : typeof data === "string"
        ? data
        : typeof (data as { pipe?: unknown }).pipe === "function"
          ? await collect(data as NodeJS.ReadableStream)
          : JSON.stringify(data);
  const response = await exports.default.fetch(
    new Request(config.url!, { method: config.method!.toUpperCase(), headers: config.headers as Record<string, string>, body }),
  );
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: axios gives the text
  }
  return { data: parsed, status: response.status, statusText: response.statusText, headers: Object.fromEntries(response.headers), config, request: {} };
}

let account: TestAccount;
let inbox: TestInbox;
let inboxNumber: number;

beforeAll(async () => {
  axios.defaults.adapter = workerAdapter as never;
  account = await createTestAccount();
  inbox = await createTestInbox(account);
  const on = await api("PATCH", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}`, { token: account.adminToken, body: { public_client_api: true } });
  expect(on.status).toBe(200);
});

const sdk = (token?: string) =>
  new ChatwootClient({ config: { basePath: "http://edge-inbox.test", with_credentials: false, credentials: "omit", ...(token ? { token } : {}) } });

describe("@figuro/chatwoot-sdk against edge-inbox", () => {
  it("Client API: creates a contact, a conversation and messages, and reads them back", async () => {
    const client = sdk().client as any;
    const contact = await client.contacts.create({ inboxIdentifier: inbox.identifier, data: { name: "Carla", email: "carla@example.com" } });
    expectChatwootShape("public_contact", contact);
    const conversation = await client.conversations.create({ inboxIdentifier: inbox.identifier, contactIdentifier: contact.source_id });
    expectChatwootShape("public_conversation", conversation);
    for (const content of ["first", "second"]) {
      const message = await client.messages.create({
        inboxIdentifier: inbox.identifier,
        contactIdentifier: contact.source_id,
        conversationId: conversation.id,
        data: { content, echo_id: `echo-${content}` },
      });
      expectChatwootShape("public_message", message);
    }
    const list = await client.messages.list({ inboxIdentifier: inbox.identifier, contactIdentifier: contact.source_id, conversationId: conversation.id });
    expect(list.map((m: { content: string }) => m.content)).toEqual(["first", "second"]);
    const again = await client.contacts.get({ inboxIdentifier: inbox.identifier, contactIdentifier: contact.source_id });
    expect(again).toMatchObject({ id: contact.id, name: "Carla" });
    const conversations = await client.conversations.list({ inboxIdentifier: inbox.identifier, contactIdentifier: contact.source_id });
    expect(conversations.map((c: { id: number }) => c.id)).toEqual([conversation.id]);
    await expect(client.contacts.get({ inboxIdentifier: inbox.identifier, contactIdentifier: "nobody" })).rejects.toThrow("does not exist");
  });

  it("Application API: profile, inboxes, a contact, a conversation, a reply (multipart) and a private note, read back", async () => {
    const cw = sdk(account.adminToken);
    const me = (await cw.profile.profile()) as any;
    expectChatwootShape("user", me);
    const accountId = me.account_id as number;
    const inboxes = (await cw.inboxes.list({ accountId })) as any;
    inboxNumber = inboxes.payload.find((i: { inbox_identifier: string }) => i.inbox_identifier === inbox.identifier).id;

    const created = (await cw.contacts.create({ accountId, data: { inbox_id: inboxNumber, name: "Dora", email: "dora@example.com" } as any })) as any;
    expectChatwootShape("contact", created);
    const contact = created.payload.contact;
    const conversation = (await cw.conversations.create({
      accountId,
      data: { inbox_id: String(inboxNumber), contact_id: String(contact.id), message: { content: "Hello from the agent" } } as any,
    })) as any;
    expectChatwootShape("conversation", conversation);
    const reply = (await cw.messages.create({ accountId, conversationId: conversation.id, data: { content: "A reply", message_type: "outgoing" } as any })) as any;
    expectChatwootShape("message", reply);
    expect(reply).toMatchObject({ content: "A reply", message_type: 1, private: false });
    const note = (await cw.messages.create({ accountId, conversationId: conversation.id, data: { content: "A note", private: true } as any })) as any;
    expect(note.private).toBe(true);

    const messages = (await cw.messages.list({ accountId, conversationId: conversation.id })) as any;
    expect(messages.payload.map((m: { content: string }) => m.content)).toEqual(["Hello from the agent", "A reply", "A note"]);
    for (const message of messages.payload) expectChatwootShape("message", message);
    const shown = (await cw.conversations.get({ accountId, conversationId: conversation.id })) as any;
    expectChatwootShape("conversation", shown);
    expect(shown.meta.sender.id).toBe(contact.id);
    const list = (await cw.conversations.list({ accountId, status: "open" } as any)) as any;
    expectChatwootShape("conversation_list", list);
    expect(list.data.payload.map((c: { id: number }) => c.id)).toContain(conversation.id);
    const fetched = (await cw.contacts.get({ accountId, id: contact.id })) as any;
    expect(fetched.payload.contact_inboxes[0].inbox.id).toBe(inboxNumber);
  });
});
