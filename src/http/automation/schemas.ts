import { z } from "@hono/zod-openapi";
import { ACTIONS, ATTRIBUTES, OPERATORS, RULE_EVENTS } from "../../domain/automation-rules";
import { AccountParams } from "../users/schemas";
import { pathParam } from "../openapi";

export const RuleParams = AccountParams.extend({
  rule_id: pathParam("rule_id").openapi({ example: "rule_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
});

const ConditionValue = z.union([z.string().max(1000), z.number().finite(), z.boolean()]);

// Attribute, operator and action names are plain strings here: the rule validator checks them (and their
// values and params against each other) and names the rule part at fault, e.g. /conditions/1/operator.
const Condition = z
  .strictObject({
    attribute: z.string().min(1).max(200).openapi({
      description: `One of ${Object.keys(ATTRIBUTES).join(", ")}, contact.custom_attributes.<key>, conversation.custom_attributes.<key>. content and message_type only on message_created rules.`,
      example: "content",
    }),
    operator: z.string().min(1).max(50).openapi({ description: `One of ${OPERATORS.join(", ")}`, example: "contains" }),
    values: z
      .array(ConditionValue)
      .max(50)
      .optional()
      .openapi({ description: "Matches if any value matches; [] for is_present / is_not_present; one regular expression for matches.", example: ["refund"] }),
    query_operator: z
      .enum(["and", "or"])
      .nullable()
      .optional()
      .openapi({ description: "Joins this condition to the next (default and; AND binds tighter than OR). Ignored on the last." }),
  })
  .openapi("AutomationCondition");

const Action = z
  .strictObject({
    name: z.string().min(1).max(50).openapi({ description: `One of ${ACTIONS.join(", ")}`, example: "add_label" }),
    params: z
      .array(z.union([z.string().max(10_000), z.number().finite()]))
      .max(20)
      .default([])
      .openapi({
        description:
          'A list, like Chatwoot\'s action_params: assign_agent ["usr_…" | "round_robin"], add_label / remove_label ["label", …], send_message / add_private_note ["text"], change_status ["resolved"] or ["snoozed", seconds?], send_webhook_event ["https://…"].',
        example: ["refund"],
      }),
  })
  .openapi("AutomationAction");

const name = z.string().trim().min(1).max(255).openapi({ example: "Tag refund requests" });
const description = z.string().max(1000).nullable();
const eventName = z.enum(RULE_EVENTS);
const conditions = z.array(Condition).max(20);
const actions = z.array(Action).max(20);

export const NewRuleSchema = z
  .strictObject({
    name,
    description: description.optional(),
    event_name: eventName,
    conditions: conditions.default([]).openapi({ description: "None: the rule applies to every event of its type." }),
    actions,
    active: z.boolean().default(true),
  })
  .openapi("NewAutomationRule");

export const RulePatchSchema = z
  .strictObject({
    name: name.optional(),
    description: description.optional(),
    event_name: eventName.optional(),
    conditions: conditions.optional(),
    actions: actions.optional(),
    active: z.boolean().optional(),
  })
  .openapi("AutomationRulePatch");

export const RuleSchema = z
  .object({
    id: z.string().openapi({ example: "rule_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
    name: z.string(),
    description: z.string().nullable(),
    event_name: eventName,
    conditions: z.array(
      z.object({
        attribute: z.string(),
        operator: z.string(),
        values: z.array(ConditionValue),
        query_operator: z.enum(["and", "or"]).nullable(),
      }),
    ),
    actions: z.array(z.object({ name: z.string(), params: z.array(z.union([z.string(), z.number()])) })),
    active: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("AutomationRule");

export const RuleWithSecretSchema = RuleSchema.extend({
  secret: z.string().openapi({
    description: "Signs this rule's send_webhook_event requests (Standard Webhooks). Shown only here; store it now.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("AutomationRuleWithSecret");

export const RunSchema = z
  .object({
    id: z.string(),
    rule_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    conversation_id: z.string().nullable(),
    state: z.enum(["running", "completed", "failed"]),
    matched: z.boolean().nullable().openapi({ description: "null while the run is in progress" }),
    conditions: z.array(z.object({ attribute: z.string(), operator: z.string(), result: z.boolean() })),
    actions: z.array(
      z.object({
        name: z.string(),
        params: z.array(z.union([z.string(), z.number()])),
        result: z.enum(["applied", "skipped", "failed"]),
        detail: z.string().nullable(),
      }),
    ),
    error: z.string().nullable(),
    attempts: z.number().int(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("AutomationRun");
