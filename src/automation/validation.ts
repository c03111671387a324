// Save-time checks of a rule beyond its JSON shape: every problem is reported with the pointer of the
// rule part at fault (/conditions/1/operator, /actions/0/params/0), so a bad rule never reaches the
// engine. Ids the rule mentions are returned for the caller to look up in the account.
import type { RuleAction, RuleCondition, RuleEventName } from "../db/schema";
import { judgeWebhookUrl } from "../core/webhook-url";
import type { FieldError } from "../errors/problem";
import { ACTIONS, ATTRIBUTES, attributeSpec, OPERATORS, type ActionName } from "./catalogue";
import { patternProblem } from "./conditions";

export type RuleDraft = { event_name: RuleEventName; conditions: RuleCondition[]; actions: RuleAction[] };

/** Ids a rule refers to, each with where it appears; they must belong to the rule's account. */
export type References = { users: { id: string; pointer: string }[]; inboxes: { id: string; pointer: string }[] };

/** Account labels, as the agent API accepts them. */
export const LABEL_PATTERN = /^[a-z0-9_-]{1,50}$/;
export const MAX_MESSAGE_LENGTH = 10_000;
/** A snooze set by a rule lasts at most 90 days. */
export const MAX_SNOOZE_SECONDS = 90 * 24 * 60 * 60;
const STATUSES = ["open", "pending", "snoozed", "resolved"];

export function validateRule(rule: RuleDraft, options: { allowLoopback: boolean }): { errors: FieldError[]; references: References } {
  const errors: FieldError[] = [];
  const references: References = { users: [], inboxes: [] };
  const fail = (pointer: string, detail: string) => errors.push({ location: "body", pointer, detail });

  rule.conditions.forEach((condition, index) => {
    const at = `/conditions/${index}`;
    const spec = attributeSpec(condition.attribute);
    if (!spec) {
      fail(
        `${at}/attribute`,
        `unknown attribute '${condition.attribute}'; use one of ${Object.keys(ATTRIBUTES).join(", ")}, contact.custom_attributes.<key> or conversation.custom_attributes.<key>`,
      );
      return;
    }
    if (spec.events && !spec.events.includes(rule.event_name)) {
      fail(`${at}/attribute`, `'${condition.attribute}' is only available on ${spec.events.join(", ")} rules, not ${rule.event_name}`);
    }
    if (!(OPERATORS as readonly string[]).includes(condition.operator)) {
      fail(`${at}/operator`, `unknown operator '${condition.operator}'; use one of ${OPERATORS.join(", ")}`);
      return;
    }
    if (!spec.operators.includes(condition.operator as never)) {
      fail(`${at}/operator`, `'${condition.operator}' does not apply to ${condition.attribute}; use ${spec.operators.join(", ")}`);
      return;
    }
    const values = condition.values;
    if (condition.operator === "is_present" || condition.operator === "is_not_present") {
      if (values.length > 0) fail(`${at}/values`, `${condition.operator} takes no values; send []`);
      return;
    }
    if (values.length === 0) {
      fail(`${at}/values`, `${condition.operator} needs at least one value`);
      return;
    }
    if (condition.operator === "matches") {
      if (values.length !== 1) fail(`${at}/values`, "matches takes exactly one value: the regular expression");
      const pattern = values[0];
      if (typeof pattern !== "string") fail(`${at}/values/0`, "the regular expression must be a string");
      else {
        const problem = patternProblem(pattern);
        if (problem) fail(`${at}/values/0`, problem);
      }
      return;
    }
    values.forEach((value, position) => {
      const pointer = `${at}/values/${position}`;
      if (spec.kind === "custom") return;
      if (typeof value !== "string") {
        fail(pointer, `${condition.attribute} values must be strings`);
        return;
      }
      if (spec.kind === "enum" && !spec.options!.includes(value)) {
        fail(pointer, `'${value}' is not a ${condition.attribute}; use one of ${spec.options!.join(", ")}`);
      }
      if (spec.kind === "labels" && !LABEL_PATTERN.test(value)) {
        fail(pointer, "labels are 1–50 characters of a–z, 0–9, '_' and '-'");
      }
      if (condition.attribute === "assignee_id") references.users.push({ id: value, pointer });
      if (condition.attribute === "inbox_id") references.inboxes.push({ id: value, pointer });
    });
  });

  if (rule.actions.length === 0) fail("/actions", "a rule needs at least one action");
  rule.actions.forEach((action, index) => {
    const at = `/actions/${index}`;
    if (!(ACTIONS as readonly string[]).includes(action.name)) {
      fail(`${at}/name`, `unknown action '${action.name}'; use one of ${ACTIONS.join(", ")}`);
      return;
    }
    for (const problem of actionProblems(action.name as ActionName, action.params, options)) {
      fail(problem.index === undefined ? `${at}/params` : `${at}/params/${problem.index}`, problem.detail);
    }
    if (action.name === "assign_agent" && typeof action.params[0] === "string" && action.params[0] !== "round_robin") {
      references.users.push({ id: action.params[0], pointer: `${at}/params/0` });
    }
  });
  return { errors, references };
}

type ParamProblem = { index?: number; detail: string };

function actionProblems(name: ActionName, params: (string | number)[], options: { allowLoopback: boolean }): ParamProblem[] {
  const exactlyOneString = (what: string): ParamProblem[] => {
    if (params.length !== 1) return [{ detail: `${name} takes exactly one parameter: ${what}` }];
    if (typeof params[0] !== "string") return [{ index: 0, detail: `${what} must be a string` }];
    return [];
  };
  switch (name) {
    case "assign_agent":
      return exactlyOneString("a user id of the account, or \"round_robin\"");
    case "add_label":
    case "remove_label": {
      if (params.length === 0 || params.length > 20) return [{ detail: `${name} takes 1 to 20 labels` }];
      return params.flatMap((label, index) =>
        typeof label === "string" && LABEL_PATTERN.test(label)
          ? []
          : [{ index, detail: "labels are 1–50 characters of a–z, 0–9, '_' and '-'" }],
      );
    }
    case "send_message":
    case "add_private_note": {
      const problems = exactlyOneString("the message text");
      if (problems.length > 0) return problems;
      const text = params[0] as string;
      if (text.trim() === "") return [{ index: 0, detail: "the message text is empty" }];
      if (text.length > MAX_MESSAGE_LENGTH) return [{ index: 0, detail: `the message text is over ${MAX_MESSAGE_LENGTH} characters` }];
      return [];
    }
    case "change_status": {
      const status = params[0];
      if (typeof status !== "string" || !STATUSES.includes(status)) {
        return [{ index: 0, detail: `the first parameter is the status: one of ${STATUSES.join(", ")}` }];
      }
      if (status !== "snoozed") return params.length === 1 ? [] : [{ detail: `change_status to ${status} takes no second parameter` }];
      if (params.length > 2) return [{ detail: "change_status to snoozed takes at most a duration in seconds" }];
      const seconds = params[1];
      if (seconds !== undefined && (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_SNOOZE_SECONDS)) {
        return [{ index: 1, detail: `the snooze duration is a whole number of seconds from 1 to ${MAX_SNOOZE_SECONDS}` }];
      }
      return [];
    }
    case "send_webhook_event": {
      const problems = exactlyOneString("the URL to POST the event to");
      if (problems.length > 0) return problems;
      const verdict = judgeWebhookUrl(params[0] as string, options);
      return verdict.ok ? [] : [{ index: 0, detail: `webhook URL not allowed (rule '${verdict.rule}'): ${verdict.reason}; use a public https URL` }];
    }
  }
}

/** Each condition but the last joins the next with "and" unless it says "or"; the last joins nothing. */
export function normalizeConditions(conditions: { attribute: string; operator: string; values?: RuleCondition["values"]; query_operator?: "and" | "or" | null }[]): RuleCondition[] {
  return conditions.map((condition, index) => ({
    attribute: condition.attribute,
    operator: condition.operator,
    values: condition.values ?? [],
    query_operator: index === conditions.length - 1 ? null : (condition.query_operator ?? "and"),
  }));
}
