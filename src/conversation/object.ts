import { DurableObject } from "cloudflare:workers";
import { and, eq, getTableColumns, sql } from "drizzle-orm";
import { chunks, ID_CHUNK } from "../core/chunks";
import { serialized } from "../core/serial";
import { database, prepare, prepareCompiled, prepareInsert } from "../db/client";
import { conversations, events, inboxes, messages, type ConversationStatus, type Json, type Origin } from "../db/schema";
import { commitWithEvents, type Committed } from "../delivery/outbox";
import { publishAndAttempt } from "../delivery/direct";
import { defaultShard, shardEnv } from "../db/shards";
import type { Bindings, WorkerEnv } from "../env";
import { forwardToRealtime } from "../realtime/forward";
import { faults } from "../faults";
import { nextAlarmAt, snoozeDue, type Snooze } from "./changes/alarm";
import { assign as assignChange } from "./changes/assign";
import { classifyCommitError } from "./changes/commit-outcome";
import { checkKey, keysExpireBefore, type RememberedKey } from "./changes/dedupe";
import { setLabels as labelsChange } from "./changes/labels";
import { appendMessage as appendChange, appendMessages, commitGroups, type AppendCommand, type Appended } from "./changes/message";
import { applyReceipt, checkReceipt } from "./changes/receipt";
import { applyDeletion, checkDeletion } from "./changes/deletion";
import { applySubmission, checkSubmission } from "./changes/submission";
import type { ChangeContext, Changed, ConversationState, InboxLock, NeedsInbox, Unchanged, Writes } from "./changes/state";
import { setStatus as statusChange, wakeIfDue as wakeChange } from "./changes/status";
import type { Actor, ConversationOutcome, DeletionOutcome, MessageDraft, MessageOutcome, StatusOutcome, SubmissionOutcome } from "./protocol";
import { guardStatement, isGuardFailure, type CommitGuard } from "./guard";
import { findMessageByRequestKey, findMessageBySource } from "./queries";
import { toConversation, toMessage, type Contact, type ConversationRow, type MessageRow } from "./resources";

/** The conversation's columns a commit writes (its summary after the change). */
const SUMMARY_COLUMNS = [
  "status",
  "assigneeId",
  "labels",
  "customAttributes",
  "snoozedUntil",
  "singleOpenKey",
  "lastSeq",
  "lastEventSequence",
  "lastActivityAt",
  "updatedAt",
] as const satisfies readonly (keyof ConversationRow)[];

/** Rows per INSERT: D1 binds at most 100 parameters per statement, one per column of each row (kept under ID_CHUNK, 90). */
const MESSAGE_ROWS = Math.floor(ID_CHUNK / Object.keys(getTableColumns(messages)).length);
const EVENT_ROWS = Math.floor(ID_CHUNK / Object.keys(getTableColumns(events)).length);

/** A change as the shell calls it: the conversation's state and the context → what to write, or why not. */
type ChangeFn<C extends Changed> = (state: ConversationState, context: ChangeContext) => C | Unchanged | NeedsInbox;

type CommitOutcome<C extends Changed> =
  | { kind: "committed"; change: C }
  | { kind: "unchanged"; conversation: ConversationRow }
  | { kind: "not_found" }
  | { kind: "conflict"; detail: string }
  | { kind: "source_taken"; conversation: ConversationRow }
  | { kind: "key_taken" }
  | { kind: "guard_failed" };

/** What appendMessage takes. */
type AppendInput = {
  conversationId: string;
  message: MessageDraft;
  contact: Contact;
  origin: Origin;
  /** Incoming messages reopen a resolved or snoozed conversation. */
  reopen: boolean;
  dedupe?: { key: string; fingerprint: string };
  /**
   * The conversation as the caller read it from D1 moments ago. A cold object starts from it instead of
   * reading it again; if it is already stale, the commit's unique (conversation, seq/sequence) indexes
   * refuse it and the object re-reads D1 and tries once more.
   */
  lastRead?: ConversationRow;
  /**
   * Sent by a message prepared from the Worker's isolate cache (./guard.ts): the commit re-checks what the
   * cache assumed, and writes nothing if any of it changed (guard_failed).
   */
  guard?: CommitGuard;
  /** Answer a created message with the conversation's row as committed too (the caller remembers it; a guard implies it). */
  returnRow?: boolean;
};

/** The guards of a group's appends, each once (a hot conversation's appends often carry the same one). */
function distinctGuards(appends: { input: AppendInput }[]): CommitGuard[] {
  const guards = new Map<string, CommitGuard>();
  for (const { input } of appends) if (input.guard) guards.set(JSON.stringify(input.guard), input.guard);
  return [...guards.values()];
}

/** An append waiting for its turn, with its caller's answer. */
type QueuedAppend = { input: AppendInput; answer: (outcome: MessageOutcome) => void; fail: (error: unknown) => void };

/**
 * The single writer of one conversation. Every change to it runs here one at a time: the object loads the
 * conversation, asks the change (./changes, pure functions) what to write, and commits that — the change,
 * its events and their deliveries — to D1 in one batch. It hands out message `seq` and event `sequence`
 * through the changes, and remembers Idempotency-Keys so a retried request returns the message it already
 * created. D1's unique indexes on (conversation_id, seq) and (conversation_id, sequence) back it up if this
 * object ever restarts between a commit and its own bookkeeping. Appends that queue up behind a commit
 * (a hot conversation) share the next one: group commit, one D1 round trip for all of them.
 * One write happens before the object exists: a new contact's first message is committed, with seq 1 from
 * ./changes/message.ts, in the batch that creates the conversation (src/domain/incoming.ts). Nothing can
 * call the object for a conversation id before that batch commits, and the object's first call starts from
 * D1 (`load`) or from the caller's `lastRead` row (as committed there), so it is still the only writer of
 * every later change (docs/architecture.md, "A new contact's first message").
 */
export class ConversationObject extends DurableObject<WorkerEnv> {
  private cached: ConversationRow | undefined;
  /** The bindings of the conversation's shard: every call names it (stub.ts adds it as the last argument). */
  private routed: Bindings | undefined;

  private use(shard: string | undefined): void {
    if (shard !== undefined && this.routed?.SHARD !== shard) {
      this.routed = shardEnv(this.env, shard);
      // A move changed the shard: what this object cached was read from the old one.
      this.cached = undefined;
    }
  }

  private get shard(): Bindings {
    return (this.routed ??= shardEnv(this.env, defaultShard(this.env)));
  }
  private readonly exclusive = serialized();
  /** Appends waiting for a turn that has not started yet: later appends join them (see appendMessage). */
  private open: QueuedAppend[] | undefined;

  /** A change other than an append runs by itself, and appends that arrive after it wait for it: arrival order. */
  private alone<T>(work: () => Promise<T>): Promise<T> {
    this.open = undefined;
    return this.exclusive(work);
  }

  private dedupeReady = false;

  /**
   * The object's own storage, with its dedupe table, created the first time it is needed: an object that
   * never sees an Idempotency-Key (most conversations) never opens its storage on a cold start.
   */
  private dedupeSql(): SqlStorage {
    if (!this.dedupeReady) {
      this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS dedupe (
        key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, message_id TEXT NOT NULL, created_at INTEGER NOT NULL)`);
      this.dedupeReady = true;
    }
    return this.ctx.storage.sql;
  }

  /**
   * Appends a message (incoming from the contact, an agent's reply or note). Appends that arrive while
   * the object is busy (a commit waits on D1) are committed together when their turn comes: one D1 batch
   * for the group (see appendGroup), each message still with its own seq, events and answer.
   */
  async appendMessage(input: AppendInput, shard?: string): Promise<MessageOutcome> {
    this.use(shard);
    return new Promise<MessageOutcome>((answer, fail) => {
      const append: QueuedAppend = { input, answer, fail };
      if (this.open) {
        this.open.push(append);
        return;
      }
      const group = [append];
      this.open = group;
      void this.exclusive(async () => {
        // From now on, arrivals wait for the next turn.
        if (this.open === group) this.open = undefined;
        await this.appendGroup(group);
      });
    });
  }

  /**
   * Commits the appends that waited for one turn, in arrival order, split by commitGroups (size, and a
   * repeated key or source_id goes in the next group). Never throws: every append gets its own answer
   * or error.
   */
  private async appendGroup(waiting: QueuedAppend[]): Promise<void> {
    const groups = waiting.length === 1 ? [waiting] : commitGroups(waiting, ({ input }) => ({
      conversationId: input.conversationId,
      keys: [input.dedupe ? `key:${input.dedupe.key}` : null, input.message.sourceId === null ? null : `source:${input.message.sourceId}`],
      chars: (input.message.content?.length ?? 0) + JSON.stringify(input.message.contentAttributes).length + JSON.stringify(input.message.attachments).length,
    }));
    for (const group of groups) {
      try {
        await this.commitAppends(group);
      } catch (error) {
        // Whoever has no answer yet gets the error (a settled promise ignores it): nothing is reported
        // created unless its commit returned.
        for (const append of group) append.fail(error);
      }
    }
  }

  /** One group: answers the appends a dedupe layer answers without writing, commits the rest together. */
  private async commitAppends(group: QueuedAppend[]): Promise<void> {
    const conversationId = group[0]!.input.conversationId;
    if (this.cached === undefined) {
      const lastRead = group.find(({ input }) => input.lastRead?.id === conversationId)?.input.lastRead;
      if (lastRead) this.cached = lastRead;
    }
    // The dedupe layers' reads, side by side (a group never repeats a key or source_id: commitGroups).
    if (group.length > 1 && group.some(({ input }) => input.message.sourceId !== null && !input.guard)) await this.load(conversationId);
    const answers = await Promise.all(
      group.map(async (append) => {
        try {
          const answered = await this.answerWithoutWriting(append.input);
          if (answered) append.answer(answered);
          return answered === undefined;
        } catch (error) {
          append.fail(error);
          return false;
        }
      }),
    );
    const writing = group.filter((_, i) => answers[i]);
    if (writing.length === 0) return;
    if (writing.length === 1) {
      writing[0]!.answer(await this.appendAlone(writing[0]!.input));
      return;
    }
    const appends = writing.map(({ input }) => ({ ...this.command(input), origin: input.origin }));
    let outcome: CommitOutcome<Changed & { appended: Appended[] }> | { kind: "stale" };
    try {
      outcome = await this.commit(conversationId, (state, context) => appendMessages(state, appends, context), distinctGuards(writing));
    } catch (error) {
      // Stale even after a re-read: each on its own below. Anything else (D1 down, no answer) fails the
      // whole group: the batch was all or nothing, and retrying one that may have committed could write it twice.
      if (classifyCommitError(error).kind !== "stale") throw error;
      outcome = { kind: "stale" };
    }
    switch (outcome.kind) {
      case "committed": {
        const { appended } = outcome.change;
        writing.forEach((append, i) => this.remember(append.input, appended[i]!.message));
        if (writing.some(({ input }) => input.dedupe) && (await this.ctx.storage.getAlarm()) === null) await this.scheduleAlarm();
        writing.forEach((append, i) => append.answer(this.created(append.input, appended[i]!)));
        return;
      }
      case "not_found":
        for (const append of writing) append.answer(outcome);
        return;
      case "unchanged":
        throw new Error("appending messages always changes the conversation");
      default:
        // A refusal that belongs to one of them (a key or source_id taken, the inbox's lock, a guard, a seq
        // clash) rolled the whole batch back: each commits alone and gets exactly the answer it would have alone.
        for (const append of writing) {
          try {
            append.answer(await this.appendAlone(append.input));
          } catch (error) {
            append.fail(error);
          }
        }
    }
  }

  /** The dedupe layers: a message this request already created, or a refused key; undefined = write it. */
  private async answerWithoutWriting(input: AppendInput): Promise<MessageOutcome | undefined> {
    // First dedupe layer: the Idempotency-Keys this object remembers.
    if (input.dedupe) {
      const key = checkKey(this.rememberedKey(input.dedupe.key), input.dedupe.fingerprint);
      if (key.kind === "mismatch") return { kind: "dedupe_mismatch" };
      if (key.kind === "replay") {
        const stored = await database(this.shard).select().from(messages).where(eq(messages.id, key.messageId)).get();
        // The message may sit in another conversation of the inbox (see key_taken): answer with its own.
        if (stored) return this.existing(input.conversationId, stored);
      }
    }
    // Second layer: the integrator's source_id, unique per inbox in D1. A guarded commit leaves it to the
    // unique index (source_taken), so the guard has passed before an existing message is answered.
    if (input.message.sourceId !== null && !input.guard) {
      const existing = await findMessageBySource(this.shard, (await this.load(input.conversationId))?.inboxId ?? "", input.message.sourceId);
      if (existing) return this.existing(input.conversationId, existing);
    }
    return undefined;
  }

  private command(input: AppendInput): AppendCommand {
    return { message: input.message, contact: input.contact, reopen: input.reopen, requestKey: input.dedupe?.key ?? null };
  }

  /** One append committed by itself (after the dedupe layers). */
  private async appendAlone(input: AppendInput): Promise<MessageOutcome> {
    const command = this.command(input);
    const outcome = await this.commit(
      input.conversationId,
      (state, context) => appendChange(state, command, { ...context, origin: input.origin }),
      input.guard ? [input.guard] : [],
    );
    switch (outcome.kind) {
      case "conflict":
      case "not_found":
      case "guard_failed":
        return outcome;
      case "unchanged":
        throw new Error("appending a message always changes the conversation");
      case "key_taken": {
        // Another request with this key committed first (D1's unique index caught it): answer with its
        // message — keys are unique per inbox, so it may sit in another conversation (resolved since).
        const inboxId = (await this.load(input.conversationId))?.inboxId ?? "";
        const existing = await findMessageByRequestKey(this.shard, inboxId, input.dedupe!.key);
        if (existing) {
          this.rememberKey(input.dedupe!, existing.id);
          return this.existing(input.conversationId, existing);
        }
        throw new Error("message request_key conflict without an existing message");
      }
      case "source_taken": {
        const existing = await findMessageBySource(this.shard, outcome.conversation.inboxId, input.message.sourceId!);
        if (existing) return this.existing(input.conversationId, existing);
        throw new Error("message source_id conflict without an existing message");
      }
      case "committed": {
        this.remember(input, outcome.change.message);
        if (input.dedupe && (await this.ctx.storage.getAlarm()) === null) await this.scheduleAlarm();
        return this.created(input, outcome.change);
      }
    }
  }

  /** A committed message's Idempotency-Key, so a retry gets it back. */
  private remember(input: AppendInput, message: MessageRow) {
    if (input.dedupe) this.rememberKey(input.dedupe, message.id);
  }

  private created(input: AppendInput, { message, writes }: Appended): MessageOutcome {
    const row = input.guard || input.returnRow ? { row: writes.conversation } : {};
    return { kind: "created", message: toMessage(message), conversation: toConversation(writes.conversation), ...row };
  }

  /** A delivery receipt for an outgoing message: delivered / read / failed. */
  async updateMessageStatus(input: {
    conversationId: string;
    messageId: string;
    status: "delivered" | "read" | "failed";
    reason: string | null;
    origin: Origin;
  }, shard?: string): Promise<StatusOutcome> {
    this.use(shard);
    const command = { status: input.status, reason: input.reason };
    return this.messageChange(
      input,
      (current) => {
        const check = checkReceipt(current, command);
        return check === "apply" ? check : check === "not_outgoing" ? { kind: "not_outgoing" } : { kind: "unchanged", message: toMessage(current) };
      },
      (state, current, now) => applyReceipt(state, current, command, { now, origin: input.origin }),
    );
  }

  /** Deletes a message the way Chatwoot does (changes/deletion.ts): emptied in place, with a message_updated. */
  async deleteMessage(input: { conversationId: string; messageId: string; origin: Origin }, shard?: string): Promise<DeletionOutcome> {
    this.use(shard);
    return this.messageChange(
      input,
      (current) => {
        const check = checkDeletion(current);
        return check === "apply" ? check : check === "not_deletable" ? { kind: "not_deletable" } : { kind: "unchanged", message: toMessage(current) };
      },
      (state, current, now) => applyDeletion(state, current, { now, origin: input.origin }),
    );
  }

  /** Records a contact's answers to a message (changes/submission.ts), with a message_updated. */
  async submitValues(input: { conversationId: string; messageId: string; submittedValues: Json; origin: Origin }, shard?: string): Promise<SubmissionOutcome> {
    this.use(shard);
    return this.messageChange(
      input,
      (current) => (checkSubmission(current) ? "apply" : { kind: "not_found" }),
      (state, current, now) => applySubmission(state, current, input.submittedValues, { now, origin: input.origin }),
    );
  }

  /**
   * One change to one existing message, serialised: read it, let `check` answer without writing (a refusal, or
   * unchanged), else commit `apply`. A message or conversation that is not there is not_found.
   */
  private messageChange<Answer extends { kind: string }>(
    input: { conversationId: string; messageId: string },
    check: (current: MessageRow) => Answer | "apply",
    apply: (state: ConversationState, current: MessageRow, now: number) => Changed & { message: MessageRow },
  ): Promise<Answer | { kind: "not_found" } | { kind: "updated"; message: ReturnType<typeof toMessage> }> {
    return this.alone(async () => {
      const current = await database(this.shard)
        .select()
        .from(messages)
        .where(and(eq(messages.conversationId, input.conversationId), eq(messages.id, input.messageId)))
        .get();
      if (!current) return { kind: "not_found" as const };
      const answer = check(current);
      if (answer !== "apply") return answer;
      const outcome = await this.commit(input.conversationId, (state, { now }) => apply(state, current, now));
      if (outcome.kind !== "committed") return { kind: "not_found" as const };
      return { kind: "updated" as const, message: toMessage(outcome.change.message) };
    });
  }

  /** Assigns the conversation to a member of its inbox, or unassigns it (null). */
  async assign(input: {
    conversationId: string;
    assignee: { id: string; name: string } | null;
    actor: Actor;
    /** Leave it alone if someone has it already (auto-assignment must not take a conversation from an agent). */
    onlyIfUnassigned?: boolean;
  }, shard?: string): Promise<ConversationOutcome> {
    this.use(shard);
    return this.alone(() => this.conversationChange(input.conversationId, (state, { now }) => assignChange(state, input, now)));
  }

  /**
   * Replaces the conversation's labels, or edits them (`add`/`remove` against the set as it is now, so a
   * concurrent change is not lost). Account-level labels are created on first use.
   */
  async setLabels(
    input: { conversationId: string; actor: Actor } & ({ labels: string[] } | { edit: { add: string[]; remove: string[] } }),
    shard?: string,
  ): Promise<ConversationOutcome> {
    this.use(shard);
    return this.alone(() => this.conversationChange(input.conversationId, (state, { now }) => labelsChange(state, input, now)));
  }

  /** open / pending / snoozed (until a time, then it reopens by itself) / resolved. */
  async setStatus(input: {
    conversationId: string;
    status: ConversationStatus;
    snoozedUntil: number | null;
    actor: Actor;
  }, shard?: string): Promise<ConversationOutcome> {
    this.use(shard);
    return this.alone(async () => {
      const outcome = await this.commit(input.conversationId, (state, context) => statusChange(state, input, context));
      if (outcome.kind === "committed" && outcome.change.snoozeUntil !== null) {
        // The alarm runs without a caller: the snooze remembers the shard.
        this.ctx.storage.kv.put<Snooze>("snooze", { conversationId: input.conversationId, until: outcome.change.snoozeUntil, shard: this.shard.SHARD });
        await this.scheduleAlarm();
      }
      return this.conversationOutcome(outcome);
    });
  }

  /** Reopens a snoozed conversation whose time has come (its alarm calls it; recovery too, as the backstop). Idempotent. */
  async wakeIfDue(conversationId: string, shard?: string): Promise<void> {
    this.use(shard);
    await this.alone(() => this.conversationChange(conversationId, wakeChange));
  }

  /** Forget cached state (tests use it to simulate a restart; errors use it to re-read D1). */
  async reset(): Promise<void> {
    this.cached = undefined;
  }

  override async alarm(): Promise<void> {
    const snooze = this.ctx.storage.kv.get<Snooze>("snooze");
    if (snoozeDue(snooze, Date.now())) {
      await this.wakeIfDue(snooze!.conversationId, snooze!.shard);
      // A setStatus that ran while we waited may have stored a new wake-up time: delete only the one we served.
      if (this.ctx.storage.kv.get<Snooze>("snooze")?.until === snooze!.until) this.ctx.storage.kv.delete("snooze");
    }
    this.dedupeSql().exec("DELETE FROM dedupe WHERE created_at < ?", keysExpireBefore(Date.now()));
    await this.scheduleAlarm();
  }

  /** One alarm serves both jobs: the snooze wake-up and forgetting old Idempotency-Keys. */
  private async scheduleAlarm() {
    const snooze = this.ctx.storage.kv.get<Snooze>("snooze");
    const oldestKeyAt = this.dedupeSql().exec<{ at: number | null }>("SELECT min(created_at) AS at FROM dedupe").one().at;
    const at = nextAlarmAt({ snoozeUntil: snooze?.until, oldestKeyAt });
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  private rememberedKey(key: string): RememberedKey | undefined {
    return this.dedupeSql().exec<RememberedKey>("SELECT fingerprint, message_id FROM dedupe WHERE key = ?", key).toArray()[0];
  }

  private rememberKey(dedupe: { key: string; fingerprint: string }, messageId: string) {
    this.dedupeSql().exec(
      "INSERT OR REPLACE INTO dedupe (key, fingerprint, message_id, created_at) VALUES (?, ?, ?, ?)",
      dedupe.key,
      dedupe.fingerprint,
      messageId,
      Date.now(),
    );
  }

  private async existing(conversationId: string, row: MessageRow): Promise<MessageOutcome> {
    const conversation =
      row.conversationId === conversationId
        ? await this.load(conversationId)
        : await database(this.shard).select().from(conversations).where(eq(conversations.id, row.conversationId)).get();
    return { kind: "existing", message: toMessage(row), conversation: toConversation(conversation!) };
  }

  private async conversationChange<C extends Changed>(conversationId: string, change: ChangeFn<C>): Promise<ConversationOutcome> {
    return this.conversationOutcome(await this.commit(conversationId, change));
  }

  private conversationOutcome(outcome: CommitOutcome<Changed>): ConversationOutcome {
    switch (outcome.kind) {
      case "committed":
        return { kind: "updated", conversation: toConversation(outcome.change.writes.conversation) };
      case "unchanged":
        return { kind: "unchanged", conversation: toConversation(outcome.conversation) };
      case "conflict":
        return outcome;
      default:
        return { kind: "not_found" };
    }
  }

  private async inboxLock(inboxId: string): Promise<InboxLock> {
    const inbox = await database(this.shard)
      .select({ lockToSingleConversation: inboxes.lockToSingleConversation })
      .from(inboxes)
      .where(eq(inboxes.id, inboxId))
      .get();
    return { lockToSingleConversation: inbox?.lockToSingleConversation ?? false };
  }

  private async load(conversationId: string): Promise<ConversationRow | undefined> {
    if (this.cached?.id === conversationId) return this.cached;
    this.cached = await database(this.shard).select().from(conversations).where(eq(conversations.id, conversationId)).get();
    return this.cached;
  }

  /**
   * Loads the conversation, calls `change` (reading the inbox's lock setting if the change asks for it) and
   * commits what it produced in one batch. On a seq/sequence clash (state older than D1) it re-reads and
   * calls the change once more.
   */
  private async commit<C extends Changed>(conversationId: string, change: ChangeFn<C>, guards: CommitGuard[] = []): Promise<CommitOutcome<C>> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.load(conversationId);
      if (!before) return { kind: "not_found" };
      const now = Date.now();
      let decision = change(before, { now });
      if (decision.kind === "needs_inbox") decision = change(before, { now, inbox: await this.inboxLock(before.inboxId) });
      if (decision.kind === "needs_inbox") throw new Error("a change asked for the inbox twice");
      if (decision.kind === "unchanged") return { kind: "unchanged", conversation: before };
      const { writes } = decision;
      let committed: Committed[];
      try {
        faults.check("conversation.commit");
        await faults.pause("conversation.commit");
        const statements = this.statements(writes);
        // The guards lead the batch: when one fails, nothing after it is written.
        statements.unshift(...guards.map((guard) => guardStatement(this.shard, guard)));
        ({ committed } = await commitWithEvents(this.shard, statements, writes.events));
      } catch (error) {
        // Whatever happened, D1 is the truth: re-read before the next write.
        this.cached = undefined;
        if (guards.length > 0 && isGuardFailure(error)) return { kind: "guard_failed" };
        const failure = classifyCommitError(error);
        if (failure.kind === "key_taken") return failure;
        if (failure.kind === "source_taken") return { kind: "source_taken", conversation: before };
        if (failure.kind === "conflict") return failure;
        if (failure.kind === "stale" && attempt === 1) continue;
        throw error;
      }
      // Tests reset the object here: D1 has the write, the object's memory of it is gone.
      if (faults.take("conversation.reset_after_commit")) this.ctx.abort("injected fault: reset after commit");
      this.cached = writes.conversation;
      // Off the object's input path: the first attempt of each delivery runs here (delivery/direct.ts).
      this.ctx.waitUntil(publishAndAttempt(this.shard, committed));
      this.ctx.waitUntil(forwardToRealtime(this.shard, writes.events));
      return { kind: "committed", change: decision };
    }
  }

  /** The D1 statements of a change: its own rows, the conversation's new summary, the events. */
  private statements(writes: Writes): D1PreparedStatement[] {
    const db = database(this.shard);
    const after = writes.conversation;
    const batch: D1PreparedStatement[] = [];
    for (const name of writes.accountLabels) {
      batch.push(
        this.shard.DB.prepare("INSERT INTO labels (account_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").bind(after.accountId, name, writes.now),
      );
    }
    if (writes.messageStatus) {
      const { id, ...status } = writes.messageStatus;
      batch.push(prepare(this.shard, db.update(messages).set(status).where(eq(messages.id, id))));
    }
    if (writes.messageDeletion) {
      const { id, ...emptied } = writes.messageDeletion;
      batch.push(prepare(this.shard, db.update(messages).set(emptied).where(eq(messages.id, id))));
    }
    if (writes.messageSubmission) {
      const { id, ...answered } = writes.messageSubmission;
      batch.push(prepare(this.shard, db.update(messages).set(answered).where(eq(messages.id, id))));
    }
    // Compiled once per shape (prepareCompiled): a message's commit ran drizzle's builder for each of these.
    // Several rows per INSERT (a group's), within D1's 100 bound parameters per statement.
    for (const rows of chunks(writes.messages, MESSAGE_ROWS)) batch.push(prepareInsert(this.shard, messages, rows));
    const P = sql.placeholder;
    batch.push(
      prepareCompiled(
        this.shard,
        "conversation.summary",
        () =>
          db
            .update(conversations)
            .set(Object.fromEntries(SUMMARY_COLUMNS.map((column) => [column, P(column)]))) // placeholders: set() maps each to its column's encoder
            .where(eq(conversations.id, P("id"))),
        { id: after.id, ...Object.fromEntries(SUMMARY_COLUMNS.map((column) => [column, after[column]])) },
      ),
    );
    for (const rows of chunks(writes.events, EVENT_ROWS)) batch.push(prepareInsert(this.shard, events, rows));
    return batch;
  }
}
