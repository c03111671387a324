// History pages are written from the stored rows (src/domain/messages.ts pageJson): the stored JSON columns
// are spliced in as text instead of being parsed into message objects and stringified again. The answer
// must stay byte for byte what the routes sent before: JSON.stringify of the message objects (toMessage over
// every column of the same rows), stored attachments signed as they are read (withDataUrls).
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/crypto";
import { withDataUrls } from "../../src/attachments/render";
import { toMessage, type MessageRow } from "../../src/conversation/resources";
import { mapRow } from "../../src/db/client";
import { messages } from "../../src/db/schema";
import { encodeCursor } from "../../src/core/pagination";
import { decodeHistory, historyStatements } from "../../src/domain/messages";
import type { Bindings } from "../../src/env";
import { api, createTestAccount, createTestUser, expectProblem, type ApiResponse, type TestAccount } from "../support/api";
import { createInboxToken, createTestInbox, type TestInbox } from "../support/fixtures";
import { callWithEnv, latentD1 } from "../support/faults";
import { shardBindings, shardOf } from "../support/shards";

let account: TestAccount;
let inbox: TestInbox;
let token: string;
let shard: Bindings;
let conversationId: string;

/** Every character JSON escapes, and those next to them. */
const CONTROL = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("") + "\u007f\u0080\u00ff\u2028\u2029\ufeff";

/** A request on Chatwoot's surface (the one that deletes a message), with its token header. */
const cw = (method: string, path: string, body?: Record<string, unknown>) => api(method, path, { headers: { api_access_token: account.adminToken }, body });

/** The page as the routes built it before: every column of the rows, through toMessage and withDataUrls, stringified. */
async function before(options: { afterSeq?: number; limit: number; includePrivate: boolean }, id = conversationId) {
  const rows = await shard.DB.prepare(`SELECT * FROM messages WHERE conversation_id = ? AND seq > ?${options.includePrivate ? "" : " AND private = 0"} ORDER BY seq LIMIT ?`)
    .bind(id, options.afterSeq ?? 0, options.limit + 1)
    .all<Record<string, unknown>>();
  const hasMore = rows.results.length > options.limit;
  const data = (hasMore ? rows.results.slice(0, options.limit) : rows.results).map((row) => toMessage(mapRow<MessageRow>(messages, row)));
  const last = data[data.length - 1];
  return JSON.stringify({ data: await withDataUrls(shard, data), next_cursor: hasMore && last ? encodeCursor({ seq: last.seq }) : null });
}

beforeAll(async () => {
  account = await createTestAccount();
  inbox = await createTestInbox(account, { lockToSingleConversation: false });
  token = await createInboxToken(account, inbox);
  shard = await shardBindings(account.accountId);
  const base = `/v1/inboxes/${inbox.identifier}`;
  // Imported, with its original time, escapes and unicode in content, nested attributes and a source_id.
  const first = await api("POST", `${base}/messages`, {
    token,
    body: {
      contact: { source_id: "history-json" },
      content: `quotes " backslash \\ slash / unicode é 😀 </script> every control character ${CONTROL} lone surrogate \ud800 end`,
      source_id: "src-1",
      external_created_at: "2024-03-01T12:00:00.5+02:00",
      content_attributes: { nested: { list: [1, 2.5, -0, 1e21, 1e-7, true, null, "x\"y"] }, empty: {}, "2": "numeric key", "é": ["ü"], in_reply_to: undefined },
    },
  });
  expect(first.status, first.text).toBe(201);
  conversationId = first.body.conversation.id;
  const conversation = `${base}/conversations/${conversationId}/messages`;
  // Recorded by the integration (sender type "integration"), then a plain incoming one.
  expect((await api("POST", conversation, { token, body: { message_type: "outgoing", content: "sent by our CRM", source_id: "crm-1" } })).status).toBe(201);
  expect((await api("POST", conversation, { token, body: { content: "plain" } })).status).toBe(201);
  // An agent's reply whose delivery failed (status + reason), a private note, and a message deleted since.
  const agentPath = `/v1/accounts/${account.accountId}/conversations/${conversationId}/messages`;
  const reply = await api("POST", agentPath, { token: account.adminToken, body: { content: "Your parcel left", content_attributes: { in_reply_to: first.body.message.id } } });
  expect(reply.status, reply.text).toBe(201);
  const failed = await api("POST", `${base}/messages/${reply.body.id}/status`, { token, body: { status: "failed", reason: `blocked by the provider ✋ ${CONTROL}` } });
  expect(failed.status, failed.text).toBe(200);
  expect((await api("POST", agentPath, { token: account.adminToken, body: { content: "a private note", private: true } })).status).toBe(201);
  const doomed = await api("POST", agentPath, { token: account.adminToken, body: { content: "to be deleted" } });
  expect(doomed.status, doomed.text).toBe(201);
  const read = await api("POST", `${base}/messages/${doomed.body.id}/status`, { token, body: { status: "read" } });
  expect(read.status, read.text).toBe(200);
  // Deleted through Chatwoot's surface: content replaced, content_attributes.deleted set.
  const accountNumber = (await cw("GET", "/api/v1/profile")).body.account_id;
  const cwConversation = (await cw("GET", `/api/v1/accounts/${accountNumber}/conversations`)).body.data.payload.find(
    (c: { uuid: string }) => c.uuid === conversationId,
  );
  const cwMessages = (await cw("GET", `/api/v1/accounts/${accountNumber}/conversations/${cwConversation.id}/messages`)).body.payload;
  const cwDoomed = cwMessages.find((m: { content: string }) => m.content === "to be deleted");
  const deleted = await cw("DELETE", `/api/v1/accounts/${accountNumber}/conversations/${cwConversation.id}/messages/${cwDoomed.id}`);
  expect(deleted.status, deleted.text).toBe(200);
  expect((await api("POST", conversation, { token, body: { content: "last" } })).status).toBe(201);
});

describe("history pages written from the stored rows", () => {
  it("are byte for byte the answer built from message objects, on every page, cursor and after_seq", async () => {
    const path = `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages`;
    const all = await api("GET", `${path}?limit=100`, { token });
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toBe("application/json");
    expect(all.text).toBe(await before({ limit: 100, includePrivate: false }));
    // Every shape is on the page: the integrator's view has no private note, its seq is simply absent.
    const data = all.body.data as { seq: number; content: string; sender: { type: string }; status: string; status_reason: string | null; content_attributes: Record<string, unknown>; external_created_at: string | null }[];
    expect(data.map((m) => m.seq)).toEqual([1, 2, 3, 4, 6, 7]);
    expect(data[0]!.external_created_at).toBe("2024-03-01T10:00:00.500Z");
    expect(data[0]!.content_attributes).toMatchObject({ "2": "numeric key", nested: { list: [1, 2.5, 0, 1e21, 1e-7, true, null, 'x"y'] } });
    expect(data[1]!.sender.type).toBe("integration");
    expect(data[3]).toMatchObject({ status: "failed", status_reason: `blocked by the provider ✋ ${CONTROL}` });
    expect(data[4]).toMatchObject({ content: "This message was deleted", content_attributes: { deleted: true } });

    // Page by page with the cursor, and from after_seq: the same bytes as before, in seq order.
    const seqs: number[] = [];
    let cursor: string | null = null;
    let afterSeq = 0;
    do {
      const page: ApiResponse = await api("GET", `${path}?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token });
      expect(page.text).toBe(await before({ afterSeq, limit: 2, includePrivate: false }));
      seqs.push(...page.body.data.map((m: { seq: number }) => m.seq));
      afterSeq = seqs[seqs.length - 1]!;
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seqs).toEqual([1, 2, 3, 4, 6, 7]);
    expect((await api("GET", `${path}?after_seq=3&limit=1`, { token })).text).toBe(await before({ afterSeq: 3, limit: 1, includePrivate: false }));
    expect((await api("GET", `${path}?after_seq=7`, { token })).text).toBe('{"data":[],"next_cursor":null}');

    // The agent's view has the private note, with the same bytes as before.
    const agentPath = `/v1/accounts/${account.accountId}/conversations/${conversationId}/messages`;
    for (const limit of [100, 3]) {
      const page = await api("GET", `${agentPath}?limit=${limit}`, { token: account.adminToken });
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("application/json");
      expect(page.text).toBe(await before({ limit, includePrivate: true }));
    }
  });

  it("pages with attachments take the objects' path: URLs as sent, stored files signed as they are read", async () => {
    const base = `/v1/inboxes/${inbox.identifier}`;
    const linked = await api("POST", `${base}/messages`, {
      token,
      body: { contact: { source_id: "history-json-files" }, attachments: [{ url: "https://files.example.com/a.png", file_type: "image" }] },
    });
    expect(linked.status, linked.text).toBe(201);
    const id = linked.body.conversation.id;
    const form = new FormData();
    form.append("content", "a photo");
    form.append("attachments[]", new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3])], "p.png", { type: "image/png" }));
    const uploaded = await api("POST", `${base}/conversations/${id}/messages`, { token, rawBody: form });
    expect(uploaded.status, uploaded.text).toBe(201);

    const path = `${base}/conversations/${id}/messages`;
    const urlOnly = await api("GET", `${path}?limit=1`, { token });
    expect(urlOnly.text).toBe(await before({ limit: 1, includePrivate: false }, id));
    expect(urlOnly.body.data[0]).toMatchObject({ content: null, attachments: [{ url: "https://files.example.com/a.png" }] });
    const page = await api("GET", path, { token });
    const stored = page.body.data[1].attachments[0];
    expect(stored.data_url).toMatch(/^http:\/\/edge-inbox\.test\/v1\/attachments\/att_[0-9A-Z]+\?expires=\d+&signature=[\w-]+&shard=SHARD_\w+$/);
    expect(stored).not.toHaveProperty("base_url");
    const unsigned = (text: string) => text.replace(/"data_url":"[^"]*"/g, '"data_url":"…"');
    expect(unsigned(page.text)).toBe(unsigned(await before({ limit: 50, includePrivate: false }, id)));
  });

  it("reads the page in the token's D1 round trip: one per page", async () => {
    const name = await shardOf(account.accountId);
    const counted = latentD1((env as unknown as Record<string, D1Database>)[name]!, { minMs: 0, maxMs: 0 });
    const path = `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages`;
    const call = (query: string, caller = token) => callWithEnv({ [name]: counted.db } as Partial<Env>, "GET", `${path}${query}`, { token: caller });
    expect((await call("?limit=1")).status).toBe(200); // the isolate's first request may read more (shard version, rate limits)
    // The last query is past the end: an empty page of a conversation that is found.
    for (const query of ["?limit=2", "?after_seq=2&limit=3", "?limit=100", "?after_seq=1000&limit=5"]) {
      counted.stats.calls = 0;
      const page = await call(query);
      const options = Object.fromEntries(new URLSearchParams(query));
      expect(page.text).toBe(await before({ afterSeq: Number(options.after_seq ?? 0), limit: Number(options.limit), includePrivate: false }));
      expect(counted.stats.calls, query).toBe(1);
    }
    // An administrator's token of the account reads the same page in the same round trip.
    counted.stats.calls = 0;
    expect((await call("?limit=100", account.adminToken)).text).toBe(await before({ limit: 100, includePrivate: false }));
    expect(counted.stats.calls).toBe(1);
  });

  it("answers another inbox's or account's token exactly as before, without the rows", async () => {
    const path = `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages?limit=100`;
    const otherInbox = await createTestInbox(account);
    const otherToken = await createInboxToken(account, otherInbox);
    const stranger = await createTestAccount();
    const agent = await createTestUser(account, "agent");
    for (const caller of [otherToken, stranger.adminToken, await createInboxToken(stranger, await createTestInbox(stranger)), agent.token]) {
      const res = await api("GET", path, { token: caller });
      expectProblem(res, 404, "inbox_not_found");
      expect(res.text).not.toContain("plain");
    }
    expectProblem(await api("GET", path, { token: "edgeinbox_not-a-token" }), 401, "invalid_token");
    // Read with the token, the page comes back from D1 only for a token that may read the inbox's account.
    const window = { conversationId, afterSeq: 0, limit: 100 };
    const read = async (caller: string) =>
      decodeHistory(window, (await shard.DB.batch(historyStatements(shard, inbox.identifier, await sha256Hex(caller), window))).map((r) => r.results as Record<string, unknown>[]));
    expect(await read(otherToken)).toMatchObject({ inboxId: null, found: false, rows: [] });
    expect(await read(stranger.adminToken)).toMatchObject({ inboxId: null, found: false, rows: [] });
    expect(await read(token)).toMatchObject({ inboxId: inbox.id, found: true, rows: { length: 6 } });
    // The page is the (conversation, seq) index's range in order: no sort of the conversation's messages.
    const [statement] = historyStatements(shard, inbox.identifier, await sha256Hex(token), window) as unknown as { statement: string; params: unknown[] }[];
    const plan = await shard.DB.prepare(`EXPLAIN QUERY PLAN ${statement!.statement}`).bind(...statement!.params).all<{ detail: string }>();
    const steps = plan.results.map((step) => step.detail).join("\n");
    expect(steps).toContain("messages_conversation_seq");
    expect(steps).not.toMatch(/TEMP B-TREE|SCAN/);
    // The right inbox, another inbox's conversation: 404 conversation_not_found, as before.
    const theirs = await api("POST", `/v1/inboxes/${otherInbox.identifier}/messages`, { token: otherToken, body: { contact: { source_id: "x" }, content: "theirs" } });
    const res = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${theirs.body.conversation.id}/messages`, { token });
    expectProblem(res, 404, "conversation_not_found");
    expectProblem(await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages?cursor=nope`, { token }), 400, "invalid_cursor");
  });
});
