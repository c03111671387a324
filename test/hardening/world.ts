// Real rows, made through the API, to fill every path parameter of the document: the fixture map.
// Each step runs only when the route that makes it exists, so the suites grow with the API. A route
// whose path parameter has no fixture fails the suites with "add a fixture for {name}": add the step
// that creates it here (and its name to SERVER_ISSUED if the server issues it).
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { api, TEST_PLATFORM_TOKEN, unique, type ApiResponse } from "../support/api";
import { hasOperation, type Operation } from "./openapi";
import { allShards } from "../support/shards";

/** A fixture is a value, or a value that depends on the route (token_id means a user's or an inbox's token). */
export type Fixture = string | ((op: Operation) => string);
export type Fixtures = Record<string, Fixture>;

/** Path parameters whose values the server issues (unguessable ids): any other value is simply unknown. */
export const SERVER_ISSUED = new Set([
  "account_id",
  "user_id",
  "token_id",
  "inbox_id",
  "inbox_identifier",
  "conversation_id",
  "contact_id",
  "message_id",
  "delivery_id",
  "rule_id",
  "webhook_id",
  "attachment_id",
]);

export type Tenant = {
  accountId: string;
  adminId: string;
  adminToken: string;
  /** Fixtures of the account and its first inbox (when inboxes exist). Deleting routes may consume them. */
  main: Fixtures;
  /** The same kinds of rows again: another user and token, a second inbox with its own contact, conversation… */
  sibling: Fixtures;
  /** Inbox tokens of the first and second inbox. */
  inboxToken?: string;
  siblingInboxToken?: string;
  /** An agent who is a member of the first inbox, and one who is in no inbox. */
  memberAgentToken?: string;
  outsiderAgentToken?: string;
};

export type World = {
  a: Tenant;
  b?: Tenant;
  /** A token of tenant a's administrator, revoked. */
  revokedToken: string;
  /** Every secret handed out while building (tokens, webhook signing secrets): none may be returned again. */
  secrets: Set<string>;
};

export function fixtureValue(fixtures: Fixtures, name: string, op: Operation): string | undefined {
  const fixture = fixtures[name];
  return typeof fixture === "function" ? fixture(op) : fixture;
}

/** The path values for an operation; fails for a parameter nobody made a fixture for. */
export function paramsFor(fixtures: Fixtures, op: Operation): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of op.pathParams) {
    const value = fixtureValue(fixtures, name, op);
    if (value === undefined) {
      throw new Error(`add a fixture for ${name} (path parameter of ${op.method} ${op.path}) in test/hardening/world.ts`);
    }
    values[name] = value;
  }
  return values;
}

async function must(response: Promise<ApiResponse>, what: string, statuses = [200, 201]): Promise<ApiResponse> {
  const res = await response;
  expect(statuses, `building fixtures: ${what} answered ${res.status} ${res.text}`).toContain(res.status);
  return res;
}

function idIn(body: any, what: string, ...paths: string[][]): string {
  for (const path of paths) {
    const value = path.reduce((node, key) => node?.[key], body);
    if (typeof value === "string" && value.length > 0) return value;
  }
  throw new Error(`building fixtures: no ${what} in ${JSON.stringify(body)}`);
}

type Builder = { operations: Operation[]; secrets: Set<string>; has: (method: string, path: string) => boolean };

async function userWithToken(b: Builder, accountId: string, adminToken: string, role: "agent" | "administrator", name: string) {
  const user = await must(
    api("POST", `/v1/accounts/${accountId}/users`, {
      token: adminToken,
      body: { name, email: `${unique(name.toLowerCase().replaceAll(" ", "-"))}@example.com`, role },
    }),
    "create user",
  );
  const token = await must(api("POST", `/v1/accounts/${accountId}/users/${user.body.id}/tokens`, { token: adminToken }), "create token");
  b.secrets.add(token.body.token);
  return { id: user.body.id as string, token: token.body.token as string, tokenId: token.body.id as string };
}

/** One inbox and what lives in it: contact, conversation, messages, a webhook delivery. */
async function inboxRows(b: Builder, accountId: string, adminToken: string, label: string, webhooks: boolean) {
  const rows: Record<string, string> = {};
  const base = `/v1/accounts/${accountId}/inboxes`;
  const inbox = await must(
    api("POST", base, {
      token: adminToken,
      body: { name: `${label} inbox`, ...(webhooks ? { webhook_url: `${env.RECEIVER_URL}/${unique("hardening")}` } : {}) },
    }),
    "create inbox",
  );
  rows.inbox_id = idIn(inbox.body, "inbox id", ["id"]);
  rows.inbox_identifier = idIn(inbox.body, "inbox identifier", ["identifier"]);
  for (const field of ["secret", "webhook_secret"]) if (typeof inbox.body[field] === "string") b.secrets.add(inbox.body[field]);

  let inboxToken: string | undefined;
  if (b.has("POST", "/v1/accounts/{account_id}/inboxes/{inbox_id}/tokens")) {
    const issue = async () => {
      const res = await must(api("POST", `${base}/${rows.inbox_id}/tokens`, { token: adminToken }), "create inbox token");
      b.secrets.add(res.body.token);
      return { id: res.body.id as string, token: res.body.token as string };
    };
    inboxToken = (await issue()).token;
    // A token only for the revoke route to consume.
    rows.inbox_token_id = (await issue()).id;
  }

  const integrator = `/v1/inboxes/${encodeURIComponent(rows.inbox_identifier)}`;
  const sourceId = unique(`${label}-contact`);
  if (b.has("PUT", "/v1/inboxes/{inbox_identifier}/contacts/{source_id}")) {
    // A user token proves the identifier: the contact is linkable across inboxes, but only with proof.
    const contact = await must(
      api("PUT", `${integrator}/contacts/${sourceId}`, {
        token: adminToken,
        body: { name: `${label} contact`, email: `${unique(label)}@private.example`, identifier: unique(`${label}-person`) },
      }),
      "upsert contact",
    );
    rows.source_id = sourceId;
    rows.contact_id = idIn(contact.body, "contact id", ["id"]);
    rows.contact_identifier = contact.body.identifier;
    rows.contact_email = contact.body.email;
  }
  if (b.has("POST", "/v1/inboxes/{inbox_identifier}/contacts/{source_id}/conversations") && rows.source_id) {
    const conversation = await must(
      api("POST", `${integrator}/contacts/${sourceId}/conversations`, { token: adminToken, body: {} }),
      "open conversation",
    );
    rows.conversation_id = idIn(conversation.body, "conversation id", ["id"], ["conversation", "id"]);
  }
  if (b.has("POST", "/v1/inboxes/{inbox_identifier}/messages")) {
    const sent = await must(
      api("POST", `${integrator}/messages`, { token: adminToken, body: { contact: { source_id: sourceId }, content: `${label} hello` } }),
      "send message",
    );
    rows.source_id ??= sourceId;
    rows.conversation_id ??= idIn(sent.body, "conversation id", ["conversation", "id"]);
    rows.message_id = idIn(sent.body, "message id", ["message", "id"]);
  } else if (rows.conversation_id && b.has("POST", "/v1/inboxes/{inbox_identifier}/conversations/{conversation_id}/messages")) {
    const sent = await must(
      api("POST", `${integrator}/conversations/${rows.conversation_id}/messages`, { token: adminToken, body: { content: `${label} hello` } }),
      "send message",
    );
    rows.message_id = idIn(sent.body, "message id", ["id"], ["message", "id"]);
  }
  // Delivery receipts are for outgoing messages: prefer an agent's reply when the agent API exists.
  if (rows.conversation_id && b.has("POST", "/v1/accounts/{account_id}/conversations/{conversation_id}/messages")) {
    const reply = await must(
      api("POST", `/v1/accounts/${accountId}/conversations/${rows.conversation_id}/messages`, {
        token: adminToken,
        body: { content: `${label} reply` },
      }),
      "reply",
    );
    rows.message_id = idIn(reply.body, "message id", ["id"], ["message", "id"]);
  }
  if (b.has("POST", "/v1/inboxes/{inbox_identifier}/uploads")) {
    const form = new FormData();
    form.append("file", new File([`${label} notes`], "notes.txt", { type: "text/plain" }));
    const upload = await must(api("POST", `${integrator}/uploads`, { token: adminToken, rawBody: form }), "upload a file");
    rows.attachment_id = idIn(upload.body, "attachment id", ["id"]);
  }
  if (webhooks && b.has("GET", "/v1/accounts/{account_id}/inboxes/{inbox_id}/deliveries")) {
    // Events made above are delivered to the receiver; wait for the first delivery row.
    let deliveryId: string | undefined;
    for (let attempt = 0; attempt < 100 && !deliveryId; attempt++) {
      const list = await api("GET", `${base}/${rows.inbox_id}/deliveries`, { token: adminToken });
      deliveryId = list.body?.data?.[0]?.id;
      if (!deliveryId) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!deliveryId) throw new Error(`building fixtures: no webhook delivery appeared for inbox ${rows.inbox_id}`);
    rows.delivery_id = deliveryId;
  }
  return { rows, inboxToken };
}

function fixturesOf(account: { account_id: string; user_id: string; userTokenId: string }, inbox: Record<string, string>): Fixtures {
  const { inbox_token_id: inboxTokenId, endpoint_delivery_id: endpointDeliveryId, ...inboxFixtures } = inbox;
  const inboxDeliveryId = inboxFixtures.delivery_id;
  return {
    account_id: account.account_id,
    user_id: account.user_id,
    ...inboxFixtures,
    // One parameter name, two kinds of token.
    token_id: (op) => (op.path.includes("/inboxes/{inbox_id}/tokens/") && inboxTokenId ? inboxTokenId : account.userTokenId),
    // One parameter name, two kinds of delivery: an inbox's, or an account-level endpoint's.
    ...(inboxDeliveryId !== undefined || endpointDeliveryId !== undefined
      ? { delivery_id: (op: Operation) => (op.path.includes("/webhooks/{webhook_id}/") ? endpointDeliveryId : inboxDeliveryId)! }
      : {}),
  };
}

/** The first delivery of an account-level endpoint, once the fixtures' events reached it. */
async function firstEndpointDelivery(accountId: string, adminToken: string, endpointId: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const list = await api("GET", `/v1/accounts/${accountId}/webhooks/${endpointId}/deliveries`, { token: adminToken });
    const id = list.body?.data?.at(-1)?.id;
    if (typeof id === "string") return id;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`building fixtures: no delivery appeared for webhook endpoint ${endpointId}`);
}

async function buildTenant(b: Builder, label: string, webhooks: boolean): Promise<Tenant> {
  const created = await must(
    api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      body: { name: `${label} account`, administrator: { name: `${label} admin`, email: `${unique(label)}@example.com` } },
    }),
    "create account",
  );
  const accountId: string = created.body.account.id;
  const adminToken: string = created.body.token.token;
  b.secrets.add(adminToken);
  if (b.has("PATCH", "/v1/accounts/{account_id}")) {
    // The suites send thousands of requests with one token; they test inputs, not throttling.
    await must(
      api("PATCH", `/v1/accounts/${accountId}`, {
        token: TEST_PLATFORM_TOKEN,
        body: { rate_limits: { per_token: 1_000_000, per_inbox: 1_000_000 } },
      }),
      "raise rate limits",
    );
  }
  // Users and tokens that deleting routes may consume; the administrator is never one of them.
  const subject = await userWithToken(b, accountId, adminToken, "agent", `${label} subject`);
  const otherSubject = await userWithToken(b, accountId, adminToken, "agent", `${label} other subject`);
  const account = { account_id: accountId, user_id: subject.id, userTokenId: subject.tokenId };
  const otherAccount = { account_id: accountId, user_id: otherSubject.id, userTokenId: otherSubject.tokenId };

  const accountRows: Record<string, string> = {};
  const otherAccountRows: Record<string, string> = {};
  if (b.has("POST", "/v1/accounts/{account_id}/automation_rules")) {
    // Inactive, so it never acts on the traffic the suites send.
    const rule = async () => {
      const res = await must(
        api("POST", `/v1/accounts/${accountId}/automation_rules`, {
          token: adminToken,
          body: { name: `${label} rule`, event_name: "message_created", conditions: [], actions: [{ name: "add_label", params: ["hardening"] }], active: false },
        }),
        "create automation rule",
      );
      if (typeof res.body.secret === "string") b.secrets.add(res.body.secret);
      return idIn(res.body, "rule id", ["id"]);
    };
    accountRows.rule_id = await rule();
    otherAccountRows.rule_id = await rule();
  }

  if (b.has("POST", "/v1/accounts/{account_id}/webhooks")) {
    // Account-level endpoints at the receiver, made before the inboxes so the fixtures' events reach them.
    const endpoint = async (which: string) => {
      const res = await must(
        api("POST", `/v1/accounts/${accountId}/webhooks`, {
          token: adminToken,
          body: { url: `${env.RECEIVER_URL}/${unique(`hardening-${which}`)}`, description: `${label} ${which}` },
        }),
        "create webhook endpoint",
      );
      if (typeof res.body.secret === "string") b.secrets.add(res.body.secret);
      return idIn(res.body, "webhook endpoint id", ["id"]);
    };
    accountRows.webhook_id = await endpoint("main");
    otherAccountRows.webhook_id = await endpoint("sibling");
  }

  const tenant: Tenant = {
    accountId,
    adminId: created.body.user.id,
    adminToken,
    main: fixturesOf(account, accountRows),
    sibling: fixturesOf(otherAccount, otherAccountRows),
  };
  if (b.has("POST", "/v1/accounts/{account_id}/inboxes")) {
    const first = await inboxRows(b, accountId, adminToken, `${label}-1`, webhooks);
    const second = await inboxRows(b, accountId, adminToken, `${label}-2`, webhooks);
    if (accountRows.webhook_id && b.has("GET", "/v1/accounts/{account_id}/webhooks/{webhook_id}/deliveries")) {
      first.rows.endpoint_delivery_id = await firstEndpointDelivery(accountId, adminToken, accountRows.webhook_id);
      second.rows.endpoint_delivery_id = await firstEndpointDelivery(accountId, adminToken, otherAccountRows.webhook_id!);
    }
    tenant.main = fixturesOf(account, { ...accountRows, ...first.rows });
    tenant.sibling = fixturesOf(otherAccount, { ...otherAccountRows, ...second.rows });
    tenant.inboxToken = first.inboxToken;
    tenant.siblingInboxToken = second.inboxToken;
    const member = await userWithToken(b, accountId, adminToken, "agent", `${label} member`);
    const outsider = await userWithToken(b, accountId, adminToken, "agent", `${label} outsider`);
    tenant.outsiderAgentToken = outsider.token;
    if (b.has("PUT", "/v1/accounts/{account_id}/inboxes/{inbox_id}/members")) {
      await must(
        api("PUT", `/v1/accounts/${accountId}/inboxes/${first.rows.inbox_id}/members`, {
          token: adminToken,
          body: { user_ids: [member.id] },
        }),
        "set inbox members",
      );
      tenant.memberAgentToken = member.token;
    }
  }
  return tenant;
}

/** Builds tenant a (and b for isolation checks), a revoked token, and waits until background work settles. */
export async function buildWorld(operations: Operation[], options: { tenants: 1 | 2; webhooks?: boolean }): Promise<World> {
  const b: Builder = {
    operations,
    secrets: new Set(),
    has: (method, path) => hasOperation(operations, method, path),
  };
  const webhooks = options.webhooks ?? true;
  const a = await buildTenant(b, "a", webhooks);
  const other = options.tenants === 2 ? await buildTenant(b, "b", webhooks) : undefined;
  const spare = await must(api("POST", `/v1/accounts/${a.accountId}/users/${a.adminId}/tokens`, { token: a.adminToken }), "spare token");
  await must(
    api("DELETE", `/v1/accounts/${a.accountId}/users/${a.adminId}/tokens/${spare.body.id}`, { token: a.adminToken }),
    "revoke token",
    [204],
  );
  b.secrets.add(spare.body.token);
  await waitForQuiet();
  return { a, b: other, revokedToken: spare.body.token, secrets: b.secrets };
}

/** Every table in D1 (from sqlite_master, so tables added later are counted too). */
export async function tableNames(): Promise<string[]> {
  const { results } = await allShards.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
  ).all<{ name: string }>();
  return results.map((row) => row.name);
}

/** Row counts of the given tables, in one query. */
export async function rowCounts(tables: string[]): Promise<Record<string, number>> {
  const columns = tables.map((table, i) => `(SELECT count(*) FROM "${table.replaceAll('"', '""')}") AS c${i}`).join(", ");
  const row = await allShards.prepare(`SELECT ${columns}`).first<Record<string, number>>();
  return Object.fromEntries(tables.map((table, i) => [table, row?.[`c${i}`] ?? -1]));
}

/** Waits until webhook deliveries started by the fixtures are done and row counts hold still. */
export async function waitForQuiet(timeoutMs = 20_000): Promise<void> {
  const tables = await tableNames();
  const deadline = Date.now() + timeoutMs;
  let last = "";
  let stableFor = 0;
  while (Date.now() < deadline) {
    const counts = JSON.stringify(await rowCounts(tables));
    const pending = tables.includes("webhook_deliveries")
      ? ((await allShards.prepare("SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'pending'").first<{ n: number }>())?.n ?? 0)
      : 0;
    stableFor = counts === last && pending === 0 ? stableFor + 1 : 0;
    if (stableFor >= 3) return;
    last = counts;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error("building fixtures: background work (webhook deliveries) did not settle within 20 s");
}
