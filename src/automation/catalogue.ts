// What a rule may say: its events, condition attributes and operators, and actions. Plain constants,
// shared by validation (at save time), the evaluator and the OpenAPI schemas. The events themselves are
// defined with the outbox (delivery/events.ts), which decides what goes to the engine.
import type { RuleEventName } from "../db/schema";
import { RULE_EVENTS } from "../delivery/events";

export { RULE_EVENTS };

export const OPERATORS = [
  "equal_to",
  "not_equal_to",
  "contains",
  "does_not_contain",
  "starts_with",
  "is_present",
  "is_not_present",
  "matches",
] as const;
export type Operator = (typeof OPERATORS)[number];

export const ACTIONS = [
  "assign_agent",
  "add_label",
  "remove_label",
  "send_message",
  "add_private_note",
  "change_status",
  "send_webhook_event",
] as const;
export type ActionName = (typeof ACTIONS)[number];

/** `matches` patterns are capped, and only this much of a value is searched (see docs/automation.md). */
export const MAX_PATTERN_LENGTH = 200;
export const MAX_MATCH_SUBJECT = 10_000;

/**
 * How an attribute's values compare: `text` (case-insensitive strings), `enum` (one of `options`),
 * `id` (an id of the account), `labels` (the conversation's label set), `custom` (a custom attribute:
 * strings, numbers or booleans, compared as text).
 */
export type AttributeKind = "text" | "enum" | "id" | "labels" | "custom";

export type AttributeSpec = {
  kind: AttributeKind;
  operators: readonly Operator[];
  /** Only rules on these events may use it (the others' events carry no message). */
  events?: readonly RuleEventName[];
  options?: readonly string[];
};

const ALL: readonly Operator[] = OPERATORS;
const EQUALITY: readonly Operator[] = ["equal_to", "not_equal_to"];
const PRESENCE: readonly Operator[] = ["equal_to", "not_equal_to", "is_present", "is_not_present"];

export const ATTRIBUTES: Record<string, AttributeSpec> = {
  content: { kind: "text", operators: ALL, events: ["message_created"] },
  message_type: { kind: "enum", operators: EQUALITY, events: ["message_created"], options: ["incoming", "outgoing"] },
  inbox_id: { kind: "id", operators: EQUALITY },
  status: { kind: "enum", operators: EQUALITY, options: ["open", "pending", "snoozed", "resolved"] },
  assignee_id: { kind: "id", operators: PRESENCE },
  labels: { kind: "labels", operators: PRESENCE },
  "contact.email": { kind: "text", operators: ALL },
  "contact.identifier": { kind: "text", operators: ALL },
};

export const CUSTOM_ATTRIBUTE = /^(contact|conversation)\.custom_attributes\.([^\s]{1,100})$/;
const CUSTOM_SPEC: AttributeSpec = { kind: "custom", operators: ALL };

/** The attribute's spec, or undefined when the attribute is unknown. */
export function attributeSpec(attribute: string): AttributeSpec | undefined {
  if (Object.hasOwn(ATTRIBUTES, attribute)) return ATTRIBUTES[attribute];
  return CUSTOM_ATTRIBUTE.test(attribute) ? CUSTOM_SPEC : undefined;
}
