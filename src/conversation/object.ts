import { DurableObject } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { database, isUniqueViolation, prepare } from "../db/client";
import { conversations, events, inboxes, messages, type ConversationStatus, type Origin } from "../db/schema";
import { newEvent, SYSTEM_ORIGIN, type EventRow, type EventType } from "../delivery/events";
import { serialized } from "../core/serial";
import { iso } from "../core/time";
import { newId } from "../core/ids";
import { commitWithEvents, publish, type Committed } from "../delivery/outbox";
import type { Bindings } from "../env";
import { forwardToRealtime } from "../realtime/forward";
import { faults } from "../faults";
import type { Actor, ConversationOutcome, MessageDraft, MessageOutcome, StatusOutcome } from "./protocol";
import { findMessageBySource } from "./queries";
import { singleOpenKey, toConversation, toMessage, type Contact, type ConversationRow, type MessageRow } from "./resources";


/** One write to the conversation: its statements and events commit in a single D1 batch. */
class Mutation {
  readonly statements: D1PreparedStatement[] = [];
  readonly events: EventRow[] = [];
  readonly conversation: ConversationRow;

  constructor(
    readonly before: ConversationRow,
    readonly now: number,
    readonly origin: Origin,
  ) {
    this.conversation = { ...before, labels: [...before.labels] };
  }

  nextSeq(): number {
    this.conversation.lastSeq += 1;
    return this.conversation.lastSeq;
  }

  /** Records an event with the next sequence; `data` is the snapshot at this point of the mutation. */
  emit(type: EventType, data: Record<string, unknown>, options: { isPrivate?: boolean } = {}) {
    this.conversation.lastEventSequence += 1;
    this.events.push(
      newEvent({
        type,
        accountId: this.conversation.accountId,
        inboxId: this.conversation.inboxId,
        conversationId: this.conversation.id,
        sequence: this.conversation.lastEventSequence,
        origin: this.origin,
        data,
        isPrivate: options.isPrivate,
        now: this.now,
      }),
    );
  }
}

/**
 * The single writer of one conversation. Every change to it runs here one at a time: it hands out the
 * message `seq` and event `sequence`, writes the change, its events and their deliveries to D1 in one
 * batch, and remembers Idempotency-Keys so a retried request returns the message it already created.
 * D1's unique indexes on (conversation_id, seq) and (conversation_id, sequence) back it up if this object
 * ever restarts between a commit and its own bookkeeping.
 */
export class ConversationObject extends DurableObject<Bindings> {
  private cached: ConversationRow | undefined;
  private readonly exclusive = serialized();

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS dedupe (
      key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, message_id TEXT NOT NULL, created_at INTEGER NOT NULL)`);
  }

  /** Appends a message (incoming from the contact, an agent's reply or note, an activity line). */
  async appendMessage(input: {
    conversationId: string;
    message: MessageDraft;
    contact: Contact;
    origin: Origin;
    /** Incoming messages reopen a resolved or snoozed conversation. */
    reopen: boolean;
    dedupe?: { key: string; fingerprint: string };
  }): Promise<MessageOutcome> {
    return this.exclusive(async () => {
      if (input.dedupe) {
        const seen = this.ctx.storage.sql
          .exec<{ fingerprint: string; message_id: string }>("SELECT fingerprint, message_id FROM dedupe WHERE key = ?", input.dedupe.key)
          .toArray()[0];
        if (seen) {
          if (seen.fingerprint !== input.dedupe.fingerprint) return { kind: "dedupe_mismatch" };
          const stored = await database(this.env).select().from(messages).where(eq(messages.id, seen.message_id)).get();
          const conversation = await this.load(input.conversationId);
          if (stored && conversation) return { kind: "existing", message: toMessage(stored), conversation: toConversation(conversation) };
        }
      }
      if (input.message.sourceId !== null) {
        const existing = await findMessageBySource(this.env, (await this.load(input.conversationId))?.inboxId ?? "", input.message.sourceId);
        if (existing) return this.existing(input.conversationId, existing);
      }

      const outcome = await this.commit(input.conversationId, input.origin, async (mutation) => {
        const conversation = mutation.conversation;
        if (input.reopen && (conversation.status === "resolved" || conversation.status === "snoozed")) {
          const previous = conversation.status;
          conversation.status = "open";
          conversation.snoozedUntil = null;
          conversation.singleOpenKey = singleOpenKey(await this.inboxLock(conversation.inboxId), conversation);
          mutation.emit("conversation_status_changed", {
            conversation: toConversation(conversation),
            changed_attributes: [{ status: { previous_value: previous, current_value: "open" } }],
          });
        }
        const row: MessageRow = {
          id: newId("msg", mutation.now),
          accountId: conversation.accountId,
          inboxId: conversation.inboxId,
          conversationId: conversation.id,
          seq: mutation.nextSeq(),
          messageType: input.message.messageType,
          content: input.message.content,
          contentAttributes: input.message.contentAttributes,
          attachments: input.message.attachments,
          private: input.message.private,
          senderType: input.message.sender.type,
          senderId: input.message.sender.id,
          sourceId: input.message.sourceId,
          status: "sent",
          statusReason: null,
          requestKey: input.dedupe?.key ?? null,
          createdAt: mutation.now,
          updatedAt: mutation.now,
        };
        conversation.lastActivityAt = mutation.now;
        mutation.statements.push(prepare(this.env, database(this.env).insert(messages).values(row)));
        mutation.emit(
          "message_created",
          { message: toMessage(row), conversation: toConversation(conversation), contact: input.contact },
          { isPrivate: row.private },
        );
        return row;
      });
      if (outcome.kind === "conflict") return outcome;
      if (outcome.kind === "key_taken") {
        const existing = await database(this.env)
          .select()
          .from(messages)
          .where(and(eq(messages.conversationId, input.conversationId), eq(messages.requestKey, input.dedupe!.key)))
          .get();
        if (existing) {
          this.rememberKey(input.dedupe!, existing.id);
          return this.existing(input.conversationId, existing);
        }
        throw new Error("message request_key conflict without an existing message");
      }
      if (outcome.kind === "source_taken") {
        const existing = await findMessageBySource(this.env, outcome.conversation.inboxId, input.message.sourceId!);
        if (existing) return this.existing(input.conversationId, existing);
        throw new Error("message source_id conflict without an existing message");
      }
      if (outcome.kind === "not_found") return outcome;
      if (input.dedupe) {
        this.rememberKey(input.dedupe, outcome.result.id);
        if ((await this.ctx.storage.getAlarm()) === null) await this.scheduleAlarm();
      }
      return { kind: "created", message: toMessage(outcome.result), conversation: toConversation(outcome.conversation) };
    });
  }

  private rememberKey(dedupe: { key: string; fingerprint: string }, messageId: string) {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO dedupe (key, fingerprint, message_id, created_at) VALUES (?, ?, ?, ?)",
      dedupe.key,
      dedupe.fingerprint,
      messageId,
      Date.now(),
    );
  }

  /** A delivery receipt for an outgoing message: delivered / read / failed. */
  async updateMessageStatus(input: {
    conversationId: string;
    messageId: string;
    status: "delivered" | "read" | "failed";
    reason: string | null;
    origin: Origin;
  }): Promise<StatusOutcome> {
    return this.exclusive(async () => {
      const db = database(this.env);
      const current = await db
        .select()
        .from(messages)
        .where(and(eq(messages.conversationId, input.conversationId), eq(messages.id, input.messageId)))
        .get();
      if (!current) return { kind: "not_found" };
      if (current.messageType !== "outgoing" || current.private) return { kind: "not_outgoing" };
      if (current.status === input.status && current.statusReason === input.reason) {
        return { kind: "unchanged", message: toMessage(current) };
      }
      const outcome = await this.commit(input.conversationId, input.origin, async (mutation) => {
        const updated: MessageRow = { ...current, status: input.status, statusReason: input.reason, updatedAt: mutation.now };
        mutation.statements.push(
          prepare(
            this.env,
            db.update(messages).set({ status: updated.status, statusReason: updated.statusReason, updatedAt: mutation.now }).where(eq(messages.id, current.id)),
          ),
        );
        mutation.emit("message_updated", {
          message: toMessage(updated),
          conversation: toConversation(mutation.conversation),
          changed_attributes: [{ status: { previous_value: current.status, current_value: input.status } }],
        });
        return updated;
      });
      if (outcome.kind !== "committed") return { kind: "not_found" };
      return { kind: "updated", message: toMessage(outcome.result) };
    });
  }

  /** Assigns the conversation to a member of its inbox, or unassigns it (null). */
  async assign(input: {
    conversationId: string;
    assignee: { id: string; name: string } | null;
    actor: Actor;
    /** Leave it alone if someone has it already (auto-assignment must not take a conversation from an agent). */
    onlyIfUnassigned?: boolean;
  }): Promise<ConversationOutcome> {
    return this.exclusive(async () => {
      const current = await this.load(input.conversationId);
      if (!current) return { kind: "not_found" };
      const next = input.assignee?.id ?? null;
      if (current.assigneeId === next) return { kind: "unchanged", conversation: toConversation(current) };
      if (input.onlyIfUnassigned && current.assigneeId !== null) return { kind: "unchanged", conversation: toConversation(current) };
      return this.conversationChange(input.conversationId, input.actor, (mutation) => {
        const previous = mutation.conversation.assigneeId;
        mutation.conversation.assigneeId = next;
        mutation.emit("conversation_updated", {
          conversation: toConversation(mutation.conversation),
          changed_attributes: [{ assignee_id: { previous_value: previous, current_value: next } }],
        });
        this.activity(
          mutation,
          input.assignee ? `Assigned to ${input.assignee.name} by ${input.actor.name}` : `Unassigned by ${input.actor.name}`,
          input.actor,
        );
      });
    });
  }

  /**
   * Replaces the conversation's labels, or edits them (`add`/`remove` against the set as it is now, so a
   * concurrent change is not lost). Account-level labels are created on first use.
   */
  async setLabels(
    input: { conversationId: string; actor: Actor } & ({ labels: string[] } | { edit: { add: string[]; remove: string[] } }),
  ): Promise<ConversationOutcome> {
    return this.exclusive(async () => {
      const current = await this.load(input.conversationId);
      if (!current) return { kind: "not_found" };
      const wanted =
        "labels" in input
          ? input.labels
          : [...current.labels, ...input.edit.add].filter((label) => !input.edit.remove.includes(label));
      const next = [...new Set(wanted)].sort();
      if (JSON.stringify(next) === JSON.stringify(current.labels)) return { kind: "unchanged", conversation: toConversation(current) };
      return this.conversationChange(input.conversationId, input.actor, (mutation) => {
        const previous = mutation.conversation.labels;
        mutation.conversation.labels = next;
        for (const name of next.filter((label) => !previous.includes(label))) {
          mutation.statements.push(
            this.env.DB.prepare("INSERT INTO labels (account_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").bind(
              mutation.conversation.accountId,
              name,
              mutation.now,
            ),
          );
        }
        mutation.emit("conversation_updated", {
          conversation: toConversation(mutation.conversation),
          changed_attributes: [{ labels: { previous_value: previous, current_value: next } }],
        });
        const added = next.filter((label) => !previous.includes(label));
        const removed = previous.filter((label) => !next.includes(label));
        const parts = [added.length ? `added ${added.join(", ")}` : "", removed.length ? `removed ${removed.join(", ")}` : ""].filter(Boolean);
        this.activity(mutation, `${input.actor.name} ${parts.join("; ")}`, input.actor);
      });
    });
  }

  /** open / pending / snoozed (until a time, then it reopens by itself) / resolved. */
  async setStatus(input: {
    conversationId: string;
    status: ConversationStatus;
    snoozedUntil: number | null;
    actor: Actor;
  }): Promise<ConversationOutcome> {
    return this.exclusive(async () => {
      const current = await this.load(input.conversationId);
      if (!current) return { kind: "not_found" };
      const snoozedUntil = input.status === "snoozed" ? input.snoozedUntil : null;
      if (current.status === input.status && current.snoozedUntil === snoozedUntil) {
        return { kind: "unchanged", conversation: toConversation(current) };
      }
      const lock = await this.inboxLock(current.inboxId);
      const outcome = await this.conversationChange(input.conversationId, input.actor, (mutation) => {
        this.changeStatus(mutation, input.status, snoozedUntil, lock, input.actor);
      });
      if (outcome.kind === "updated" && snoozedUntil !== null) {
        this.ctx.storage.kv.put("snooze", { conversationId: input.conversationId, until: snoozedUntil });
        await this.scheduleAlarm();
      }
      return outcome;
    });
  }

  private changeStatus(
    mutation: Mutation,
    status: ConversationStatus,
    snoozedUntil: number | null,
    lock: { lockToSingleConversation: boolean },
    actor: Actor,
  ) {
    const conversation = mutation.conversation;
    const previous = conversation.status;
    conversation.status = status;
    conversation.snoozedUntil = snoozedUntil;
    conversation.singleOpenKey = singleOpenKey(lock, conversation);
    mutation.emit("conversation_status_changed", {
      conversation: toConversation(conversation),
      changed_attributes: [{ status: { previous_value: previous, current_value: status } }],
    });
    const text: Record<ConversationStatus, string> = {
      open: previous === "snoozed" && actor.sender.type === "system" ? "Conversation reopened: snooze ended" : `Reopened by ${actor.name}`,
      pending: `Marked as pending by ${actor.name}`,
      snoozed: `Snoozed until ${iso(snoozedUntil)} by ${actor.name}`,
      resolved: `Resolved by ${actor.name}`,
    };
    this.activity(mutation, text[status], actor);
  }

  /** An activity line in the history ("Resolved by Ana"), written with the change it describes. */
  private activity(mutation: Mutation, content: string, actor: Actor) {
    const row: MessageRow = {
      id: newId("msg", mutation.now),
      accountId: mutation.conversation.accountId,
      inboxId: mutation.conversation.inboxId,
      conversationId: mutation.conversation.id,
      seq: mutation.nextSeq(),
      messageType: "activity",
      content,
      contentAttributes: {},
      attachments: [],
      private: false,
      senderType: actor.sender.type,
      senderId: actor.sender.id,
      sourceId: null,
      status: "sent",
      statusReason: null,
      requestKey: null,
      createdAt: mutation.now,
      updatedAt: mutation.now,
    };
    mutation.statements.push(prepare(this.env, database(this.env).insert(messages).values(row)));
    mutation.emit("message_created", { message: toMessage(row), conversation: toConversation(mutation.conversation) });
  }

  private async conversationChange(conversationId: string, actor: Actor, change: (mutation: Mutation) => void): Promise<ConversationOutcome> {
    const outcome = await this.commit(conversationId, actor.origin, async (mutation) => change(mutation));
    if (outcome.kind === "committed") return { kind: "updated", conversation: toConversation(outcome.conversation) };
    if (outcome.kind === "conflict") return outcome;
    return { kind: "not_found" };
  }

  /** Reopens a snoozed conversation whose time has come (alarm, or the sweeper as a backstop). */
  async wakeIfDue(conversationId: string): Promise<void> {
    await this.exclusive(async () => {
      const current = await this.load(conversationId);
      if (!current || current.status !== "snoozed" || current.snoozedUntil === null || current.snoozedUntil > Date.now()) return;
      const lock = await this.inboxLock(current.inboxId);
      const system: Actor = { origin: SYSTEM_ORIGIN, name: "system", sender: { type: "system", id: null } };
      await this.conversationChange(conversationId, system, (mutation) => this.changeStatus(mutation, "open", null, lock, system));
    });
  }

  /** Forget cached state (tests use it to simulate a restart; errors use it to re-read D1). */
  async reset(): Promise<void> {
    this.cached = undefined;
  }

  override async alarm(): Promise<void> {
    const snooze = this.ctx.storage.kv.get<{ conversationId: string; until: number }>("snooze");
    if (snooze && snooze.until <= Date.now()) {
      await this.wakeIfDue(snooze.conversationId);
      this.ctx.storage.kv.delete("snooze");
    }
    this.ctx.storage.sql.exec("DELETE FROM dedupe WHERE created_at < ?", Date.now() - DEDUPE_RETENTION_MS);
    await this.scheduleAlarm();
  }

  /** One alarm serves both jobs: the snooze wake-up and forgetting old Idempotency-Keys. */
  private async scheduleAlarm() {
    const snooze = this.ctx.storage.kv.get<{ until: number }>("snooze");
    const oldest = this.ctx.storage.sql.exec<{ at: number | null }>("SELECT min(created_at) AS at FROM dedupe").one().at;
    const candidates = [snooze?.until, oldest === null ? undefined : oldest + DEDUPE_RETENTION_MS].filter(
      (at): at is number => at !== undefined,
    );
    if (candidates.length === 0) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.min(...candidates));
  }

  private async existing(conversationId: string, row: MessageRow): Promise<MessageOutcome> {
    const conversation =
      row.conversationId === conversationId
        ? await this.load(conversationId)
        : await database(this.env).select().from(conversations).where(eq(conversations.id, row.conversationId)).get();
    return { kind: "existing", message: toMessage(row), conversation: toConversation(conversation!) };
  }

  private async inboxLock(inboxId: string) {
    const inbox = await database(this.env)
      .select({ lockToSingleConversation: inboxes.lockToSingleConversation })
      .from(inboxes)
      .where(eq(inboxes.id, inboxId))
      .get();
    return { lockToSingleConversation: inbox?.lockToSingleConversation ?? false };
  }

  private async load(conversationId: string): Promise<ConversationRow | undefined> {
    if (this.cached?.id === conversationId) return this.cached;
    this.cached = await database(this.env).select().from(conversations).where(eq(conversations.id, conversationId)).get();
    return this.cached;
  }

  /**
   * Runs `build` against the current conversation and commits what it produced in one batch: its
   * statements, the conversation's new summary, the events and their deliveries. On a seq/sequence clash
   * (state older than D1) it re-reads and tries once more.
   */
  private async commit<R>(
    conversationId: string,
    origin: Origin,
    build: (mutation: Mutation) => Promise<R>,
  ): Promise<
    | { kind: "committed"; result: R; conversation: ConversationRow }
    | { kind: "not_found" }
    | { kind: "conflict"; detail: string }
    | { kind: "source_taken"; conversation: ConversationRow }
    | { kind: "key_taken" }
  > {
    for (let attempt = 1; ; attempt++) {
      const before = await this.load(conversationId);
      if (!before) return { kind: "not_found" };
      const mutation = new Mutation(before, Date.now(), origin);
      const result = await build(mutation);
      const db = database(this.env);
      const after = mutation.conversation;
      const batch: D1PreparedStatement[] = [...mutation.statements];
      batch.push(
        prepare(this.env, db
          .update(conversations)
          .set({
            status: after.status,
            assigneeId: after.assigneeId,
            labels: after.labels,
            customAttributes: after.customAttributes,
            snoozedUntil: after.snoozedUntil,
            singleOpenKey: after.singleOpenKey,
            lastSeq: after.lastSeq,
            lastEventSequence: after.lastEventSequence,
            lastActivityAt: after.lastActivityAt,
            updatedAt: mutation.now,
          })
          .where(eq(conversations.id, conversationId))),
      );
      if (mutation.events.length > 0) batch.push(prepare(this.env, db.insert(events).values(mutation.events)));
      let committed: Committed[];
      try {
        faults.check("conversation.commit");
        ({ committed } = await commitWithEvents(this.env, batch, mutation.events));
      } catch (error) {
        // Whatever happened, D1 is the truth: re-read before the next write.
        this.cached = undefined;
        if (isUniqueViolation(error, "messages.request_key")) return { kind: "key_taken" };
        if (isUniqueViolation(error, "messages.inbox_id") || isUniqueViolation(error, "messages_source")) {
          return { kind: "source_taken", conversation: before };
        }
        if (isUniqueViolation(error, "single_open_key")) {
          return {
            kind: "conflict",
            detail: "The contact already has another unresolved conversation in this inbox (the inbox locks contacts to one); resolve it first.",
          };
        }
        if (attempt === 1 && isUniqueViolation(error)) continue;
        throw error;
      }
      after.updatedAt = mutation.now;
      // Tests reset the object here: D1 has the write, the object's memory of it is gone.
      if (faults.take("conversation.reset_after_commit")) this.ctx.abort("injected fault: reset after commit");
      this.cached = after;
      this.ctx.waitUntil(publish(this.env, committed));
      this.ctx.waitUntil(forwardToRealtime(this.env, mutation.events));
      return { kind: "committed", result, conversation: after };
    }
  }
}

/** Idempotency-Keys are honoured for at least 24 hours. */
const DEDUPE_RETENTION_MS = 25 * 60 * 60 * 1000;

