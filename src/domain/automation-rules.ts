// Automation rules as administrators manage them, and the trace of their runs.
import { and, asc, desc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { database } from "../db/client";
import {
  automationRules,
  automationRuns,
  inboxes,
  users,
  type RuleAction,
  type RuleCondition,
  type RuleEventName,
} from "../db/schema";
import type { RuleRow } from "../automation/rules";
import { normalizeConditions, validateRule, type References } from "../automation/validation";
import { judgeWebhookUrl } from "../core/webhook-url";
import { config, type Bindings } from "../env";
import { ApiError, notFound, type FieldError } from "../errors/problem";
import { newId } from "../core/ids";
import { chunks } from "../core/chunks";
import { newWebhookSecret } from "../core/crypto";
import { SECRET_GRACE_MS } from "./inboxes";
import { beyondKey, decodeCursor, page } from "../core/pagination";
import { iso } from "../core/time";

type RunRow = typeof automationRuns.$inferSelect;

// What a rule may say, for the routes' schemas.
export { ACTIONS, ATTRIBUTES, OPERATORS, RULE_EVENTS } from "../automation/catalogue";

export type AutomationRule = {
  id: string;
  name: string;
  description: string | null;
  event_name: RuleEventName;
  conditions: RuleCondition[];
  actions: RuleAction[];
  active: boolean;
  created_at: string;
  updated_at: string;
};

export function toRule(row: RuleRow): AutomationRule {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    event_name: row.eventName,
    conditions: row.conditions,
    actions: row.actions,
    active: row.active,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

type ConditionInput = { attribute: string; operator: string; values?: RuleCondition["values"]; query_operator?: "and" | "or" | null };

export type RuleInput = {
  name: string;
  description?: string | null;
  event_name: RuleEventName;
  conditions?: ConditionInput[];
  actions: RuleAction[];
  active?: boolean;
};

export type RulePatch = Partial<RuleInput>;

/**
 * Validates a whole rule (shape-independent checks, then the ids it names against the account) and
 * returns it as stored: query operators filled in, webhook URLs normalised. A 422 names every bad part.
 */
async function checkedRule(
  env: Bindings,
  accountId: string,
  draft: { event_name: RuleEventName; conditions: ConditionInput[]; actions: RuleAction[] },
): Promise<{ conditions: RuleCondition[]; actions: RuleAction[] }> {
  const conditions = normalizeConditions(draft.conditions);
  const allowLoopback = config(env).allowLoopbackWebhooks;
  const { errors, references } = validateRule({ event_name: draft.event_name, conditions, actions: draft.actions }, { allowLoopback });
  if (errors.length === 0) errors.push(...(await foreignReferences(env, accountId, references)));
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new ApiError(
      "validation_failed",
      `Rule part '${first.pointer}' is invalid: ${first.detail}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}.`,
      { errors },
    );
  }
  const actions = draft.actions.map((action) => {
    if (action.name !== "send_webhook_event") return { name: action.name, params: action.params };
    // Stored as the URL parser normalised it, like an inbox's webhook_url.
    const verdict = judgeWebhookUrl(String(action.params[0]), { allowLoopback });
    return { name: action.name, params: [verdict.ok ? verdict.url : String(action.params[0])] };
  });
  return { conditions, actions };
}

/** Users and inboxes a rule names must be live ones of the account: another account's id is just unknown. */
async function foreignReferences(env: Bindings, accountId: string, references: References): Promise<FieldError[]> {
  const db = database(env);
  const known = async (ids: string[], lookup: (chunk: string[]) => Promise<{ id: string }[]>) => {
    const found = new Set<string>();
    const unique = [...new Set(ids)];
    for (const chunk of chunks(unique)) for (const row of await lookup(chunk)) found.add(row.id);
    return found;
  };
  const [knownUsers, knownInboxes] = await Promise.all([
    known(references.users.map((ref) => ref.id), (chunk) =>
      db.select({ id: users.id }).from(users).where(and(eq(users.accountId, accountId), inArray(users.id, chunk), isNull(users.deletedAt))),
    ),
    known(references.inboxes.map((ref) => ref.id), (chunk) =>
      db.select({ id: inboxes.id }).from(inboxes).where(and(eq(inboxes.accountId, accountId), inArray(inboxes.id, chunk), isNull(inboxes.deletedAt))),
    ),
  ]);
  return [
    ...references.users
      .filter((ref) => !knownUsers.has(ref.id))
      .map((ref) => ({ location: "body" as const, pointer: ref.pointer, detail: `'${ref.id}' is not a user of this account` })),
    ...references.inboxes
      .filter((ref) => !knownInboxes.has(ref.id))
      .map((ref) => ({ location: "body" as const, pointer: ref.pointer, detail: `'${ref.id}' is not an inbox of this account` })),
  ];
}

export async function createRule(env: Bindings, accountId: string, input: RuleInput): Promise<AutomationRule & { secret: string }> {
  const checked = await checkedRule(env, accountId, { event_name: input.event_name, conditions: input.conditions ?? [], actions: input.actions });
  const now = Date.now();
  const row: RuleRow = {
    id: newId("rule", now),
    accountId,
    name: input.name,
    description: input.description ?? null,
    eventName: input.event_name,
    conditions: checked.conditions,
    actions: checked.actions,
    active: input.active ?? true,
    webhookSecret: newWebhookSecret(),
    previousWebhookSecret: null,
    previousSecretExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  await database(env).insert(automationRules).values(row);
  return { ...toRule(row), secret: row.webhookSecret };
}

/** In evaluation order: oldest first. */
export async function listRules(env: Bindings, accountId: string, options: { limit: number; cursor?: string }) {
  const after = decodeCursor(options.cursor, { created_at: "number", id: "string" });
  const rows = await database(env)
    .select()
    .from(automationRules)
    .where(
      and(
        eq(automationRules.accountId, accountId),
        isNull(automationRules.deletedAt),
        beyondKey(automationRules.createdAt, automationRules.id, after && { time: after.created_at, id: after.id }, "asc"),
      ),
    )
    .orderBy(asc(automationRules.createdAt), asc(automationRules.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ created_at: row.createdAt, id: row.id }));
  return { data: result.data.map(toRule), next_cursor: result.next_cursor };
}

async function requireRule(env: Bindings, accountId: string, ruleId: string): Promise<RuleRow> {
  const row = await database(env)
    .select()
    .from(automationRules)
    .where(and(eq(automationRules.accountId, accountId), eq(automationRules.id, ruleId), isNull(automationRules.deletedAt)))
    .get();
  if (!row) throw notFound("automation_rule_not_found", "automation rule", ruleId);
  return row;
}

export async function getRule(env: Bindings, accountId: string, ruleId: string): Promise<AutomationRule> {
  return toRule(await requireRule(env, accountId, ruleId));
}

/** Changes the given fields; the rule as a whole is validated again (a new event_name must suit the conditions). */
export async function updateRule(env: Bindings, accountId: string, ruleId: string, patch: RulePatch): Promise<AutomationRule> {
  const current = await requireRule(env, accountId, ruleId);
  const checked = await checkedRule(env, accountId, {
    event_name: patch.event_name ?? current.eventName,
    conditions: patch.conditions ?? current.conditions,
    actions: patch.actions ?? current.actions,
  });
  const [row] = await database(env)
    .update(automationRules)
    .set({
      name: patch.name ?? current.name,
      description: patch.description === undefined ? current.description : patch.description,
      eventName: patch.event_name ?? current.eventName,
      conditions: checked.conditions,
      actions: checked.actions,
      active: patch.active ?? current.active,
      updatedAt: Date.now(),
    })
    .where(and(eq(automationRules.accountId, accountId), eq(automationRules.id, ruleId), isNull(automationRules.deletedAt)))
    .returning();
  if (!row) throw notFound("automation_rule_not_found", "automation rule", ruleId);
  return toRule(row);
}

/** Soft delete: the rule stops at once; its pending webhook deliveries end failed when next attempted. */
export async function deleteRule(env: Bindings, accountId: string, ruleId: string): Promise<void> {
  const now = Date.now();
  const deleted = await database(env)
    .update(automationRules)
    .set({ deletedAt: now, updatedAt: now, active: false })
    .where(and(eq(automationRules.accountId, accountId), eq(automationRules.id, ruleId), isNull(automationRules.deletedAt)))
    .returning({ id: automationRules.id });
  if (deleted.length === 0) throw notFound("automation_rule_not_found", "automation rule", ruleId);
}

/** A new signing secret for send_webhook_event; the old one keeps signing for 24 h, like an inbox's. */
export async function rotateRuleSecret(env: Bindings, accountId: string, ruleId: string): Promise<AutomationRule & { secret: string }> {
  const now = Date.now();
  const secret = newWebhookSecret();
  const [row] = await database(env)
    .update(automationRules)
    .set({
      previousWebhookSecret: sql`${automationRules.webhookSecret}`,
      previousSecretExpiresAt: now + SECRET_GRACE_MS,
      webhookSecret: secret,
      updatedAt: now,
    })
    .where(and(eq(automationRules.accountId, accountId), eq(automationRules.id, ruleId), isNull(automationRules.deletedAt)))
    .returning();
  if (!row) throw notFound("automation_rule_not_found", "automation rule", ruleId);
  return { ...toRule(row), secret };
}

export function toRun(row: RunRow) {
  return {
    id: row.id,
    rule_id: row.ruleId,
    event_id: row.eventId,
    event_type: row.eventType,
    conversation_id: row.conversationId,
    state: row.state,
    matched: row.matched,
    conditions: row.conditionResults,
    actions: row.actionResults,
    error: row.error,
    attempts: row.attempts,
    created_at: iso(row.createdAt),
    completed_at: iso(row.completedAt),
  };
}

/** The rule's recent evaluations, newest first: matched or not (and why), what each action did. */
export async function listRuns(env: Bindings, accountId: string, ruleId: string, options: { limit: number; cursor?: string; matched?: boolean }) {
  await requireRule(env, accountId, ruleId);
  const after = decodeCursor(options.cursor, { created_at: "number", id: "string" });
  const rows = await database(env)
    .select()
    .from(automationRuns)
    .where(
      and(
        eq(automationRuns.accountId, accountId),
        eq(automationRuns.ruleId, ruleId),
        options.matched === undefined ? undefined : eq(automationRuns.matched, options.matched),
        after
          ? or(
              lt(automationRuns.createdAt, after.created_at),
              and(eq(automationRuns.createdAt, after.created_at), lt(automationRuns.id, after.id)),
            )
          : undefined,
      ),
    )
    .orderBy(desc(automationRuns.createdAt), desc(automationRuns.id))
    .limit(options.limit + 1);
  const result = page(rows, options.limit, (row) => ({ created_at: row.createdAt, id: row.id }));
  return { data: result.data.map(toRun), next_cursor: result.next_cursor };
}
