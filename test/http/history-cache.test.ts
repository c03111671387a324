// The isolate's history pages (src/domain/history-cache.ts): a page read again is served from what the
// isolate wrote, but only while D1 says, in the page's own statement, that no message of the conversation
// has been written since — every kind of write below must make the next read the page D1 holds now.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256HexSync } from "../../src/core/crypto";
import { historyCacheCounters, historyPages, holdPage } from "../../src/domain/history-cache";
import { historyStatements } from "../../src/domain/messages";
import { toMessage, type MessageRow } from "../../src/conversation/resources";
import { mapRow } from "../../src/db/client";
import { messages } from "../../src/db/schema";
import { encodeCursor } from "../../src/core/pagination";
import type { Bindings } from "../../src/env";
import { api, createTestAccount, expectProblem, type TestAccount } from "../support/api";
import { createInboxToken, createTestInbox, type TestInbox } from "../support/fixtures";
import { callWithEnv, latentD1 } from "../support/faults";
import { shardBindings, shardOf } from "../support/shards";

let account: TestAccount;
let inbox: TestInbox;
let token: string;
let shard: Bindings;

/** The page D1 holds now, written as the route writes a page without stored attachments (no cache involved). */
async function fresh(conversationId: string, limit: number, afterSeq = 0) {
  const rows = await shard.DB.prepare(`SELECT * FROM messages WHERE conversation_id = ? AND seq > ? AND private = 0 ORDER BY seq LIMIT ?`)
    .bind(conversationId, afterSeq, limit + 1)
    .all<Record<string, unknown>>();
  const hasMore = rows.results.length > limit;
  const data = (hasMore ? rows.results.slice(0, limit) : rows.results).map((row) => toMessage(mapRow<MessageRow>(messages, row)));
  const last = data[data.length - 1];
  return JSON.stringify({ data, next_cursor: hasMore && last ? encodeCursor({ seq: last.seq }) : null });
}

/** Reads a page, saying whether the isolate served it from what it held. */
async function read(conversationId: string, query = "limit=100", caller = token) {
  const before = historyCacheCounters.served;
  const res = await api("GET", `/v1/inboxes/${inbox.identifier}/conversations/${conversationId}/messages?${query}`, { token: caller });
  return { res, served: historyCacheCounters.served - before };
}

/** A new conversation with `n` messages, its page read once (so the isolate holds it) and once more (served). */
async function heldConversation(n = 3) {
  const first = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body: { contact: { source_id: `hc-${crypto.randomUUID()}` }, content: "m1" } });
  expect(first.status, first.text).toBe(201);
  const id = first.body.conversation.id as string;
  for (let i = 2; i <= n; i++) {
    const res = await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${id}/messages`, { token, body: { content: `m${i}` } });
    expect(res.status, res.text).toBe(201);
  }
  expect((await read(id)).served).toBe(0);
  const again = await read(id);
  expect(again.served).toBe(1);
  expect(again.res.text).toBe(await fresh(id, 100));
  return { id, messageId: first.body.message.id as string };
}

beforeAll(async () => {
  account = await createTestAccount();
  inbox = await createTestInbox(account, { lockToSingleConversation: false });
  token = await createInboxToken(account, inbox);
  shard = await shardBindings(account.accountId);
});

describe("history pages the isolate holds", () => {
  it("are served again in the page's one D1 round trip, the same bytes, per window", async () => {
    const { id } = await heldConversation(5);
    const name = await shardOf(account.accountId);
    const counted = latentD1((env as unknown as Record<string, D1Database>)[name]!, { minMs: 0, maxMs: 0 });
    const call = (query: string) => callWithEnv({ [name]: counted.db } as Partial<Env>, "GET", `/v1/inboxes/${inbox.identifier}/conversations/${id}/messages?${query}`, { token });
    expect((await call("limit=2")).status).toBe(200); // fills this window (and the isolate's first reads)
    for (const query of ["limit=100", "limit=2", "limit=2&after_seq=2"]) {
      await call(query); // held from here on
      counted.stats.calls = 0;
      const before = historyCacheCounters.served;
      const page = await call(query);
      expect(historyCacheCounters.served - before, query).toBe(1);
      expect(counted.stats.calls, query).toBe(1);
      const options = new URLSearchParams(query);
      expect(page.text).toBe(await fresh(id, Number(options.get("limit")), Number(options.get("after_seq") ?? 0)));
    }
  });

  it("cost D1 no message rows when held: a long conversation's held first page reads only its joins", async () => {
    const { id } = await heldConversation(150);
    const window = { conversationId: id, afterSeq: 0, limit: 10 };
    const revision = (await shard.DB.prepare("SELECT revision FROM history_revisions WHERE conversation_id = ?").bind(id).first<{ revision: number }>())!.revision;
    const rowsRead = async (held?: number) => {
      const statements = historyStatements(shard, inbox.identifier, sha256HexSync(token), window, held === undefined ? undefined : { key: "k", revision: held, body: new Uint8Array() });
      const [result] = await shard.DB.batch(statements);
      return { rows: result!.results.length, read: result!.meta.rows_read };
    };
    expect(await rowsRead()).toMatchObject({ rows: 11 });
    const held = await rowsRead(revision);
    expect(held.rows).toBe(1); // the inbox and conversation, no message
    expect(held.read).toBeLessThan(10);
  });

  it("are read again after any write to one of the conversation's messages: a new one, a status, a deletion, an edit by SQL", async () => {
    const { id } = await heldConversation();
    const base = `/v1/inboxes/${inbox.identifier}`;
    const agentPath = `/v1/accounts/${account.accountId}/conversations/${id}/messages`;
    const cw = (method: string, path: string) => api(method, path, { headers: { api_access_token: account.adminToken } });
    let replyId = "";
    const writes: [string, () => Promise<{ status: number; text: string } | unknown>][] = [
      ["an integrator's message", () => api("POST", `${base}/conversations/${id}/messages`, { token, body: { content: "new" } })],
      [
        "an agent's reply",
        async () => {
          const reply = await api("POST", agentPath, { token: account.adminToken, body: { content: "reply" } });
          replyId = reply.body.id;
          return reply;
        },
      ],
      ["its status", () => api("POST", `${base}/messages/${replyId}/status`, { token, body: { status: "failed", reason: "bounced" } })],
      [
        "a message deleted on Chatwoot's surface",
        async () => {
          const accountNumber = (await cw("GET", "/api/v1/profile")).body.account_id;
          const conversation = (await cw("GET", `/api/v1/accounts/${accountNumber}/conversations`)).body.data.payload.find((c: { uuid: string }) => c.uuid === id);
          const message = (await cw("GET", `/api/v1/accounts/${accountNumber}/conversations/${conversation.id}/messages`)).body.payload.find(
            (m: { content: string }) => m.content === "reply",
          );
          return cw("DELETE", `/api/v1/accounts/${accountNumber}/conversations/${conversation.id}/messages/${message.id}`);
        },
      ],
      ["an UPDATE by hand", () => shard.DB.prepare("UPDATE messages SET content = 'by hand' WHERE conversation_id = ? AND seq = 2").bind(id).run()],
      ["a DELETE by hand", () => shard.DB.prepare("DELETE FROM messages WHERE conversation_id = ? AND seq = 3").bind(id).run()],
    ];
    for (const [what, write] of writes) {
      const held = await read(id);
      expect(held.served, what).toBe(1);
      const res = await write();
      if (res && typeof res === "object" && "status" in res) expect((res as { status: number }).status, (res as unknown as { text: string }).text).toBeLessThan(300);
      const after = await read(id);
      expect(after.served, what).toBe(0);
      expect(after.res.text, what).toBe(await fresh(id, 100));
      expect(after.res.text, what).not.toBe(held.res.text);
    }
  });

  it("a private note changes nothing an integrator reads, and the page is read again all the same", async () => {
    const { id } = await heldConversation();
    const held = await read(id);
    const note = await api("POST", `/v1/accounts/${account.accountId}/conversations/${id}/messages`, { token: account.adminToken, body: { content: "secret", private: true } });
    expect(note.status, note.text).toBe(201);
    const after = await read(id);
    expect(after.served).toBe(0);
    expect(after.res.text).toBe(held.res.text);
    expect(after.res.text).not.toContain("secret");
  });

  it("serve nothing to a caller D1 does not admit, nor for a conversation erased since", async () => {
    const { id } = await heldConversation();
    const stranger = await createTestAccount();
    const otherInbox = await createTestInbox(account);
    for (const caller of [stranger.adminToken, await createInboxToken(account, otherInbox)]) {
      const { res, served } = await read(id, "limit=100", caller);
      expectProblem(res, 404, "inbox_not_found");
      expect(served).toBe(0);
    }
    expectProblem((await read(id, "limit=100", "edgeinbox_not-a-token")).res, 401, "invalid_token");
    // The contact erased: its conversation is gone, and so is the page.
    const sourceId = (await shard.DB.prepare("SELECT source_id FROM contact_inboxes WHERE id = (SELECT contact_inbox_id FROM conversations WHERE id = ?)").bind(id).first<{ source_id: string }>())!.source_id;
    const erased = await api("DELETE", `/v1/inboxes/${inbox.identifier}/contacts/${encodeURIComponent(sourceId)}`, { token });
    expect(erased.status, erased.text).toBe(200);
    const gone = await read(id);
    expectProblem(gone.res, 404, "conversation_not_found");
    expect(gone.served).toBe(0);
  });

  it("never hold a page with a stored attachment (its signed URLs expire)", async () => {
    const { id } = await heldConversation(1);
    const form = new FormData();
    form.append("content", "a photo");
    form.append("attachments[]", new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3])], "p.png", { type: "image/png" }));
    const uploaded = await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${id}/messages`, { token, rawBody: form });
    expect(uploaded.status, uploaded.text).toBe(201);
    const stored = historyCacheCounters.stored;
    for (let i = 0; i < 2; i++) {
      const { res, served } = await read(id);
      expect(res.status).toBe(200);
      expect(served).toBe(0);
      expect(res.body.data[1].attachments[0].data_url).toMatch(/signature=/);
    }
    expect(historyCacheCounters.stored).toBe(stored);
  });

  it("are capped: at most PAGE_LIMIT pages and BYTE_BUDGET bytes", () => {
    const page = (i: number) => ({ conversationId: `conv_fill_${i}`, afterSeq: 0, limit: 100 });
    try {
      for (let i = 0; i < historyPages.limit + 10; i++) holdPage(shard, page(i), i, "{}");
      expect(historyPages.size).toBe(historyPages.limit);
      const budget = historyPages.budget!.max;
      const big = "x".repeat(Math.ceil(budget / 4));
      for (let i = 0; i < 10; i++) holdPage(shard, page(i), i, big);
      expect(historyPages.totalWeight).toBeLessThanOrEqual(budget);
      expect(historyPages.size).toBeLessThan(historyPages.limit);
      holdPage(shard, page(-1), 1, "x".repeat(budget + 1));
      expect(historyPages.has(`${shard.SHARD}\nconv_fill_-1\n0\n100`)).toBe(false);
    } finally {
      historyPages.clear(); // ≈ 16 MiB of filler must not outlive the test, passed or not
    }
  });
});

describe("history pages read with an inbox's own token the isolate remembers", () => {
  /** A token of its own (revoked or moved below), its caller remembered by reading a held page. */
  async function rememberedReader(target: TestInbox) {
    const issued = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${target.id}/tokens`, { token: account.adminToken });
    expect(issued.status, issued.text).toBe(201);
    const own = issued.body.token as string;
    const first = await api("POST", `/v1/inboxes/${target.identifier}/messages`, { token: own, body: { contact: { source_id: `rr-${crypto.randomUUID()}` }, content: "m1" } });
    expect(first.status, first.text).toBe(201);
    const path = `/v1/inboxes/${target.identifier}/conversations/${first.body.conversation.id}/messages?limit=100`;
    for (let i = 0; i < 2; i++) expect((await api("GET", path, { token: own })).status).toBe(200);
    return { own, tokenId: issued.body.id as string, path };
  }

  it("cost one statement: the page's own, without the token's, inbox's and membership reads", async () => {
    const { own, path } = await rememberedReader(inbox);
    const name = await shardOf(account.accountId);
    const counted = latentD1((env as unknown as Record<string, D1Database>)[name]!, { minMs: 0, maxMs: 0 });
    const before = historyCacheCounters.served;
    const page = await callWithEnv({ [name]: counted.db } as Partial<Env>, "GET", path, { token: own });
    expect(page.status, page.text).toBe(200);
    expect(historyCacheCounters.served - before).toBe(1);
    expect({ calls: counted.stats.calls, statements: counted.stats.statements }).toEqual({ calls: 1, statements: 1 });
    // The slow path, for comparison: another token of the inbox, never seen here.
    const stranger = await createInboxToken(account, inbox);
    counted.stats.statements = 0;
    expect((await callWithEnv({ [name]: counted.db } as Partial<Env>, "GET", path, { token: stranger })).status).toBe(200);
    expect(counted.stats.statements).toBe(4);
  });

  it("refuse a revoked token on the very next request, and a token whose inbox was deleted", async () => {
    const revoked = await rememberedReader(inbox);
    const revoke = await api("DELETE", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens/${revoked.tokenId}`, { token: account.adminToken });
    expect(revoke.status, revoke.text).toBe(204);
    for (let i = 0; i < 2; i++) expectProblem(await api("GET", revoked.path, { token: revoked.own }), 401, "invalid_token");

    const doomed = await createTestInbox(account);
    const deleted = await rememberedReader(doomed);
    expect((await api("DELETE", `/v1/accounts/${account.accountId}/inboxes/${doomed.id}`, { token: account.adminToken })).status).toBe(204);
    expectProblem(await api("GET", deleted.path, { token: deleted.own }), 401, "invalid_token");
  });

  it("take the slow path once the account has moved off the shard: its answer, not the old shard's page", async () => {
    const { own, path } = await rememberedReader(inbox);
    await shard.DB.prepare("UPDATE accounts SET state = 'moved' WHERE id = ?").bind(account.accountId).run();
    try {
      expectProblem(await api("GET", path, { token: own }), 503, "account_moving");
    } finally {
      await shard.DB.prepare("UPDATE accounts SET state = 'active' WHERE id = ?").bind(account.accountId).run();
    }
    expect((await api("GET", path, { token: own })).status).toBe(200);
  });
});
