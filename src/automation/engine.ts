// The rules engine: runs on committed events taken from the queue, never inline in a request.
import { and, eq, sql } from "drizzle-orm";
import { database } from "../db/client";
import { automationRuns, contacts, events, inboxes, type ActionResult, type ConditionResult } from "../db/schema";
import { triggersAutomation } from "../delivery/events";
import type { QueueDecision } from "../delivery/outbox";
import type { Contact, Conversation, Message } from "../conversation/resources";
import { newId } from "../core/ids";
import type { Bindings } from "../env";
import { applyAction } from "./actions";
import { evaluateConditions, type Facts } from "./conditions";
import { rulesForEvent, type RuleRow } from "./rules";
import { assignRoundRobin } from "./round-robin";

type EventRow = typeof events.$inferSelect;

/** How long a claimed run may take before another consumer may take it over (the first one died). */
export const RUN_LEASE_MS = 60_000;

const ACK: QueueDecision = { kind: "ack" };

/**
 * Handles one event: auto-assignment for a new conversation, then every active rule for the event's
 * type in the account, oldest rule first. Each (event, rule) is claimed in automation_runs before its
 * actions run, so a redelivered event never applies a rule twice; a claim held by a consumer that is
 * still working makes this delivery wait and look again.
 */
export async function processAutomationEvent(env: Bindings, eventId: string): Promise<QueueDecision> {
  const event = await database(env).select().from(events).where(eq(events.id, eventId)).get();
  // Loop safety: what an automation did never reaches the rules, even if it was queued by mistake.
  if (!event || !triggersAutomation(event) || event.conversationId === null || event.inboxId === null) return ACK;

  if (event.type === "conversation_created") await autoAssign(env, event);

  const rules = await rulesForEvent(env, event.accountId, event.type, event.createdAt);
  if (rules.length === 0) return ACK;
  const facts = await factsOf(env, event, rules);
  let waitUntil = 0;
  for (const rule of rules) {
    const outcome = await runRule(env, rule, event, facts);
    if (outcome.kind === "busy") waitUntil = Math.max(waitUntil, outcome.until);
  }
  if (waitUntil === 0) return ACK;
  return { kind: "retry", delaySeconds: Math.max(1, Math.ceil((waitUntil - Date.now()) / 1000)) };
}

/** The dead-letter queue gave up on this event: its unfinished runs say so in the trace. */
export async function abandonAutomationEvent(env: Bindings, eventId: string): Promise<void> {
  await database(env)
    .update(automationRuns)
    .set({ state: "failed", leaseUntil: null, error: "gave up: the run kept failing and was abandoned", completedAt: Date.now() })
    .where(and(eq(automationRuns.eventId, eventId), eq(automationRuns.state, "running")));
}

/** The event's snapshot, plus the contact when a rule asks about it and the event does not carry one. */
async function factsOf(env: Bindings, event: EventRow, rules: RuleRow[]): Promise<Facts> {
  const data = event.data as { message?: Message; conversation?: Conversation; contact?: Contact };
  let contact: Facts["contact"] = data.contact ?? null;
  const asksAboutContact = rules.some((rule) => rule.conditions.some((condition) => condition.attribute.startsWith("contact.")));
  if (!contact && asksAboutContact && data.conversation) {
    // conversation_updated and conversation_status_changed carry no contact: read it (as it is now).
    const row = await database(env).select().from(contacts).where(eq(contacts.id, data.conversation.contact_id)).get();
    if (row) contact = { email: row.email, identifier: row.identifier, custom_attributes: row.customAttributes };
  }
  return {
    inbox_id: event.inboxId,
    message: data.message ? { content: data.message.content, message_type: data.message.message_type } : null,
    conversation: data.conversation
      ? {
          status: data.conversation.status,
          assignee_id: data.conversation.assignee_id,
          labels: data.conversation.labels,
          custom_attributes: data.conversation.custom_attributes,
        }
      : null,
    contact,
  };
}

type RunOutcome = { kind: "done" } | { kind: "busy"; until: number };

async function runRule(env: Bindings, rule: RuleRow, event: EventRow, facts: Facts): Promise<RunOutcome> {
  const claim = await claimRun(env, rule, event);
  if (claim.kind !== "claimed") return claim;

  const db = database(env);
  const { matched, results } = evaluateConditions(rule.conditions, facts);
  const conditions: ConditionResult[] = rule.conditions.map((condition, index) => ({
    attribute: condition.attribute,
    operator: condition.operator,
    result: results[index]!,
  }));
  const actions: ActionResult[] = [];
  if (matched) {
    try {
      for (const [index, action] of rule.actions.entries()) {
        actions.push(await applyAction(env, { rule, event, action, index }));
      }
    } catch (error) {
      // Storage or an object failed: let the queue's retry take the run over at once. Actions already
      // applied are safe to apply again (see actions.ts).
      await db
        .update(automationRuns)
        .set({ leaseUntil: 0, error: `retrying after: ${error instanceof Error ? error.message : String(error)}` })
        .where(eq(automationRuns.id, claim.runId));
      throw error;
    }
  }
  const failures = actions.filter((action) => action.result === "failed");
  await db
    .update(automationRuns)
    .set({
      state: "completed",
      matched,
      conditionResults: conditions,
      actionResults: actions,
      error: failures.length === 0 ? null : failures.map((action) => `${action.name}: ${action.detail}`).join("; "),
      leaseUntil: null,
      completedAt: Date.now(),
    })
    .where(eq(automationRuns.id, claim.runId));
  return { kind: "done" };
}

/**
 * Inserts the run for (event, rule), or takes over one whose consumer's lease ran out. Nothing returned
 * means someone else has it: finished (done) or still working (busy until its lease ends).
 */
async function claimRun(env: Bindings, rule: RuleRow, event: EventRow): Promise<{ kind: "claimed"; runId: string } | RunOutcome> {
  const db = database(env);
  const now = Date.now();
  const claimed = await db.all<{ id: string }>(sql`
    INSERT INTO automation_runs (id, account_id, rule_id, event_id, event_type, conversation_id, state, lease_until, created_at)
    VALUES (${newId("run", now)}, ${event.accountId}, ${rule.id}, ${event.id}, ${event.type}, ${event.conversationId}, 'running', ${now + RUN_LEASE_MS}, ${now})
    ON CONFLICT (event_id, rule_id) DO UPDATE SET lease_until = excluded.lease_until, attempts = automation_runs.attempts + 1
      WHERE automation_runs.state = 'running' AND automation_runs.lease_until < ${now}
    RETURNING id`);
  if (claimed[0]) return { kind: "claimed", runId: claimed[0].id };
  const existing = await db
    .select({ state: automationRuns.state, leaseUntil: automationRuns.leaseUntil })
    .from(automationRuns)
    .where(and(eq(automationRuns.eventId, event.id), eq(automationRuns.ruleId, rule.id)))
    .get();
  if (existing?.state === "running") return { kind: "busy", until: existing.leaseUntil ?? now + RUN_LEASE_MS };
  return { kind: "done" };
}

/** Activity lines read "Assigned to Ana by auto-assignment". */
const AUTO_ASSIGNMENT = {
  origin: { type: "automation" as const, id: "auto_assignment", rule_id: null },
  name: "auto-assignment",
  sender: { type: "automation" as const, id: null },
};

/**
 * A new conversation in an inbox with auto_assignment goes to the next available member, round robin.
 * Safe to repeat: a conversation that has an assignee is left alone.
 */
async function autoAssign(env: Bindings, event: EventRow): Promise<void> {
  const inbox = await database(env)
    .select({ autoAssignment: inboxes.autoAssignment, deletedAt: inboxes.deletedAt })
    .from(inboxes)
    .where(eq(inboxes.id, event.inboxId!))
    .get();
  if (!inbox?.autoAssignment || inbox.deletedAt !== null) return;
  const outcome = await assignRoundRobin(env, {
    accountId: event.accountId,
    inboxId: event.inboxId!,
    conversationId: event.conversationId!,
    actor: AUTO_ASSIGNMENT,
    onlyIfUnassigned: true,
  });
  if (outcome.kind !== "assigned") {
    console.log(JSON.stringify({ level: "info", message: "auto-assignment left the conversation unassigned", conversation_id: event.conversationId, ...outcome }));
  }
}
