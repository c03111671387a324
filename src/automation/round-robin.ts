// Round-robin assignment among an inbox's members, fair under concurrency (docs/automation.md).
import { DurableObject } from "cloudflare:workers";
import { and, asc, eq, isNotNull, isNull, sql } from "drizzle-orm";
import { assignConversation } from "../conversation/commands";
import type { Actor } from "../conversation/protocol";
import { serialized } from "../core/serial";
import { database } from "../db/client";
import { conversations, inboxes, inboxMembers, users } from "../db/schema";
import { defaultShard, shardEnv } from "../db/shards";
import type { Bindings, WorkerEnv } from "../env";
import { ApiError } from "../errors/problem";

export type RoundRobinRequest = {
  accountId: string;
  inboxId: string;
  conversationId: string;
  actor: Actor;
  /** Auto-assignment never takes a conversation from someone who already has it. */
  onlyIfUnassigned: boolean;
};

export type RoundRobinOutcome =
  | { kind: "assigned"; userId: string; name: string }
  | { kind: "skipped"; reason: string }
  | { kind: "failed"; detail: string };

/**
 * One per inbox: the single place where its round-robin turns are taken. Each turn — read the members,
 * their availability and open conversations, pick the next one after the last pick, assign through the
 * conversation's object — runs to completion before the next starts, so a hundred conversations created
 * at once over four agents give each exactly 25, and an agent at max_assignment_limit is never pushed
 * over it by a concurrent turn. The last pick is kept in the object's storage.
 */
export class AssignmentObject extends DurableObject<WorkerEnv> {
  private readonly exclusive = serialized();

  /** `shard`: the inbox's shard binding (the caller's). */
  async assignNext(request: RoundRobinRequest, shard?: string): Promise<RoundRobinOutcome> {
    const env = shardEnv(this.env, shard ?? defaultShard(this.env));
    return this.exclusive(() => this.turn(env, request));
  }

  private async turn(env: Bindings, request: RoundRobinRequest): Promise<RoundRobinOutcome> {
    const db = database(env);
    if (request.onlyIfUnassigned) {
      const current = await db.select({ assigneeId: conversations.assigneeId }).from(conversations).where(eq(conversations.id, request.conversationId)).get();
      if (current?.assigneeId) return { kind: "skipped", reason: "the conversation is already assigned" };
    }
    const inbox = await db
      .select({ limit: inboxes.maxAssignmentLimit })
      .from(inboxes)
      .where(and(eq(inboxes.accountId, request.accountId), eq(inboxes.id, request.inboxId)))
      .get();
    if (!inbox) return { kind: "failed", detail: `inbox '${request.inboxId}' does not exist` };
    const members = await db
      .select({ id: users.id, name: users.name, available: users.available })
      .from(inboxMembers)
      .innerJoin(users, and(eq(users.id, inboxMembers.userId), isNull(users.deletedAt)))
      .where(and(eq(inboxMembers.accountId, request.accountId), eq(inboxMembers.inboxId, request.inboxId)))
      .orderBy(asc(users.id));
    if (members.length === 0) return { kind: "skipped", reason: "the inbox has no members" };
    const available = members.filter((member) => member.available);
    if (available.length === 0) return { kind: "skipped", reason: "no member of the inbox is available" };

    let eligible = available;
    if (inbox.limit !== null) {
      const open = await db
        .select({ assigneeId: conversations.assigneeId, count: sql<number>`count(*)` })
        .from(conversations)
        .where(and(eq(conversations.inboxId, request.inboxId), eq(conversations.status, "open"), isNotNull(conversations.assigneeId)))
        .groupBy(conversations.assigneeId);
      const counts = new Map(open.map((row) => [row.assigneeId, row.count]));
      eligible = available.filter((member) => (counts.get(member.id) ?? 0) < inbox.limit!);
      if (eligible.length === 0) {
        return { kind: "skipped", reason: `every available member has max_assignment_limit (${inbox.limit}) open conversations` };
      }
    }

    // The next member after the last pick, in id order: membership changes shift nobody's turn.
    const last = this.ctx.storage.kv.get<string>("last");
    const pick = eligible.find((member) => last === undefined || member.id > last) ?? eligible[0]!;
    try {
      const conversation = await assignConversation(
        env,
        { kind: "automation", accountId: request.accountId },
        request.actor,
        request.conversationId,
        pick.id,
        { onlyIfUnassigned: request.onlyIfUnassigned },
      );
      if (conversation.assignee_id !== pick.id) return { kind: "skipped", reason: "the conversation is already assigned" };
    } catch (error) {
      // Problems of this conversation (deleted inbox, …) are the caller's answer; anything else is retried.
      if (error instanceof ApiError) return { kind: "failed", detail: error.detail };
      throw error;
    }
    this.ctx.storage.kv.put("last", pick.id);
    return { kind: "assigned", userId: pick.id, name: pick.name };
  }
}

type AssignmentApi = Pick<AssignmentObject, "assignNext">;

/** Takes the inbox's next round-robin turn for this conversation. */
export function assignRoundRobin(env: Bindings, request: RoundRobinRequest): Promise<RoundRobinOutcome> {
  const stub = env.ASSIGNMENTS.get(env.ASSIGNMENTS.idFromName(request.inboxId)) as unknown as AssignmentApi;
  return stub.assignNext(request, env.SHARD);
}
