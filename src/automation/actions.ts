// A rule's actions, applied through the same conversation commands agents use: the same checks, events and
// activity lines, with an automation origin. Each action is safe to apply again after a crash: labels
// and status are set, not toggled; messages carry a dedupe key; a webhook is one delivery per (event, rule).
import { and, eq } from "drizzle-orm";
import type { Viewer } from "../conversation/access";
import { assignConversation, changeConversationStatus, editConversationLabels, postAgentMessage } from "../conversation/commands";
import type { Actor } from "../conversation/protocol";
import { database } from "../db/client";
import { events, webhookDeliveries, type ActionResult, type ConversationStatus, type RuleAction } from "../db/schema";
import { lineOf } from "../delivery/machine";
import { sendDeliveries } from "../delivery/outbox";
import { newId } from "../core/ids";
import { iso } from "../core/time";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { assignRoundRobin } from "./round-robin";
import type { RuleRow } from "./rules";

type EventRow = typeof events.$inferSelect;

/** Activity lines read "Resolved by automation"; events carry the rule's id as their origin. */
export function ruleActor(rule: { id: string }): Actor {
  return { origin: { type: "automation", id: rule.id, rule_id: rule.id }, name: "automation", sender: { type: "automation", id: rule.id } };
}

/**
 * Applies one action to the event's conversation. A problem of this conversation or rule (the assignee
 * left the inbox, the inbox was deleted…) is the action's result; anything else (storage down) throws,
 * so the engine retries the run.
 */
export async function applyAction(
  env: Bindings,
  input: { rule: RuleRow; event: EventRow; action: RuleAction; index: number },
): Promise<ActionResult> {
  const { action } = input;
  const result = (outcome: ActionResult["result"], detail: string | null): ActionResult => ({
    name: action.name,
    params: action.params,
    result: outcome,
    detail,
  });
  try {
    const detail = await perform(env, input);
    return detail.skipped ? result("skipped", detail.text) : result("applied", detail.text);
  } catch (error) {
    if (error instanceof ApiError) return result("failed", error.detail);
    throw error;
  }
}

async function perform(
  env: Bindings,
  { rule, event, action, index }: { rule: RuleRow; event: EventRow; action: RuleAction; index: number },
): Promise<{ text: string; skipped?: boolean }> {
  const conversationId = event.conversationId!;
  const viewer: Viewer = { kind: "automation", accountId: rule.accountId };
  const actor = ruleActor(rule);
  const params = action.params;
  switch (action.name) {
    case "assign_agent": {
      if (params[0] === "round_robin") {
        const outcome = await assignRoundRobin(env, {
          accountId: rule.accountId,
          inboxId: event.inboxId!,
          conversationId,
          actor,
          onlyIfUnassigned: false,
        });
        if (outcome.kind === "failed") throw new ApiError("invalid_state", outcome.detail);
        if (outcome.kind === "skipped") return { text: outcome.reason, skipped: true };
        return { text: `assigned to ${outcome.userId} (round robin)` };
      }
      const conversation = await assignConversation(env, viewer, actor, conversationId, String(params[0]));
      return { text: `assigned to ${conversation.assignee_id}` };
    }
    case "add_label":
    case "remove_label": {
      const labels = params.map(String);
      const edit = action.name === "add_label" ? { add: labels } : { remove: labels };
      const conversation = await editConversationLabels(env, viewer, actor, conversationId, edit);
      return { text: `labels: ${conversation.labels.join(", ") || "(none)"}` };
    }
    case "send_message":
    case "add_private_note": {
      const appended = await postAgentMessage(
        env,
        viewer,
        actor,
        conversationId,
        { content: String(params[0]), private: action.name === "add_private_note" },
        // A run retried after a crash finds the message it already sent instead of sending another.
        { key: `automation ${event.id} ${rule.id} ${index}`, fingerprint: "automation" },
      );
      return { text: `message ${appended.message.id}` };
    }
    case "change_status": {
      const status = params[0] as ConversationStatus;
      const seconds = typeof params[1] === "number" ? params[1] : undefined;
      const snoozedUntil = status === "snoozed" && seconds !== undefined ? iso(Date.now() + seconds * 1000)! : undefined;
      const conversation = await changeConversationStatus(env, viewer, actor, conversationId, { status, snoozed_until: snoozedUntil });
      return { text: `status ${conversation.status}${conversation.snoozed_until ? ` until ${conversation.snoozed_until}` : ""}` };
    }
    case "send_webhook_event":
      return { text: `delivery ${await queueRuleWebhook(env, rule, event, String(params[0]))}` };
    default:
      throw new ApiError("validation_failed", `unknown action '${action.name}'`);
  }
}

/**
 * One delivery per (event, rule) — the unique index on (event_id, endpoint) makes a repeat a no-op —
 * delivered, signed, retried and logged by the same consumer as inbox webhooks, with the rule id as
 * its endpoint.
 */
async function queueRuleWebhook(env: Bindings, rule: RuleRow, event: EventRow, url: string): Promise<string> {
  const now = Date.now();
  const db = database(env);
  const inserted = await db
    .insert(webhookDeliveries)
    .values({
      id: newId("whd", now),
      accountId: rule.accountId,
      inboxId: event.inboxId!,
      eventId: event.id,
      eventType: event.type,
      conversationId: event.conversationId,
      sequence: event.sequence,
      line: lineOf(event),
      endpoint: rule.id,
      url,
      state: "pending",
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing()
    .returning({ id: webhookDeliveries.id });
  if (inserted[0]) {
    // If this send fails the row stays unqueued and the sweeper hands it over.
    await sendDeliveries(env, [inserted[0].id]).catch(() => undefined);
    return inserted[0].id;
  }
  const existing = await db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.eventId, event.id), eq(webhookDeliveries.endpoint, rule.id)))
    .get();
  return existing?.id ?? "(already queued)";
}
