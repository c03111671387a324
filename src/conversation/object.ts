import { DurableObject } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { commitBatch, database, isUniqueViolation, prepare } from "../db/client";
import { conversations, events, inboxes, messages, type Origin } from "../db/schema";
import type { Contact } from "../domain/contacts";
import { singleOpenKey, toConversation, type Conversation, type ConversationRow } from "../domain/conversations";
import { newEvent, type EventRow, type EventType } from "../domain/events";
import { newId } from "../domain/ids";
import { findMessageBySource, toMessage, type Message, type MessageRow } from "../domain/messages";
import { fanOutStatements, publish, type Committed } from "../delivery/outbox";
import type { Bindings } from "../env";
import { faults } from "../faults";
import type { MessageDraft, MessageOutcome, StatusOutcome } from "./protocol";


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
  private tail: Promise<unknown> = Promise.resolve();

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
      if (outcome.kind === "source_taken") {
        const existing = await findMessageBySource(this.env, outcome.conversation.inboxId, input.message.sourceId!);
        if (existing) return this.existing(input.conversationId, existing);
        throw new Error("message source_id conflict without an existing message");
      }
      if (outcome.kind === "not_found") return outcome;
      if (input.dedupe) {
        this.ctx.storage.sql.exec(
          "INSERT OR REPLACE INTO dedupe (key, fingerprint, message_id, created_at) VALUES (?, ?, ?, ?)",
          input.dedupe.key,
          input.dedupe.fingerprint,
          outcome.result.id,
          Date.now(),
        );
        await this.scheduleDedupeCleanup();
      }
      return { kind: "created", message: toMessage(outcome.result), conversation: toConversation(outcome.conversation) };
    });
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

  /** Forget cached state (tests use it to simulate a restart; errors use it to re-read D1). */
  async reset(): Promise<void> {
    this.cached = undefined;
  }

  override async alarm(): Promise<void> {
    const cutoff = Date.now() - DEDUPE_RETENTION_MS;
    this.ctx.storage.sql.exec("DELETE FROM dedupe WHERE created_at < ?", cutoff);
    const left = this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM dedupe").one().n;
    if (left > 0) await this.ctx.storage.setAlarm(Date.now() + DEDUPE_RETENTION_MS);
  }

  private async scheduleDedupeCleanup() {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + DEDUPE_RETENTION_MS);
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
  > {
    for (let attempt = 1; ; attempt++) {
      const before = await this.load(conversationId);
      if (!before) return { kind: "not_found" };
      const mutation = new Mutation(before, Date.now(), origin);
      const result = await build(mutation);
      const db = database(this.env);
      const after = mutation.conversation;
      const committed: Committed[] = [];
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
      for (const event of mutation.events) {
        const fanOut = fanOutStatements(this.env, event);
        batch.push(...fanOut.statements);
        committed.push(fanOut.committed);
      }
      try {
        faults.check("conversation.commit");
        await commitBatch(this.env, batch);
      } catch (error) {
        // Whatever happened, D1 is the truth: re-read before the next write.
        this.cached = undefined;
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
      this.cached = after;
      this.ctx.waitUntil(publish(this.env, committed));
      return { kind: "committed", result, conversation: after };
    }
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** Idempotency-Keys are honoured for at least 24 hours. */
const DEDUPE_RETENTION_MS = 25 * 60 * 60 * 1000;

