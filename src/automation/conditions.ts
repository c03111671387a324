// The condition evaluator: pure functions over an event's snapshot, so a rule decides on the state the
// event describes, never on whatever the conversation became later.
import type { Json, RuleCondition } from "../db/schema";
import { attributeSpec, CUSTOM_ATTRIBUTE, MAX_MATCH_SUBJECT, MAX_PATTERN_LENGTH } from "./catalogue";

/** What conditions can look at, taken from the event (and the contact when the event carries none). */
export type Facts = {
  inbox_id: string | null;
  message: { content: string | null; message_type: string } | null;
  conversation: { status: string; assignee_id: string | null; labels: string[]; custom_attributes: { [key: string]: Json } } | null;
  contact: { email: string | null; identifier: string | null; custom_attributes: { [key: string]: Json } } | null;
};

type Actual = Json | string[] | undefined;

export function resolveAttribute(attribute: string, facts: Facts): Actual {
  switch (attribute) {
    case "content":
      return facts.message?.content;
    case "message_type":
      return facts.message?.message_type;
    case "inbox_id":
      return facts.inbox_id;
    case "status":
      return facts.conversation?.status;
    case "assignee_id":
      return facts.conversation?.assignee_id;
    case "labels":
      return facts.conversation?.labels ?? [];
    case "contact.email":
      return facts.contact?.email;
    case "contact.identifier":
      return facts.contact?.identifier;
  }
  const custom = CUSTOM_ATTRIBUTE.exec(attribute);
  if (!custom) return undefined;
  const owner = custom[1] === "contact" ? facts.contact : facts.conversation;
  const attributes = owner?.custom_attributes ?? {};
  return Object.hasOwn(attributes, custom[2]!) ? attributes[custom[2]!] : undefined;
}

function isPresent(actual: Actual): boolean {
  if (actual === undefined || actual === null) return false;
  if (Array.isArray(actual)) return actual.length > 0;
  if (typeof actual === "string") return actual.trim() !== "";
  return true;
}

/** Scalars compare as text; objects and arrays of custom attributes as their JSON. */
function asText(actual: Actual): string | null {
  if (actual === undefined || actual === null) return null;
  if (typeof actual === "string") return actual;
  if (typeof actual === "number" || typeof actual === "boolean") return String(actual);
  return JSON.stringify(actual);
}

const lower = (value: string | number | boolean) => String(value).toLowerCase();

export function evaluateCondition(condition: RuleCondition, facts: Facts): boolean {
  const actual = resolveAttribute(condition.attribute, facts);
  const values = condition.values;
  switch (condition.operator) {
    case "is_present":
      return isPresent(actual);
    case "is_not_present":
      return !isPresent(actual);
  }
  if (attributeSpec(condition.attribute)?.kind === "labels") {
    const labels = Array.isArray(actual) ? actual.map(String) : [];
    const hasAny = values.some((value) => labels.includes(lower(value)));
    if (condition.operator === "equal_to") return hasAny;
    if (condition.operator === "not_equal_to") return !hasAny;
    return false;
  }
  const text = asText(actual);
  const subject = text === null ? null : text.toLowerCase();
  const any = (test: (subject: string, value: string) => boolean) => subject !== null && values.some((value) => test(subject, lower(value)));
  switch (condition.operator) {
    case "equal_to":
      return any((s, v) => s === v);
    case "not_equal_to":
      return !any((s, v) => s === v);
    case "contains":
      return any((s, v) => s.includes(v));
    case "does_not_contain":
      return !any((s, v) => s.includes(v));
    case "starts_with":
      return any((s, v) => s.startsWith(v));
    case "matches":
      return text !== null && compilePattern(String(values[0])).test(text.slice(0, MAX_MATCH_SUBJECT));
    default:
      return false;
  }
}

/**
 * Each condition's query_operator joins it to the next; AND binds tighter than OR, as in SQL (and in
 * Chatwoot, which turns the same list into a SQL WHERE): `a AND b OR c` is `(a AND b) OR c`. No
 * conditions match every event. Every condition is evaluated, so the trace can show each result.
 */
export function evaluateConditions(conditions: RuleCondition[], facts: Facts): { matched: boolean; results: boolean[] } {
  const results = conditions.map((condition) => evaluateCondition(condition, facts));
  if (conditions.length === 0) return { matched: true, results };
  let matched = false;
  let group = true;
  conditions.forEach((condition, index) => {
    group = group && results[index]!;
    const last = index === conditions.length - 1;
    if (last || condition.query_operator === "or") {
      matched = matched || group;
      group = true;
    }
  });
  return { matched, results };
}

/** Case-insensitive and Unicode-aware, like the other text operators. */
export function compilePattern(pattern: string): RegExp {
  return new RegExp(pattern, "iu");
}

// A quantified group that itself contains a quantifier — (a+)+, (\w*\s?)* — is the classic shape of
// catastrophic backtracking. A heuristic: it catches the common cases, not every slow pattern.
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*(?:[*+]|\{\d+,?\d*\})(?:[^()\\]|\\.)*\)(?:[*+]|\{\d+,?\d*\})/;

/** Why a `matches` pattern is refused at save time, or null when it is fine. */
export function patternProblem(pattern: string): string | null {
  if (pattern.length === 0) return "the pattern is empty";
  if (pattern.length > MAX_PATTERN_LENGTH) return `the pattern is ${pattern.length} characters; at most ${MAX_PATTERN_LENGTH} are allowed`;
  try {
    compilePattern(pattern);
  } catch (error) {
    return `not a valid regular expression: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (NESTED_QUANTIFIER.test(pattern)) {
    return "nested quantifiers such as (a+)+ can take exponential time; rewrite the pattern without a repeated group that repeats inside";
  }
  return null;
}
