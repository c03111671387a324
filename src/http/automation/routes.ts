import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { createRule, deleteRule, getRule, listRules, listRuns, rotateRuleSecret, updateRule } from "../../domain/automation-rules";
import { accountUser } from "../auth";
import type { AppEnv } from "../context";
import { idempotent } from "../idempotency";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, listOf, PaginationQuery } from "../openapi";
import { AccountParams } from "../users/schemas";
import { NewRuleSchema, RuleParams, RulePatchSchema, RuleSchema, RuleWithSecretSchema, RunSchema } from "./schemas";

const base = "/v1/accounts/{account_id}/automation_rules";
const guard = { middleware: [accountUser("administrator")], security: bearerSecurity, tags: ["Automation rules"] };

const createRuleRoute = createRoute({
  ...guard,
  middleware: [idempotent(accountUser("administrator"))],
  method: "post",
  path: base,
  operationId: "createAutomationRule",
  summary: "Create a rule: on an event, if the conditions hold, apply the actions (administrators only)",
  description: "Administrators only. On `event_name`, if the `conditions` hold, the `actions` run (assign, label, reply, note, change status, POST the event to a URL, signed). The rule is validated as a whole. The response carries the secret that signs the rule's webhooks, shown only here.",
  request: { params: AccountParams, headers: IdempotencyKeyHeader, body: jsonBody(NewRuleSchema) },
  responses: {
    201: jsonResponse(RuleWithSecretSchema, "The rule, with the secret that signs its webhooks (shown only here)"),
    ...errorResponses(400, 403, 404, 413, 415, 422),
  },
});

const listRulesRoute = createRoute({
  ...guard,
  method: "get",
  path: base,
  operationId: "listAutomationRules",
  summary: "The account's rules in evaluation order (oldest first)",
  description: "Administrators only. The account's rules in the order they are evaluated (oldest first). Secrets are never shown. Page with `cursor`.",
  request: { params: AccountParams, query: PaginationQuery },
  responses: { 200: jsonResponse(listOf(RuleSchema, "AutomationRuleList"), "A page of rules"), ...errorResponses(400, 403, 404, 422) },
});

const getRuleRoute = createRoute({
  ...guard,
  method: "get",
  path: `${base}/{rule_id}`,
  operationId: "getAutomationRule",
  summary: "Get a rule",
  description: "Administrators only. One rule with its event, conditions and actions; never its secret.",
  request: { params: RuleParams },
  responses: { 200: jsonResponse(RuleSchema, "The rule"), ...errorResponses(403, 404, 422) },
});

const updateRuleRoute = createRoute({
  ...guard,
  method: "patch",
  path: `${base}/{rule_id}`,
  operationId: "updateAutomationRule",
  summary: "Change a rule; conditions and actions are replaced as a whole, and the result is validated again",
  description: "Administrators only. Fields you leave out keep their value; `conditions` and `actions` are replaced as a whole and the resulting rule is validated again.",
  request: { params: RuleParams, body: jsonBody(RulePatchSchema) },
  responses: { 200: jsonResponse(RuleSchema, "The updated rule"), ...errorResponses(400, 403, 404, 413, 415, 422) },
});

const deleteRuleRoute = createRoute({
  ...guard,
  method: "delete",
  path: `${base}/{rule_id}`,
  operationId: "deleteAutomationRule",
  summary: "Delete a rule: it stops at once, and its pending webhooks are not sent",
  description: "Administrators only. The rule stops at once, and webhooks its actions queued but did not send yet are not sent.",
  request: { params: RuleParams },
  responses: { 204: { description: "Deleted" }, ...errorResponses(403, 404, 422) },
});

const rotateSecretRoute = createRoute({
  ...guard,
  middleware: [idempotent(accountUser("administrator"))],
  method: "post",
  path: `${base}/{rule_id}/secret/rotate`,
  operationId: "rotateAutomationRuleSecret",
  summary: "Issue a new secret for the rule's webhooks; for 24 h they are signed with both the old and the new one",
  description: "Administrators only. Returns the rule's new webhook secret, shown only here; for 24 h its webhooks carry both signatures, old and new.",
  request: { params: RuleParams, headers: IdempotencyKeyHeader },
  responses: { 200: jsonResponse(RuleWithSecretSchema, "The rule with its new secret, shown only here"), ...errorResponses(400, 403, 404, 422) },
});

const listRunsRoute = createRoute({
  ...guard,
  method: "get",
  path: `${base}/{rule_id}/runs`,
  operationId: "listAutomationRuns",
  summary: "Recent evaluations of the rule, newest first: the event, each condition's result, what each action did",
  description: "Administrators only. The debugging view of a rule: each evaluation with its event, every condition's result and what each action did. Filter with `matched`; newest first, page with `cursor`.",
  request: {
    params: RuleParams,
    query: PaginationQuery.extend({
      matched: z.enum(["true", "false"]).optional().openapi({ description: "Only runs that matched (true) or did not (false)" }),
    }),
  },
  responses: { 200: jsonResponse(listOf(RunSchema, "AutomationRunList"), "A page of runs"), ...errorResponses(400, 403, 404, 422) },
});

export const automationRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createRuleRoute, async (c) => c.json(await createRule(c.env, c.req.valid("param").account_id, c.req.valid("json")), 201))
  .openapi(listRulesRoute, async (c) => c.json(await listRules(c.env, c.req.valid("param").account_id, c.req.valid("query")), 200))
  .openapi(getRuleRoute, async (c) => {
    const { account_id, rule_id } = c.req.valid("param");
    return c.json(await getRule(c.env, account_id, rule_id), 200);
  })
  .openapi(updateRuleRoute, async (c) => {
    const { account_id, rule_id } = c.req.valid("param");
    return c.json(await updateRule(c.env, account_id, rule_id, c.req.valid("json")), 200);
  })
  .openapi(deleteRuleRoute, async (c) => {
    const { account_id, rule_id } = c.req.valid("param");
    await deleteRule(c.env, account_id, rule_id);
    return c.body(null, 204);
  })
  .openapi(rotateSecretRoute, async (c) => {
    const { account_id, rule_id } = c.req.valid("param");
    return c.json(await rotateRuleSecret(c.env, account_id, rule_id), 200);
  })
  .openapi(listRunsRoute, async (c) => {
    const { account_id, rule_id } = c.req.valid("param");
    const { matched, ...query } = c.req.valid("query");
    return c.json(await listRuns(c.env, account_id, rule_id, { ...query, matched: matched === undefined ? undefined : matched === "true" }), 200);
  });
