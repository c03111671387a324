import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { api, type TestAccount, unique } from "./api";
import { allShards } from "./shards";

export type TestInbox = { id: string; identifier: string; secret?: string; webhookPath?: string };

/** An API inbox of the account, created through the API; with webhookPath its webhook points at the test receiver. */
export async function createTestInbox(
  account: TestAccount,
  options: { lockToSingleConversation?: boolean; webhookPath?: string; autoAssignment?: boolean } = {},
): Promise<TestInbox> {
  const res = await api("POST", `/v1/accounts/${account.accountId}/inboxes`, {
    token: account.adminToken,
    body: {
      name: unique("Inbox"),
      ...(options.webhookPath ? { webhook_url: `${env.RECEIVER_URL}${options.webhookPath}` } : {}),
      ...(options.lockToSingleConversation === undefined ? {} : { lock_to_single_conversation: options.lockToSingleConversation }),
      ...(options.autoAssignment === undefined ? {} : { auto_assignment: options.autoAssignment }),
    },
  });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.id, identifier: res.body.identifier, secret: res.body.secret, webhookPath: options.webhookPath };
}

/** An inbox token (integrator credentials limited to one inbox). */
export async function createInboxToken(account: TestAccount, inbox: TestInbox): Promise<string> {
  const res = await api("POST", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/tokens`, { token: account.adminToken });
  expect(res.status, res.text).toBe(201);
  return res.body.token;
}

/** Makes users members of the inbox (replacing its member list). */
export async function setMembers(account: TestAccount, inbox: TestInbox, userIds: string[]) {
  const res = await api("PUT", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/members`, {
    token: account.adminToken,
    body: { user_ids: userIds },
  });
  expect(res.status, res.text).toBe(200);
}

export async function count(sql: string, ...params: unknown[]): Promise<number> {
  const row = await allShards.prepare(sql).bind(...params).first<{ n: number }>();
  return row!.n;
}

/** Sends one message through the one-call path and returns the response body. */
export async function sendMessage(token: string, inbox: TestInbox, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await api("POST", `/v1/inboxes/${inbox.identifier}/messages`, { token, body, headers });
  expect([200, 201], res.text).toContain(res.status);
  return res.body as { contact: { id: string }; conversation: { id: string }; message: { id: string; seq: number } };
}
