import { describe, expect, it } from "vitest";
import { evaluateCondition, evaluateConditions, patternProblem, type Facts } from "../../src/automation/conditions";
import { validateRule } from "../../src/automation/validation";
import type { RuleCondition } from "../../src/db/schema";

const facts: Facts = {
  inbox_id: "inb_1",
  message: { content: "Please REFUND order #123", message_type: "incoming" },
  conversation: { status: "open", assignee_id: null, labels: ["vip", "billing"], custom_attributes: { priority: "High", score: 7, flagged: true } },
  contact: { email: "maria@example.com", identifier: null, custom_attributes: { plan: "pro", tags: ["a", "b"] } },
};

const when = (attribute: string, operator: string, values: RuleCondition["values"] = []): RuleCondition => ({
  attribute,
  operator,
  values,
  query_operator: null,
});

describe("operators", () => {
  it.each([
    // attribute, operator, values, expected
    ["content", "equal_to", ["please refund order #123"], true],
    ["content", "equal_to", ["refund"], false],
    ["content", "equal_to", ["nope", "PLEASE REFUND ORDER #123"], true],
    ["content", "not_equal_to", ["refund"], true],
    ["content", "not_equal_to", ["please refund order #123"], false],
    ["content", "contains", ["refund"], true],
    ["content", "contains", ["cancel", "ORDER"], true],
    ["content", "contains", ["cancel"], false],
    ["content", "does_not_contain", ["cancel"], true],
    ["content", "does_not_contain", ["cancel", "refund"], false],
    ["content", "starts_with", ["please"], true],
    ["content", "starts_with", ["refund"], false],
    ["content", "is_present", [], true],
    ["content", "is_not_present", [], false],
    ["content", "matches", ["order #\\d{3}$"], true],
    ["content", "matches", ["^refund"], false],
    ["message_type", "equal_to", ["incoming"], true],
    ["message_type", "not_equal_to", ["incoming"], false],
    ["inbox_id", "equal_to", ["inb_1"], true],
    ["inbox_id", "equal_to", ["inb_2"], false],
    ["status", "equal_to", ["open", "pending"], true],
    ["status", "not_equal_to", ["open"], false],
    ["assignee_id", "is_present", [], false],
    ["assignee_id", "is_not_present", [], true],
    ["assignee_id", "not_equal_to", ["usr_1"], true],
    ["labels", "equal_to", ["vip"], true],
    ["labels", "equal_to", ["spam", "billing"], true],
    ["labels", "equal_to", ["spam"], false],
    ["labels", "not_equal_to", ["spam"], true],
    ["labels", "not_equal_to", ["vip"], false],
    ["labels", "is_present", [], true],
    ["contact.email", "contains", ["@example.com"], true],
    ["contact.email", "starts_with", ["ana"], false],
    ["contact.identifier", "is_present", [], false],
    ["contact.identifier", "is_not_present", [], true],
    ["contact.identifier", "equal_to", ["x"], false],
    ["contact.identifier", "not_equal_to", ["x"], true],
    ["contact.identifier", "does_not_contain", ["x"], true],
    ["contact.identifier", "matches", [".*"], false],
    ["contact.custom_attributes.plan", "equal_to", ["PRO"], true],
    ["contact.custom_attributes.missing", "is_not_present", [], true],
    ["contact.custom_attributes.missing", "equal_to", ["x"], false],
    ["contact.custom_attributes.tags", "contains", ['"a"'], true],
    ["conversation.custom_attributes.priority", "equal_to", ["high"], true],
    ["conversation.custom_attributes.score", "equal_to", [7], true],
    ["conversation.custom_attributes.score", "equal_to", ["7"], true],
    ["conversation.custom_attributes.flagged", "equal_to", [true], true],
    ["conversation.custom_attributes.flagged", "equal_to", [false], false],
  ] as const)("%s %s %j → %s", (attribute, operator, values, expected) => {
    expect(evaluateCondition(when(attribute, operator, [...values]), facts)).toBe(expected);
  });

  it("treats an empty string and an empty label set as not present", () => {
    const empty: Facts = { ...facts, message: { content: "  ", message_type: "incoming" }, conversation: { ...facts.conversation!, labels: [] } };
    expect(evaluateCondition(when("content", "is_present"), empty)).toBe(false);
    expect(evaluateCondition(when("labels", "is_not_present"), empty)).toBe(true);
  });

  it("evaluates message attributes on events without a message as absent", () => {
    const noMessage: Facts = { ...facts, message: null };
    expect(evaluateCondition(when("content", "is_not_present"), noMessage)).toBe(true);
    expect(evaluateCondition(when("content", "contains", ["x"]), noMessage)).toBe(false);
    expect(evaluateCondition(when("content", "does_not_contain", ["x"]), noMessage)).toBe(true);
  });
});

describe("and / or", () => {
  const T = when("status", "equal_to", ["open"]);
  const F = when("status", "equal_to", ["resolved"]);
  const chain = (...parts: (RuleCondition | "and" | "or")[]) => {
    const conditions: RuleCondition[] = [];
    for (const part of parts) {
      if (typeof part === "string") conditions[conditions.length - 1]!.query_operator = part;
      else conditions.push({ ...part });
    }
    return conditions;
  };

  it.each([
    ["T", chain(T), true],
    ["F", chain(F), false],
    ["T and T", chain(T, "and", T), true],
    ["T and F", chain(T, "and", F), false],
    ["F or T", chain(F, "or", T), true],
    ["F or F", chain(F, "or", F), false],
    // AND binds tighter than OR: (F and T) or T, not F and (T or T).
    ["F and T or T", chain(F, "and", T, "or", T), true],
    // T or (F and F), not (T or F) and F.
    ["T or F and F", chain(T, "or", F, "and", F), true],
    ["F or T and F", chain(F, "or", T, "and", F), false],
    ["F and T or F and T", chain(F, "and", T, "or", F, "and", T), false],
    ["F and T or T and T", chain(F, "and", T, "or", T, "and", T), true],
  ] as const)("%s → %s", (_label, conditions, expected) => {
    expect(evaluateConditions([...conditions], facts).matched).toBe(expected);
  });

  it("reports every condition's result, and matches every event without conditions", () => {
    expect(evaluateConditions(chain(T, "or", F), facts)).toEqual({ matched: true, results: [true, false] });
    expect(evaluateConditions([], facts)).toEqual({ matched: true, results: [] });
  });

  it("defaults a missing join to and", () => {
    const conditions = [
      { ...T, query_operator: undefined as never },
      { ...F, query_operator: null },
    ];
    expect(evaluateConditions(conditions, facts).matched).toBe(false);
  });
});

describe("matches patterns at save time", () => {
  it("accepts ordinary patterns and refuses broken, long or explosive ones", () => {
    expect(patternProblem("order #\\d+")).toBeNull();
    expect(patternProblem("^(refund|return)s?$")).toBeNull();
    expect(patternProblem("(")).toMatch(/not a valid regular expression/);
    expect(patternProblem("a".repeat(201))).toMatch(/at most 200/);
    expect(patternProblem("")).toMatch(/empty/);
    expect(patternProblem("(a+)+$")).toMatch(/nested quantifiers/);
    expect(patternProblem("(\\w*\\s?)*x")).toMatch(/nested quantifiers/);
    expect(patternProblem("(x{2,})+")).toMatch(/nested quantifiers/);
  });
});

describe("rule validation", () => {
  const valid = { event_name: "message_created" as const, conditions: [], actions: [{ name: "add_label", params: ["x"] }] };
  const pointers = (rule: Parameters<typeof validateRule>[0]) => validateRule(rule, { allowLoopback: false }).errors.map((error) => error.pointer);

  it("names the rule part at fault", () => {
    expect(pointers(valid)).toEqual([]);
    expect(pointers({ ...valid, conditions: [when("subject", "equal_to", ["x"])] })).toEqual(["/conditions/0/attribute"]);
    expect(pointers({ ...valid, event_name: "conversation_created", conditions: [when("content", "contains", ["x"])] })).toEqual(["/conditions/0/attribute"]);
    expect(pointers({ ...valid, conditions: [when("status", "equal_to", ["open"]), when("status", "contains", ["o"])] })).toEqual(["/conditions/1/operator"]);
    expect(pointers({ ...valid, conditions: [when("status", "like", ["o"])] })).toEqual(["/conditions/0/operator"]);
    expect(pointers({ ...valid, conditions: [when("status", "equal_to", [])] })).toEqual(["/conditions/0/values"]);
    expect(pointers({ ...valid, conditions: [when("status", "equal_to", ["closed"])] })).toEqual(["/conditions/0/values/0"]);
    expect(pointers({ ...valid, conditions: [when("content", "contains", ["ok", 5])] })).toEqual(["/conditions/0/values/1"]);
    expect(pointers({ ...valid, conditions: [when("labels", "equal_to", ["Not A Label"])] })).toEqual(["/conditions/0/values/0"]);
    expect(pointers({ ...valid, conditions: [when("assignee_id", "is_present", ["usr_1"])] })).toEqual(["/conditions/0/values"]);
    expect(pointers({ ...valid, conditions: [when("content", "matches", ["a", "b"])] })).toEqual(["/conditions/0/values"]);
    expect(pointers({ ...valid, actions: [] })).toEqual(["/actions"]);
    expect(pointers({ ...valid, actions: [{ name: "close", params: [] }] })).toEqual(["/actions/0/name"]);
    expect(pointers({ ...valid, actions: [{ name: "send_message", params: ["a", "b"] }] })).toEqual(["/actions/0/params"]);
    expect(pointers({ ...valid, actions: [{ name: "send_message", params: ["   "] }] })).toEqual(["/actions/0/params/0"]);
    expect(pointers({ ...valid, actions: [{ name: "add_label", params: ["ok", "NOT OK"] }] })).toEqual(["/actions/0/params/1"]);
    expect(pointers({ ...valid, actions: [{ name: "assign_agent", params: [42] }] })).toEqual(["/actions/0/params/0"]);
    expect(pointers({ ...valid, actions: [{ name: "change_status", params: ["closed"] }] })).toEqual(["/actions/0/params/0"]);
    expect(pointers({ ...valid, actions: [{ name: "change_status", params: ["resolved", 60] }] })).toEqual(["/actions/0/params"]);
    expect(pointers({ ...valid, actions: [{ name: "change_status", params: ["snoozed", "1h"] }] })).toEqual(["/actions/0/params/1"]);
    expect(pointers({ ...valid, actions: [{ name: "change_status", params: ["snoozed", 0] }] })).toEqual(["/actions/0/params/1"]);
    expect(pointers({ ...valid, actions: [{ name: "change_status", params: ["snoozed", 3600] }] })).toEqual([]);
    expect(pointers({ ...valid, actions: [{ name: "send_webhook_event", params: ["http://169.254.169.254/latest"] }] })).toEqual(["/actions/0/params/0"]);
    expect(pointers({ ...valid, actions: [{ name: "send_webhook_event", params: ["https://hooks.example.com/x"] }] })).toEqual([]);
  });

  it("collects the user and inbox ids a rule names, for the account check", () => {
    const { references } = validateRule(
      {
        ...valid,
        conditions: [when("inbox_id", "equal_to", ["inb_1"]), when("assignee_id", "equal_to", ["usr_1"])],
        actions: [{ name: "assign_agent", params: ["usr_2"] }, { name: "assign_agent", params: ["round_robin"] }],
      },
      { allowLoopback: false },
    );
    expect(references).toEqual({
      inboxes: [{ id: "inb_1", pointer: "/conditions/0/values/0" }],
      users: [
        { id: "usr_1", pointer: "/conditions/1/values/0" },
        { id: "usr_2", pointer: "/actions/0/params/0" },
      ],
    });
  });
});
