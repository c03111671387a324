import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { api, type TestAccount, unique } from "./api";

export type TestInbox = { id: string; identifier: string; secret?: string; webhookPath?: string };

/**
 * An API inbox of the account. Until the inbox routes land this writes the row the way the inbox domain
 * will; tests only rely on the integrator-facing behaviour.
 */
export async function createTestInbox(
  account: TestAccount,
  options: { lockToSingleConversation?: boolean; webhookPath?: string } = {},
): Promise<TestInbox> {
  const now = Date.now();
  const id = `inb_${unique("i").replaceAll("-", "").toUpperCase()}`;
  const identifier = unique("ident").replaceAll("-", "");
  const webhookUrl = options.webhookPath ? `${env.RECEIVER_URL}${options.webhookPath}` : null;
  const secret = "whsec_" + btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  await env.DB.prepare(
    `INSERT INTO inboxes (id, account_id, identifier, name, webhook_url, webhook_secret, lock_to_single_conversation, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(id, account.accountId, identifier, "Test inbox", webhookUrl, secret, options.lockToSingleConversation === false ? 0 : 1, now, now)
    .run();
  return { id, identifier, secret, webhookPath: options.webhookPath };
}

/** An inbox token (integrator credentials limited to one inbox). */
export async function createInboxToken(account: TestAccount, inbox: TestInbox): Promise<string> {
  const { mintToken } = await import("../../src/domain/tokens");
  const { issued, row } = await mintToken({ accountId: account.accountId, kind: "inbox", inboxId: inbox.id });
  await env.DB.prepare(
    "INSERT INTO api_tokens (id, account_id, kind, user_id, inbox_id, token_hash, created_at) VALUES (?, ?, 'inbox', NULL, ?, ?, ?)",
  )
    .bind(row.id, row.accountId, row.inboxId, row.tokenHash, row.createdAt)
    .run();
  return issued.token;
}

export async function count(sql: string, ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(sql).bind(...params).first<{ n: number }>();
  return row!.n;
}

/** Sends one message through the one-call path and returns the response body. */
export async function sendMessage(token: string, inbox: TestInbox, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers });
  expect([200, 201], res.text).toContain(res.status);
  return res.body as { contact: { id: string }; conversation: { id: string }; message: { id: string; seq: number } };
}
