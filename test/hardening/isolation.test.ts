// The tenant-isolation matrix, generated from GET /openapi.json: every operation that needs a token is
// called by strangers (no token, a revoked token, another account, another inbox's token, an agent
// outside the inbox, and with ids of another tenant or inbox mixed into an otherwise valid URL) and must
// refuse them without revealing whether the resource exists. Then every operation is called by its owner
// with the same fixtures, so a refusal above cannot come from a broken fixture.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, TEST_PLATFORM_TOKEN, type ApiResponse } from "../support/api";
import { exampleValue, fillPath, flattenAllOf, loadDocument, type Doc, type Operation, type Schema } from "./openapi";
import { shardOf } from "../support/shards";
import { buildWorld, fixtureValue, paramsFor, SERVER_ISSUED, type Fixtures, type World } from "./world";

const { doc, operations } = await loadDocument();
const secured = operations.filter((op) => op.secured);

let world: World;
beforeAll(async () => {
  world = await buildWorld(operations, { tenants: 2 });
}, 120_000);

type Scope = "account" | "inbox" | "accountless";

function scopeOf(op: Operation): Scope {
  if (op.pathParams.includes("inbox_identifier")) return "inbox";
  if (op.pathParams.includes("account_id")) return "account";
  if (op.platformOnly) return "accountless";
  throw new Error(
    `${op.id} (${op.method} ${op.path}) takes a user or inbox token but has no account_id or inbox_identifier in its path: ` +
      "whose data is it? Put the tenant in the path, or make it an operator operation (security: platformSecurity)",
  );
}

/**
 * Calls with a body the schema accepts (its examples), so a refusal cannot come from validation running
 * before the look-up: the route has to find, or not find, the resource.
 */
function call(op: Operation, token: string | undefined, fixtures: Fixtures): Promise<ApiResponse> {
  const body = op.body ? localWebhooks(exampleValue(doc, op.body.schema)) : undefined;
  return api(op.method, fillPath(op, paramsFor(fixtures, op)), { token, body });
}

/** The host of the document's example webhook URLs (an inbox's webhook_url, an account endpoint's url). */
const EXAMPLE_ENDPOINT = "https://integrator.example.com/";

/** Webhook URLs from the document's examples point at the test receiver, not at hosts this machine cannot reach. */
function localWebhooks(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(localWebhooks);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      typeof inner === "string" && (/(webhook|callback)_url$/.test(key) || inner.startsWith(EXAMPLE_ENDPOINT))
        ? `${env.RECEIVER_URL}/isolation`
        : localWebhooks(inner),
    ]),
  );
}

function describeCall(op: Operation, who: string, res: ApiResponse) {
  return `${op.method} ${op.path} by ${who}: ${res.status} ${res.text}`;
}

function expectProblemStatus(op: Operation, who: string, res: ApiResponse, status: number, code?: string) {
  expect(res.status, describeCall(op, who, res)).toBe(status);
  expect(res.headers.get("content-type"), describeCall(op, who, res)).toBe("application/problem+json");
  if (code) expect(res.body.code, describeCall(op, who, res)).toBe(code);
}

/**
 * A stranger's call must look like the resource does not exist: 404 `…_not_found`. A 403 is accepted
 * only when the rightful counterpart gets the same 403 (the operation is closed to that kind of caller
 * altogether, e.g. administrator-only or operator-only), because then it reveals nothing.
 */
async function expectHidden(op: Operation, who: string, res: ApiResponse, counterpart: () => Promise<ApiResponse>) {
  if (res.status === 403) {
    const rightful = await counterpart();
    expect(rightful.status, `${describeCall(op, who, res)}\nbut the rightful caller got ${rightful.status}: a 403 only for strangers tells them the resource exists`).toBe(403);
    expectProblemStatus(op, who, res, 403, "forbidden");
    return;
  }
  expectProblemStatus(op, who, res, 404);
  expect(res.body.code, describeCall(op, who, res)).toMatch(/_not_found$/);
}

/** Server-issued ids in the path other than the scope itself (the account or inbox in the URL). */
function idParams(op: Operation): string[] {
  return op.pathParams.filter((name) => SERVER_ISSUED.has(name) && name !== "account_id" && name !== "inbox_identifier");
}

it("walks a document with operations that need a token, and fails a path parameter without a fixture", () => {
  expect(secured.length).toBeGreaterThan(5);
  const unknown = { ...secured[0]!, path: "/v1/accounts/{account_id}/widgets/{widget_id}", pathParams: ["account_id", "widget_id"] };
  expect(() => paramsFor(world.a.main, unknown)).toThrow("add a fixture for widget_id");
});

describe("strangers are refused", () => {
  it("across the shard boundary: the two tenants live on different shard databases", async () => {
    // Placement puts the second account on the emptier shard, so every "another account" case below is
    // also a case of a request carrying another shard's ids (docs/scaling.md).
    expect(await shardOf(world.a.accountId)).not.toBe(await shardOf(world.b!.accountId));
  });

  it.each(secured.map((op) => [`${op.id}: ${op.method} ${op.path}`, op] as const))("%s", async (_, op) => {
    const scope = scopeOf(op);
    const { a, b } = world;

    expectProblemStatus(op, "no token", await call(op, undefined, a.main), 401, "unauthorized");
    expectProblemStatus(op, "a revoked token", await call(op, world.revokedToken, a.main), 401, "invalid_token");
    if (scope === "accountless") return;

    // Another account's administrator, on this account's URL.
    await expectHidden(op, "another account's administrator", await call(op, b!.adminToken, a.main), () =>
      call(op, a.adminToken, a.main),
    );
    // Another account's administrator, on its own account or inbox, naming one of this account's ids.
    for (const name of idParams(op)) {
      const mixed = { ...b!.main, [name]: fixtureValue(a.main, name, op)! };
      await expectHidden(op, `another account with this account's ${name}`, await call(op, b!.adminToken, mixed), () =>
        call(op, b!.adminToken, b!.main),
      );
    }
    // Within the account: a child id that belongs to another parent (another inbox's conversation,
    // another user's token) is unknown under this parent.
    const [parent, ...children] = idParams(op);
    for (const name of children) {
      const other = fixtureValue(a.sibling, name, op)!;
      if (other === fixtureValue(a.main, name, op)) continue;
      const token = scope === "inbox" && a.inboxToken ? a.inboxToken : a.adminToken;
      const mixed = { ...a.main, [name]: other };
      await expectHidden(op, `its owner naming another ${parent}'s ${name}`, await call(op, token, mixed), () =>
        call(op, token, a.main),
      );
    }
    if (scope === "inbox" && a.siblingInboxToken) {
      await expectHidden(op, "another inbox's token", await call(op, a.siblingInboxToken, a.main), () =>
        call(op, a.inboxToken, a.main),
      );
      for (const name of idParams(op)) {
        const mixed = { ...a.sibling, [name]: fixtureValue(a.main, name, op)! };
        await expectHidden(op, `another inbox's token with this inbox's ${name}`, await call(op, a.siblingInboxToken, mixed), () =>
          call(op, a.siblingInboxToken, a.sibling),
        );
      }
    }
    if (scope === "account" && a.inboxToken) {
      const res = await call(op, a.inboxToken, a.main);
      expect([403, 404], describeCall(op, "an inbox token on an account route", res)).toContain(res.status);
    }
    const inboxBound = scope === "inbox" || op.pathParams.some((name) => ["inbox_id", "conversation_id", "contact_id", "message_id", "delivery_id"].includes(name));
    if (inboxBound && a.outsiderAgentToken && a.memberAgentToken) {
      await expectHidden(op, "an agent who is not in the inbox", await call(op, a.outsiderAgentToken, a.main), () =>
        call(op, a.memberAgentToken, a.main),
      );
    }
  });
});

/** Where an operation's body names a contact identifier: ["identifier"] or ["contact", "identifier"]; null if nowhere. */
function identifierPath(schema: Schema | undefined, document: Doc = doc, prefix: string[] = []): string[] | null {
  if (!schema || prefix.length > 2) return null;
  const properties = flattenAllOf(document, schema)?.properties ?? {};
  if ("identifier" in properties) return [...prefix, "identifier"];
  for (const [name, property] of Object.entries<Schema>(properties)) {
    const found = identifierPath(property, document, [...prefix, name]);
    if (found) return found;
  }
  return null;
}

function withValue(body: unknown, path: string[], value: string): unknown {
  const copy = structuredClone((body ?? {}) as Record<string, any>);
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] = typeof node[key] === "object" && node[key] !== null ? node[key] : {};
  node[path[path.length - 1]!] = value;
  return copy;
}

/**
 * Issue 19: an inbox token reaches only the contacts of its own inbox. Every integrator operation whose
 * body names a contact identifier is called with another inbox's token and this inbox's (verified)
 * identifier: the answer must not carry this inbox's contact, and the contact must not change.
 */
describe("a known identifier does not reach another inbox's contact without proof", () => {
  const claiming = secured.filter((op) => scopeOf(op) === "inbox" && op.method !== "GET" && identifierPath(op.body?.schema));
  it("finds the operations that take an identifier", () => {
    expect(claiming.map((op) => op.id)).toEqual(expect.arrayContaining(["upsertContact", "receiveMessage"]));
  });
  it.each(claiming.map((op) => [`${op.id}: ${op.method} ${op.path}`, op] as const))("%s", async (_, op) => {
    const { a } = world;
    const identifier = fixtureValue(a.main, "contact_identifier", op)!;
    const contactId = fixtureValue(a.main, "contact_id", op)!;
    const email = fixtureValue(a.main, "contact_email", op)!;
    const sourceId = fixtureValue(a.main, "source_id", op)!;
    const read = () => api("GET", `/v1/inboxes/${encodeURIComponent(fixtureValue(a.main, "inbox_identifier", op)!)}/contacts/${sourceId}`, { token: a.adminToken });
    const before = await read();
    expect(before.status, before.text).toBe(200);
    for (const fresh of [false, true]) {
      // The second inbox's existing contact, and a source id it has never used.
      const fixtures = fresh ? { ...a.sibling, source_id: `probe-${Date.now()}` } : a.sibling;
      let body = withValue(localWebhooks(exampleValue(doc, op.body!.schema)), identifierPath(op.body!.schema)!, identifier);
      body = withValue(body, [...identifierPath(op.body!.schema)!.slice(0, -1), "email"], "attacker@example.com");
      const res = await api(op.method, fillPath(op, paramsFor(fixtures, op)), { token: a.siblingInboxToken, body });
      expect(res.status, describeCall(op, "another inbox's token naming this inbox's identifier", res)).toBeLessThan(500);
      expect(res.text.includes(contactId), describeCall(op, "another inbox's token naming this inbox's identifier", res)).toBe(false);
      expect(res.text.includes(email), describeCall(op, "another inbox's token naming this inbox's identifier", res)).toBe(false);
    }
    const after = await read();
    expect(after.body, "the contact changed through another inbox's token").toEqual(before.body);
  });
});

/** Deleting routes last, deepest first, so one does not remove what another still needs. */
function controlOrder(ops: Operation[]): Operation[] {
  const depth = (op: Operation) => op.path.split("/").length;
  const deletes = ops.filter((op) => op.method === "DELETE").sort((x, y) => depth(y) - depth(x));
  return [...ops.filter((op) => op.method !== "DELETE"), ...deletes];
}

describe("owners get through with the same fixtures (controls for the refusals above)", () => {
  it.each(controlOrder(secured).map((op) => [`${op.id}: ${op.method} ${op.path}`, op] as const))("%s", async (_, op) => {
    const scope = scopeOf(op);
    const { a, b } = world;
    const bases: [string, string | undefined, Fixtures][] = op.platformOnly
      ? [
          ["the platform", TEST_PLATFORM_TOKEN, a.main],
          ["the platform (other account)", TEST_PLATFORM_TOKEN, b!.main],
        ]
      : [
            ["its administrator", a.adminToken, a.main],
            ["its administrator (second inbox)", a.adminToken, a.sibling],
            ["the other account's administrator", b!.adminToken, b!.main],
          ];
    if (scope === "inbox" && a.inboxToken) bases.push(["its inbox token", a.inboxToken, a.main]);
    if (scope === "inbox" && a.siblingInboxToken) bases.push(["the second inbox's token", a.siblingInboxToken, a.sibling]);
    for (const [who, token, fixtures] of bases) {
      const res = await call(op, token, fixtures);
      expect([401, 403, 404], describeCall(op, who, res)).not.toContain(res.status);
      expect(res.status, describeCall(op, who, res)).toBeLessThan(500);
      if (op.method === "GET") {
        for (const secret of world.secrets) {
          expect(res.text.includes(secret), `${describeCall(op, who, res)}\nreturns a secret that was shown once already`).toBe(false);
        }
      }
    }
  });
});
