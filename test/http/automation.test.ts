import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { sweep } from "../../src/delivery/sweeper";
import { faults } from "../../src/faults";
import worker from "../../src/index";
import { api, createTestAccount, createTestUser, expectProblem, type TestAccount, unique } from "../support/api";
import { count, createInboxToken, createTestInbox, sendMessage, setMembers, type TestInbox } from "../support/fixtures";
import { payloads, receiverPath, waitForPayloads } from "../support/receiver-client";
import { allShards, shardBindings } from "../support/shards";

const rulesPath = (account: TestAccount) => `/v1/accounts/${account.accountId}/automation_rules`;

async function setup(options: { webhookPath?: string; lockToSingleConversation?: boolean; autoAssignment?: boolean } = {}) {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account, options);
  const token = await createInboxToken(account, inbox);
  const agent = await createTestUser(account, "agent", "Ana");
  await setMembers(account, inbox, [agent.id]);
  return { account, inbox, token, agent };
}

async function createRule(account: TestAccount, body: Record<string, unknown>) {
  const res = await api("POST", rulesPath(account), { token: account.adminToken, body: { name: unique("rule"), ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; secret: string };
}

async function runs(account: TestAccount, ruleId: string, query = "") {
  const res = await api("GET", `${rulesPath(account)}/${ruleId}/runs${query}`, { token: account.adminToken });
  expect(res.status, res.text).toBe(200);
  return res.body.data as Array<Record<string, any>>;
}

/** Waits until the rule has `n` finished runs, and returns them (newest first). */
async function settledRuns(account: TestAccount, ruleId: string, n: number) {
  await expect
    .poll(async () => (await runs(account, ruleId)).filter((run) => run.state === "completed").length, { timeout: 15_000, interval: 100 })
    .toBeGreaterThanOrEqual(n);
  return runs(account, ruleId);
}

async function conversation(account: TestAccount, conversationId: string) {
  const res = await api("GET", `/v1/accounts/${account.accountId}/conversations/${conversationId}`, { token: account.adminToken });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function history(account: TestAccount, conversationId: string) {
  const res = await api("GET", `/v1/accounts/${account.accountId}/conversations/${conversationId}/messages?limit=100`, { token: account.adminToken });
  expect(res.status, res.text).toBe(200);
  return res.body.data as Array<Record<string, any>>;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Hands one automation message to the Worker's queue handler, as a redelivery would. */
async function deliverToConsumer(eventId: string) {
  const batch = createMessageBatch("edge-inbox-deliveries", [
    { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: { kind: "automation", eventId } },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch as never, env, ctx);
  return getQueueResult(batch, ctx);
}

describe("rules: create, read, change, delete", () => {
  it("lets administrators manage rules and shows the secret only on creation", async () => {
    const { account } = await setup();
    const created = await api("POST", rulesPath(account), {
      token: account.adminToken,
      body: {
        name: "Refunds",
        event_name: "message_created",
        conditions: [
          { attribute: "content", operator: "contains", values: ["refund"], query_operator: "or" },
          { attribute: "content", operator: "contains", values: ["return"] },
        ],
        actions: [{ name: "add_label", params: ["refund"] }],
      },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^rule_/),
      name: "Refunds",
      description: null,
      event_name: "message_created",
      active: true,
      conditions: [
        { attribute: "content", operator: "contains", values: ["refund"], query_operator: "or" },
        { attribute: "content", operator: "contains", values: ["return"], query_operator: null },
      ],
      actions: [{ name: "add_label", params: ["refund"] }],
      secret: expect.stringMatching(/^whsec_/),
    });
    const path = `${rulesPath(account)}/${created.body.id}`;
    const fetched = await api("GET", path, { token: account.adminToken });
    expect(fetched.status).toBe(200);
    expect(fetched.body.secret).toBeUndefined();
    expect(fetched.body.conditions).toEqual(created.body.conditions);

    const second = await createRule(account, { event_name: "conversation_created", actions: [{ name: "add_label", params: ["new"] }] });
    const list = await api("GET", `${rulesPath(account)}?limit=1`, { token: account.adminToken });
    expect(list.body.data.map((rule: { id: string }) => rule.id)).toEqual([created.body.id]);
    const next = await api("GET", `${rulesPath(account)}?limit=1&cursor=${list.body.next_cursor}`, { token: account.adminToken });
    expect(next.body.data.map((rule: { id: string }) => rule.id)).toEqual([second.id]);

    const patched = await api("PATCH", path, { token: account.adminToken, body: { active: false, description: "off for now" } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ active: false, description: "off for now", name: "Refunds", conditions: created.body.conditions });

    const rotated = await api("POST", `${path}/secret/rotate`, { token: account.adminToken });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);

    expect((await api("DELETE", path, { token: account.adminToken })).status).toBe(204);
    expectProblem(await api("GET", path, { token: account.adminToken }), 404, "automation_rule_not_found");
    expectProblem(await api("DELETE", path, { token: account.adminToken }), 404, "automation_rule_not_found");
    expectProblem(await api("GET", `${path}/runs`, { token: account.adminToken }), 404, "automation_rule_not_found");
  });

  it("is for administrators of the account only", async () => {
    const { account, agent } = await setup();
    const rule = await createRule(account, { event_name: "message_created", actions: [{ name: "add_label", params: ["x"] }] });
    const stranger = await createTestAccount();
    const body = { name: "x", event_name: "message_created", actions: [{ name: "add_label", params: ["x"] }] };
    expectProblem(await api("POST", rulesPath(account), { token: agent.token, body }), 403, "forbidden");
    expectProblem(await api("GET", rulesPath(account), { token: agent.token }), 403, "forbidden");
    expectProblem(await api("GET", `${rulesPath(account)}/${rule.id}/runs`, { token: agent.token }), 403, "forbidden");
    expectProblem(await api("GET", `${rulesPath(account)}/${rule.id}`, { token: stranger.adminToken }), 404, "account_not_found");
    expectProblem(await api("GET", `${rulesPath(stranger)}/${rule.id}`, { token: stranger.adminToken }), 404, "automation_rule_not_found");
    expectProblem(await api("PATCH", `${rulesPath(stranger)}/${rule.id}`, { token: stranger.adminToken, body: { active: false } }), 404, "automation_rule_not_found");
    expectProblem(await api("GET", rulesPath(account)), 401, "unauthorized");
  });
});

describe("invalid rules", () => {
  it("are refused with 422 naming the rule part at fault, and nothing is saved", async () => {
    const { account, inbox } = await setup();
    const stranger = await createTestAccount();
    const strangerInbox = await createTestInbox(stranger);
    const label = [{ name: "add_label", params: ["x"] }];
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["unknown attribute", { event_name: "message_created", conditions: [{ attribute: "subject", operator: "equal_to", values: ["x"] }], actions: label }, "/conditions/0/attribute"],
      [
        "unknown operator",
        {
          event_name: "message_created",
          conditions: [
            { attribute: "content", operator: "contains", values: ["x"] },
            { attribute: "content", operator: "sounds_like", values: ["x"] },
          ],
          actions: label,
        },
        "/conditions/1/operator",
      ],
      ["operator that does not fit", { event_name: "message_created", conditions: [{ attribute: "status", operator: "contains", values: ["o"] }], actions: label }, "/conditions/0/operator"],
      ["message attribute on a conversation event", { event_name: "conversation_created", conditions: [{ attribute: "content", operator: "contains", values: ["x"] }], actions: label }, "/conditions/0/attribute"],
      ["no values", { event_name: "message_created", conditions: [{ attribute: "content", operator: "contains", values: [] }], actions: label }, "/conditions/0/values"],
      ["wrong value type", { event_name: "message_created", conditions: [{ attribute: "content", operator: "contains", values: [42] }], actions: label }, "/conditions/0/values/0"],
      ["unknown status", { event_name: "message_created", conditions: [{ attribute: "status", operator: "equal_to", values: ["closed"] }], actions: label }, "/conditions/0/values/0"],
      ["broken regular expression", { event_name: "message_created", conditions: [{ attribute: "content", operator: "matches", values: ["(unclosed"] }], actions: label }, "/conditions/0/values/0"],
      ["regular expression too long", { event_name: "message_created", conditions: [{ attribute: "content", operator: "matches", values: ["a".repeat(201)] }], actions: label }, "/conditions/0/values/0"],
      ["explosive regular expression", { event_name: "message_created", conditions: [{ attribute: "content", operator: "matches", values: ["(a+)+$"] }], actions: label }, "/conditions/0/values/0"],
      ["another account's user in a condition", { event_name: "message_created", conditions: [{ attribute: "assignee_id", operator: "equal_to", values: [stranger.adminId] }], actions: label }, "/conditions/0/values/0"],
      ["another account's inbox", { event_name: "message_created", conditions: [{ attribute: "inbox_id", operator: "equal_to", values: [inbox.id, strangerInbox.id] }], actions: label }, "/conditions/0/values/1"],
      ["unknown action", { event_name: "message_created", actions: [{ name: "close_conversation", params: [] }] }, "/actions/0/name"],
      ["no actions", { event_name: "message_created", actions: [] }, "/actions"],
      ["bad label", { event_name: "message_created", actions: [{ name: "add_label", params: ["Has Space"] }] }, "/actions/0/params/0"],
      ["another account's user to assign", { event_name: "message_created", actions: label.concat([{ name: "assign_agent", params: [stranger.adminId] }]) }, "/actions/1/params/0"],
      ["unknown status to set", { event_name: "message_created", actions: [{ name: "change_status", params: ["closed"] }] }, "/actions/0/params/0"],
      ["snooze duration not in seconds", { event_name: "message_created", actions: [{ name: "change_status", params: ["snoozed", "1h"] }] }, "/actions/0/params/1"],
      ["two messages in one send_message", { event_name: "message_created", actions: [{ name: "send_message", params: ["a", "b"] }] }, "/actions/0/params"],
      ["webhook to a private address", { event_name: "message_created", actions: [{ name: "send_webhook_event", params: ["https://10.0.0.7/hook"] }] }, "/actions/0/params/0"],
      ["webhook to cloud metadata", { event_name: "message_created", actions: [{ name: "send_webhook_event", params: ["http://169.254.169.254/latest/meta-data"] }] }, "/actions/0/params/0"],
      ["unknown field", { event_name: "message_created", conditions: [{ attribute: "content", operator: "contains", value: ["x"] }], actions: label }, "/conditions/0"],
      ["unknown event", { event_name: "contact_created", actions: label }, "/event_name"],
    ];
    for (const [what, body, pointer] of cases) {
      const res = await api("POST", rulesPath(account), { token: account.adminToken, body: { name: what, ...body } });
      expectProblem(res, 422, "validation_failed");
      expect(res.body.errors.map((error: { pointer: string }) => error.pointer), what).toContain(pointer);
      expect(res.body.detail, what).toContain(pointer);
    }
    const webhook = await api("POST", rulesPath(account), {
      token: account.adminToken,
      body: { name: "x", event_name: "message_created", actions: [{ name: "send_webhook_event", params: ["https://10.0.0.7/hook"] }] },
    });
    expect(webhook.body.errors[0].detail).toMatch(/private_address/);
    expect(await count("SELECT count(*) AS n FROM automation_rules WHERE account_id = ?", account.accountId)).toBe(0);
  });

  it("validates a change against the whole rule", async () => {
    const { account } = await setup();
    const rule = await createRule(account, {
      event_name: "message_created",
      conditions: [{ attribute: "content", operator: "contains", values: ["x"] }],
      actions: [{ name: "add_label", params: ["x"] }],
    });
    const path = `${rulesPath(account)}/${rule.id}`;
    const res = await api("PATCH", path, { token: account.adminToken, body: { event_name: "conversation_created" } });
    expectProblem(res, 422, "validation_failed");
    expect(res.body.errors[0].pointer).toBe("/conditions/0/attribute");
    expect((await api("GET", path, { token: account.adminToken })).body.event_name).toBe("message_created");
    const ok = await api("PATCH", path, { token: account.adminToken, body: { event_name: "conversation_created", conditions: [] } });
    expect(ok.status, ok.text).toBe(200);
  });
});

describe("the engine", () => {
  it("applies each operator to the event's snapshot: matching rules act, the others do not", async () => {
    const { account, inbox, token } = await setup();
    const cases: Array<[string, string, unknown[], boolean]> = [
      ["content", "equal_to", ["please refund order #123"], true],
      ["content", "equal_to", ["refund"], false],
      ["content", "not_equal_to", ["hello"], true],
      ["content", "not_equal_to", ["Please refund order #123"], false],
      ["content", "contains", ["REFUND"], true],
      ["content", "contains", ["cancel"], false],
      ["content", "does_not_contain", ["cancel"], true],
      ["content", "does_not_contain", ["refund"], false],
      ["content", "starts_with", ["please"], true],
      ["content", "starts_with", ["refund"], false],
      ["content", "matches", ["order #\\d+$"], true],
      ["content", "matches", ["^refund"], false],
      ["contact.email", "is_present", [], true],
      ["contact.identifier", "is_present", [], false],
      ["contact.identifier", "is_not_present", [], true],
      ["contact.email", "is_not_present", [], false],
      ["contact.custom_attributes.plan", "equal_to", ["PRO"], true],
      ["contact.custom_attributes.seats", "equal_to", [5], true],
      ["conversation.custom_attributes.channel", "equal_to", ["web"], true],
      ["conversation.custom_attributes.channel", "equal_to", ["app"], false],
      ["message_type", "equal_to", ["incoming"], true],
      ["message_type", "equal_to", ["outgoing"], false],
      ["inbox_id", "equal_to", [inbox.id], true],
      ["status", "equal_to", ["open"], true],
      ["status", "not_equal_to", ["open"], false],
      ["assignee_id", "is_not_present", [], true],
      ["labels", "is_present", [], false],
    ];
    const rules = [];
    for (const [index, [attribute, operator, values]] of cases.entries()) {
      rules.push(
        await createRule(account, {
          event_name: "message_created",
          conditions: [{ attribute, operator, values }],
          actions: [{ name: "add_label", params: [`case-${index}`] }],
        }),
      );
    }
    const sent = await sendMessage(token, inbox, {
      contact: { source_id: "op-1", email: "maria@example.com", custom_attributes: { plan: "pro", seats: 5 } },
      conversation: { custom_attributes: { channel: "web" } },
      content: "Please refund order #123",
    });
    for (const rule of rules) await settledRuns(account, rule.id, 1);
    const expected = cases.flatMap(([, , , matches], index) => (matches ? [`case-${index}`] : [])).sort();
    expect((await conversation(account, sent.conversation.id)).labels).toEqual(expected);
    for (const [index, rule] of rules.entries()) {
      const [run] = await runs(account, rule.id);
      expect({ case: cases[index], matched: run!.matched }).toEqual({ case: cases[index], matched: cases[index]![3] });
    }
  });

  it("joins conditions with and / or, AND binding tighter, and shows each result in the trace", async () => {
    const { account, inbox, token } = await setup();
    const rule = await createRule(account, {
      event_name: "message_created",
      conditions: [
        { attribute: "content", operator: "contains", values: ["refund"], query_operator: "and" },
        { attribute: "contact.email", operator: "contains", values: ["@vip.example"], query_operator: "or" },
        { attribute: "content", operator: "contains", values: ["urgent"] },
      ],
      actions: [{ name: "add_label", params: ["priority"] }],
    });
    const vipRefund = await sendMessage(token, inbox, { contact: { source_id: "ao-1", email: "a@vip.example" }, content: "refund please" });
    const plainRefund = await sendMessage(token, inbox, { contact: { source_id: "ao-2", email: "b@example.com" }, content: "refund please" });
    const urgent = await sendMessage(token, inbox, { contact: { source_id: "ao-3", email: "c@example.com" }, content: "urgent!" });
    const vipHello = await sendMessage(token, inbox, { contact: { source_id: "ao-4", email: "d@vip.example" }, content: "hello" });
    await settledRuns(account, rule.id, 4);
    const labelsOf = async (id: string) => (await conversation(account, id)).labels;
    expect(await labelsOf(vipRefund.conversation.id)).toEqual(["priority"]);
    expect(await labelsOf(plainRefund.conversation.id)).toEqual([]);
    expect(await labelsOf(urgent.conversation.id)).toEqual(["priority"]);
    expect(await labelsOf(vipHello.conversation.id)).toEqual([]);

    const trace = await runs(account, rule.id);
    const byConversation = new Map(trace.map((run) => [run.conversation_id, run]));
    expect(byConversation.get(plainRefund.conversation.id)).toMatchObject({
      event_type: "message_created",
      state: "completed",
      matched: false,
      conditions: [
        { attribute: "content", operator: "contains", result: true },
        { attribute: "contact.email", operator: "contains", result: false },
        { attribute: "content", operator: "contains", result: false },
      ],
      actions: [],
      error: null,
    });
    expect(byConversation.get(urgent.conversation.id)).toMatchObject({
      matched: true,
      actions: [{ name: "add_label", params: ["priority"], result: "applied" }],
    });
    const matchedOnly = await runs(account, rule.id, "?matched=true");
    expect(matchedOnly.map((run) => run.conversation_id).sort()).toEqual([vipRefund.conversation.id, urgent.conversation.id].sort());
  });
});

describe("actions", () => {
  it("assigns, labels, notes and resolves through the agent paths: activity lines, events with an automation origin", async () => {
    const { account, inbox, token, agent } = await setup();
    const rule = await createRule(account, {
      event_name: "message_created",
      conditions: [{ attribute: "content", operator: "contains", values: ["invoice"] }],
      actions: [
        { name: "assign_agent", params: [agent.id] },
        { name: "add_label", params: ["billing", "invoice"] },
        { name: "add_private_note", params: ["Check the invoice system first."] },
        { name: "change_status", params: ["resolved"] },
      ],
    });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "act-1" }, content: "Where is my invoice?" });
    const [run] = await settledRuns(account, rule.id, 1);
    expect(run!.actions.map((action: { result: string }) => action.result)).toEqual(["applied", "applied", "applied", "applied"]);
    expect(await conversation(account, sent.conversation.id)).toMatchObject({
      assignee_id: agent.id,
      labels: ["billing", "invoice"],
      status: "resolved",
    });
    const lines = (await history(account, sent.conversation.id)).slice(1);
    expect(lines.map((m) => [m.message_type, m.private, m.content, m.sender.type])).toEqual([
      ["activity", false, "Assigned to Ana by automation", "automation"],
      ["activity", false, "automation added billing, invoice", "automation"],
      ["outgoing", true, "Check the invoice system first.", "automation"],
      ["activity", false, "Resolved by automation", "automation"],
    ]);
    const origins = await allShards.prepare("SELECT type, origin FROM events WHERE conversation_id = ? AND sequence > 2 ORDER BY sequence")
      .bind(sent.conversation.id)
      .all<{ type: string; origin: string }>();
    expect(origins.results.length).toBeGreaterThanOrEqual(7);
    for (const row of origins.results) expect(JSON.parse(row.origin)).toEqual({ type: "automation", id: rule.id, rule_id: rule.id });
  });

  it("removes labels, sets pending, and snoozes for a duration", async () => {
    const { account, inbox, token } = await setup();
    const rule = await createRule(account, {
      event_name: "conversation_updated",
      conditions: [{ attribute: "labels", operator: "equal_to", values: ["spam"] }],
      actions: [
        { name: "remove_label", params: ["spam"] },
        { name: "add_label", params: ["reviewed"] },
        { name: "change_status", params: ["snoozed", 3600] },
      ],
    });
    const pending = await createRule(account, {
      event_name: "message_created",
      conditions: [{ attribute: "content", operator: "starts_with", values: ["later"] }],
      actions: [{ name: "change_status", params: ["pending"] }],
    });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "act-2" }, content: "hello" });
    const path = `/v1/accounts/${account.accountId}/conversations/${sent.conversation.id}`;
    await api("POST", `${path}/labels`, { token: account.adminToken, body: { labels: ["spam", "keep"] } });
    await settledRuns(account, rule.id, 1);
    const after = await conversation(account, sent.conversation.id);
    expect(after.labels).toEqual(["keep", "reviewed"]);
    expect(after.status).toBe("snoozed");
    const until = Date.parse(after.snoozed_until);
    expect(until).toBeGreaterThan(Date.now() + 3500_000);
    expect(until).toBeLessThan(Date.now() + 3700_000);

    const other = await sendMessage(token, inbox, { contact: { source_id: "act-3" }, content: "later please" });
    await settledRuns(account, pending.id, 2);
    expect((await conversation(account, other.conversation.id)).status).toBe("pending");
  });

  it("sends a reply that reaches the integrator like an agent's, marked as the automation's", async () => {
    const webhookPath = await receiverPath();
    const { account, inbox, token } = await setup({ webhookPath });
    const rule = await createRule(account, {
      event_name: "conversation_created",
      actions: [{ name: "send_message", params: ["Thanks, we got your message."] }],
    });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "act-4" }, content: "hi" });
    await settledRuns(account, rule.id, 1);
    const arrived = await waitForPayloads(webhookPath, 1, "message_created");
    await expect
      .poll(async () => (await payloads(webhookPath, "message_created")).filter((item) => item.body.message.message_type === "outgoing").length)
      .toBe(1);
    const reply = (await payloads(webhookPath, "message_created")).find((item) => item.body.message.message_type === "outgoing")!;
    expect(arrived.length).toBeGreaterThanOrEqual(1);
    expect(reply.body).toMatchObject({
      conversation_id: sent.conversation.id,
      origin: { type: "automation", rule_id: rule.id },
      message: { content: "Thanks, we got your message.", private: false, sender: { type: "automation", id: rule.id }, status: "sent" },
    });
    expect(() => new Webhook(inbox.secret!).verify(reply.request.body, reply.request.headers)).not.toThrow();
  });

  it("records a failing action in the trace and still applies the others", async () => {
    const { account, inbox, token } = await setup();
    const outsider = await createTestUser(account, "agent", "Out");
    const rule = await createRule(account, {
      event_name: "message_created",
      actions: [
        { name: "assign_agent", params: [outsider.id] },
        { name: "add_label", params: ["seen"] },
      ],
    });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "act-5" }, content: "hi" });
    const [run] = await settledRuns(account, rule.id, 1);
    expect(run).toMatchObject({
      matched: true,
      actions: [
        { name: "assign_agent", result: "failed", detail: expect.stringContaining("not a member") },
        { name: "add_label", result: "applied" },
      ],
      error: expect.stringContaining("assign_agent"),
    });
    expect(await conversation(account, sent.conversation.id)).toMatchObject({ assignee_id: null, labels: ["seen"] });
  });

  it("POSTs the event to a rule's URL, signed with the rule's secret and retried like inbox webhooks", async () => {
    const hook = await receiverPath([{ status: 500 }]);
    const { account, inbox, token } = await setup();
    const rule = await createRule(account, {
      event_name: "message_created",
      actions: [{ name: "send_webhook_event", params: [`${env.RECEIVER_URL}${hook}`] }],
    });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "hook-1", name: "Maria" }, content: "ping" });
    const arrived = await waitForPayloads(hook, 2);
    expect(arrived).toHaveLength(2);
    const [first, second] = arrived;
    expect(second!.request.headers["webhook-id"]).toBe(first!.request.headers["webhook-id"]);
    const verifier = new Webhook(rule.secret);
    expect(() => verifier.verify(second!.request.body, second!.request.headers)).not.toThrow();
    expect(() => new Webhook(inbox.secret!).verify(second!.request.body, second!.request.headers)).toThrow();
    expect(second!.body).toMatchObject({
      id: second!.request.headers["webhook-id"],
      event: "message_created",
      conversation_id: sent.conversation.id,
      message: { id: sent.message.id, content: "ping" },
      contact: { name: "Maria" },
      origin: { type: "token" },
    });
    const [run] = await settledRuns(account, rule.id, 1);
    const deliveryId = /whd_\w+/.exec(run!.actions[0].detail)![0];
    // The inbox's delivery log shows it, with its attempts, as the rule's.
    const logged = async () =>
      (await api("GET", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}/deliveries`, { token: account.adminToken })).body.data.find(
        (delivery: { id: string }) => delivery.id === deliveryId,
      );
    await expect.poll(async () => (await logged())?.state).toBe("succeeded");
    expect(await logged()).toMatchObject({
      endpoint: rule.id,
      url: `${env.RECEIVER_URL}${hook}`,
      attempts: [{ status_code: 500 }, { status_code: 200 }],
    });
  });

  it("checks a rule's webhook URL again when sending", async () => {
    const { account, inbox, token } = await setup();
    const hook = await receiverPath();
    const rule = await createRule(account, {
      event_name: "message_created",
      actions: [{ name: "send_webhook_event", params: [`${env.RECEIVER_URL}${hook}`] }],
    });
    // As if the URL had been saved under an older, looser policy.
    await allShards.prepare("UPDATE automation_rules SET actions = ? WHERE id = ?")
      .bind(JSON.stringify([{ name: "send_webhook_event", params: ["https://192.168.1.10/hook"] }]), rule.id)
      .run();
    await sendMessage(token, inbox, { contact: { source_id: "hook-2" }, content: "ping" });
    const [run] = await settledRuns(account, rule.id, 1);
    const deliveryId = /whd_\w+/.exec(run!.actions[0].detail)![0];
    await expect
      .poll(async () => allShards.prepare("SELECT state, attempts, last_error FROM webhook_deliveries WHERE id = ?").bind(deliveryId).first())
      .toMatchObject({ state: "failed", attempts: 0, last_error: expect.stringContaining("private_address") });
  });
});

describe("which rules run", () => {
  it("runs only the active rules of the event's type in the event's account", async () => {
    const { account, inbox, token } = await setup();
    const other = await setup();
    const active = await createRule(account, { event_name: "message_created", actions: [{ name: "add_label", params: ["active"] }] });
    const inactive = await createRule(account, { event_name: "message_created", active: false, actions: [{ name: "add_label", params: ["inactive"] }] });
    const wrongEvent = await createRule(account, { event_name: "conversation_status_changed", actions: [{ name: "add_label", params: ["status"] }] });
    const foreign = await createRule(other.account, { event_name: "message_created", actions: [{ name: "add_label", params: ["foreign"] }] });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "which-1" }, content: "hi" });
    await settledRuns(account, active.id, 1);
    await pause(500);
    expect((await conversation(account, sent.conversation.id)).labels).toEqual(["active"]);
    expect(await runs(account, inactive.id)).toHaveLength(0);
    expect(await runs(account, wrongEvent.id)).toHaveLength(0);
    expect(await runs(other.account, foreign.id)).toHaveLength(0);
  });

  it("looks up the contact for conversation events that carry none", async () => {
    const { account, inbox, token } = await setup();
    const rule = await createRule(account, {
      event_name: "conversation_status_changed",
      conditions: [
        { attribute: "status", operator: "equal_to", values: ["resolved"] },
        { attribute: "contact.email", operator: "contains", values: ["@vip.example"] },
      ],
      actions: [{ name: "add_label", params: ["vip-resolved"] }],
    });
    const vip = await sendMessage(token, inbox, { contact: { source_id: "cs-1", email: "x@vip.example" }, content: "hi" });
    const plain = await sendMessage(token, inbox, { contact: { source_id: "cs-2", email: "y@example.com" }, content: "hi" });
    for (const id of [vip.conversation.id, plain.conversation.id]) {
      await api("POST", `/v1/accounts/${account.accountId}/conversations/${id}/status`, { token: account.adminToken, body: { status: "resolved" } });
    }
    await settledRuns(account, rule.id, 2);
    expect((await conversation(account, vip.conversation.id)).labels).toEqual(["vip-resolved"]);
    expect((await conversation(account, plain.conversation.id)).labels).toEqual([]);
  });

  it("stops a deleted rule's pending webhooks", async () => {
    const hook = await receiverPath([], { status: 503 });
    const { account, inbox, token } = await setup();
    const rule = await createRule(account, {
      event_name: "message_created",
      actions: [{ name: "send_webhook_event", params: [`${env.RECEIVER_URL}${hook}`] }],
    });
    await sendMessage(token, inbox, { contact: { source_id: "del-1" }, content: "hi" });
    await waitForPayloads(hook, 1);
    const [run] = await settledRuns(account, rule.id, 1);
    const deliveryId = /whd_\w+/.exec(run!.actions[0].detail)![0];
    expect((await api("DELETE", `${rulesPath(account)}/${rule.id}`, { token: account.adminToken })).status).toBe(204);
    await expect
      .poll(async () => allShards.prepare("SELECT state, last_error FROM webhook_deliveries WHERE id = ?").bind(deliveryId).first(), { timeout: 10_000 })
      .toMatchObject({ state: "failed", last_error: expect.stringContaining("deleted") });
    expect((await payloads(hook)).length).toBeLessThanOrEqual(2);
  });
});

describe("loop safety and exactly-once effects", () => {
  it("never lets an automation's own changes trigger rules: a self-triggering reply is sent once", async () => {
    const { account, inbox, token } = await setup();
    const replier = await createRule(account, { event_name: "message_created", actions: [{ name: "send_message", params: ["Auto-reply"] }] });
    const labeller = await createRule(account, { event_name: "conversation_updated", actions: [{ name: "add_label", params: ["touched"] }] });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "loop-1" }, content: "hello" });
    await settledRuns(account, replier.id, 1);
    await pause(1500);
    const replies = (await history(account, sent.conversation.id)).filter((m) => m.content === "Auto-reply");
    expect(replies).toHaveLength(1);
    expect(await runs(account, replier.id)).toHaveLength(1);
    // The labeller's own label change (conversation_updated) did not trigger it again either.
    const path = `/v1/accounts/${account.accountId}/conversations/${sent.conversation.id}`;
    await api("POST", `${path}/labels`, { token: account.adminToken, body: { labels: ["manual"] } });
    await settledRuns(account, labeller.id, 1);
    await pause(1000);
    expect(await runs(account, labeller.id)).toHaveLength(1);
    expect((await conversation(account, sent.conversation.id)).labels).toEqual(["manual", "touched"]);
    // An agent's reply is not an automation's: it does trigger the rule.
    await api("POST", `${path}/messages`, { token: account.adminToken, body: { content: "agent here" } });
    await settledRuns(account, replier.id, 2);
  });

  it("applies a rule once when the same event is delivered again, even concurrently", async () => {
    const { account, inbox, token, agent } = await setup();
    const other = await createTestUser(account, "agent", "Bia");
    await setMembers(account, inbox, [agent.id, other.id]);
    // A second round-robin turn would move the conversation to the other agent: only the claim prevents it.
    const rule = await createRule(account, {
      event_name: "message_created",
      actions: [
        { name: "assign_agent", params: ["round_robin"] },
        { name: "send_message", params: ["Only once"] },
        { name: "add_label", params: ["once"] },
      ],
    });
    const sent = await sendMessage(token, inbox, { contact: { source_id: "dup-1" }, content: "hello" });
    const event = await allShards.prepare("SELECT id FROM events WHERE conversation_id = ? AND type = 'message_created' ORDER BY sequence LIMIT 1")
      .bind(sent.conversation.id)
      .first<{ id: string }>();
    // The queue delivers it once by itself; deliver it three more times, two of them at once.
    const results = await Promise.all([deliverToConsumer(event!.id), deliverToConsumer(event!.id)]);
    await settledRuns(account, rule.id, 1);
    const again = await deliverToConsumer(event!.id);
    expect(again.explicitAcks).toHaveLength(1);
    for (const result of results) expect(result.explicitAcks.length + result.retryMessages.length).toBe(1);
    await pause(500);
    const messages = await history(account, sent.conversation.id);
    expect(messages.filter((m) => m.content === "Only once")).toHaveLength(1);
    expect(messages.filter((m) => m.message_type === "activity").map((m) => m.content)).toEqual([
      expect.stringMatching(/^Assigned to (Ana|Bia) by automation$/),
      "automation added once",
    ]);
    expect(await count("SELECT count(*) AS n FROM automation_runs WHERE event_id = ?", event!.id)).toBe(1);
    // Assignment and labels (conversation_updated + activity line each) and the reply.
    expect(await count("SELECT count(*) AS n FROM events WHERE conversation_id = ? AND origin LIKE '%automation%'", sent.conversation.id)).toBe(5);
  });

  it("runs rules for events whose queue hand-over failed, once the sweeper finds them", async () => {
    const { account, inbox, token } = await setup();
    const rule = await createRule(account, { event_name: "message_created", actions: [{ name: "add_label", params: ["swept"] }] });
    faults.arm("queue.send", Infinity);
    let sent;
    try {
      sent = await sendMessage(token, inbox, { contact: { source_id: "sweep-1" }, content: "hello" });
    } finally {
      faults.disarm("queue.send");
    }
    await pause(300);
    expect(await runs(account, rule.id)).toHaveLength(0);
    const report = await sweep(await shardBindings(account.accountId), { graceMs: 0 });
    expect(report.automation_queued).toBeGreaterThanOrEqual(1);
    await settledRuns(account, rule.id, 1);
    expect((await conversation(account, sent.conversation.id)).labels).toEqual(["swept"]);
  });
});

describe("auto-assignment", () => {
  async function team(options: { agents: number; limit?: number }) {
    const account = await createTestAccount();
    const inbox = await createTestInbox(account, { autoAssignment: true });
    if (options.limit !== undefined) {
      const res = await api("PATCH", `/v1/accounts/${account.accountId}/inboxes/${inbox.id}`, {
        token: account.adminToken,
        body: { max_assignment_limit: options.limit },
      });
      expect(res.status, res.text).toBe(200);
    }
    const token = await createInboxToken(account, inbox);
    const agents = [];
    for (let i = 0; i < options.agents; i++) agents.push(await createTestUser(account, "agent", `Agent ${i}`));
    await setMembers(account, inbox, agents.map((agent) => agent.id));
    return { account, inbox, token, agents };
  }

  async function openConversations(token: string, inbox: TestInbox, n: number, label = unique("c")) {
    const sent = await Promise.all(
      Array.from({ length: n }, (_, i) => sendMessage(token, inbox, { contact: { source_id: `${label}-${i}` }, content: "hi" })),
    );
    return sent.map((item) => item.conversation.id);
  }

  async function assignees(conversationIds: string[]) {
    const rows = await allShards.prepare(
      `SELECT assignee_id FROM conversations WHERE id IN (${conversationIds.map(() => "?").join(",")})`,
    )
      .bind(...conversationIds)
      .all<{ assignee_id: string | null }>();
    return rows.results.map((row) => row.assignee_id);
  }

  async function assignedCounts(conversationIds: string[], expectedAssigned: number) {
    await expect
      .poll(async () => (await assignees(conversationIds)).filter((id) => id !== null).length, { timeout: 25_000, interval: 200 })
      .toBe(expectedAssigned);
    const counts = new Map<string | null, number>();
    for (const id of await assignees(conversationIds)) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }

  it("spreads 100 conversations created at once over 4 agents evenly: 25 each", async () => {
    const { inbox, token, agents, account } = await team({ agents: 4 });
    const ids = await openConversations(token, inbox, 100);
    const counts = await assignedCounts(ids, 100);
    expect(agents.map((agent) => counts.get(agent.id))).toEqual([25, 25, 25, 25]);
    const lines = await history(account, ids[0]!);
    expect(lines.find((m) => m.message_type === "activity")!.content).toMatch(/^Assigned to Agent \d by auto-assignment$/);
  }, 60_000);

  it("skips unavailable agents and inboxes without auto_assignment", async () => {
    const { account, inbox, token, agents } = await team({ agents: 3 });
    const away = await api("PATCH", `/v1/accounts/${account.accountId}/users/${agents[1]!.id}`, {
      token: account.adminToken,
      body: { available: false },
    });
    expect(away.status, away.text).toBe(200);
    const ids = await openConversations(token, inbox, 6);
    const counts = await assignedCounts(ids, 6);
    expect([counts.get(agents[0]!.id), counts.get(agents[1]!.id), counts.get(agents[2]!.id)]).toEqual([3, undefined, 3]);

    const manual = await createTestInbox(account);
    const manualToken = await createInboxToken(account, manual);
    await setMembers(account, manual, [agents[0]!.id]);
    const [unassigned] = await openConversations(manualToken, manual, 1);
    await pause(800);
    expect(await assignees([unassigned!])).toEqual([null]);
  });

  it("respects max_assignment_limit of open conversations, also under concurrency, and frees a slot on resolve", async () => {
    const { account, inbox, token, agents } = await team({ agents: 2, limit: 2 });
    const ids = await openConversations(token, inbox, 6);
    await assignedCounts(ids, 4);
    await pause(800);
    const counts = await assignedCounts(ids, 4);
    expect([counts.get(agents[0]!.id), counts.get(agents[1]!.id), counts.get(null)]).toEqual([2, 2, 2]);

    const taken = ids[(await assignees(ids)).indexOf(agents[0]!.id)]!;
    const resolved = await api("POST", `/v1/accounts/${account.accountId}/conversations/${taken}/status`, {
      token: account.adminToken,
      body: { status: "resolved" },
    });
    expect(resolved.status, resolved.text).toBe(200);
    const [next] = await openConversations(token, inbox, 1);
    await expect.poll(async () => (await assignees([next!]))[0], { timeout: 10_000 }).toBe(agents[0]!.id);
  });

  it("never takes a conversation from an agent who already has it; a rule can still round-robin explicitly", async () => {
    const { account, inbox, token, agents } = await team({ agents: 2 });
    const rule = await createRule(account, {
      event_name: "message_created",
      conditions: [{ attribute: "content", operator: "equal_to", values: ["reassign"] }],
      actions: [{ name: "assign_agent", params: ["round_robin"] }],
    });
    const [id] = await openConversations(token, inbox, 1);
    await expect.poll(async () => (await assignees([id!]))[0]).not.toBeNull();
    const first = (await assignees([id!]))[0];
    const event = await allShards.prepare("SELECT id FROM events WHERE conversation_id = ? AND type = 'conversation_created'").bind(id).first<{ id: string }>();
    await deliverToConsumer(event!.id);
    expect((await assignees([id!]))[0]).toBe(first);

    await api("POST", `/v1/inboxes/${inbox.identifier}/conversations/${id}/messages`, { token, body: { content: "reassign" } });
    const trace = await settledRuns(account, rule.id, 2);
    expect(trace.map((run) => run.matched)).toEqual([true, false]);
    expect(trace[0]!.actions[0]).toMatchObject({ result: "applied", detail: expect.stringContaining("round robin") });
    const second = (await assignees([id!]))[0];
    expect(agents.map((agent) => agent.id)).toContain(second);
    expect(second).not.toBe(first);
  });
});
