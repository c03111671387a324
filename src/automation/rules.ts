// The engine's read of the rules administrators keep (their management is domain/automation-rules.ts).
import { and, asc, eq, isNull, lte } from "drizzle-orm";
import { database } from "../db/client";
import { automationRules, type RuleEventName } from "../db/schema";
import type { Bindings } from "../env";

export type RuleRow = typeof automationRules.$inferSelect;

/** The account's active rules for an event, in evaluation order; rules created after the event do not apply to it. */
export async function rulesForEvent(env: Bindings, accountId: string, eventName: string, eventCreatedAt: number): Promise<RuleRow[]> {
  return database(env)
    .select()
    .from(automationRules)
    .where(
      and(
        eq(automationRules.accountId, accountId),
        eq(automationRules.eventName, eventName as RuleEventName),
        isNull(automationRules.deletedAt),
        eq(automationRules.active, true),
        lte(automationRules.createdAt, eventCreatedAt),
      ),
    )
    .orderBy(asc(automationRules.createdAt), asc(automationRules.id));
}
