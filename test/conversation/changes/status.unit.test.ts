import { describe, expect, it } from "vitest";
import { setStatus, snoozeEnded, SYSTEM_ACTOR, wakeIfDue } from "../../../src/conversation/changes/status";
import { ana, changed, conversation, NOW } from "./fixtures";

const LOCKED = { lockToSingleConversation: true };
const UNLOCKED = { lockToSingleConversation: false };
const LATER = NOW + 3_600_000;

describe("status", () => {
  it("is a no-op when status and snooze time stay, and then needs no inbox", () => {
    expect(setStatus(conversation(), { status: "open", snoozedUntil: null, actor: ana }, { now: NOW })).toEqual({ kind: "unchanged" });
    expect(setStatus(conversation({ status: "snoozed", snoozedUntil: LATER }), { status: "snoozed", snoozedUntil: LATER, actor: ana }, { now: NOW })).toEqual({
      kind: "unchanged",
    });
    // A snooze time given with any other status is ignored.
    expect(setStatus(conversation({ status: "resolved" }), { status: "resolved", snoozedUntil: LATER, actor: ana }, { now: NOW })).toEqual({ kind: "unchanged" });
  });

  it("asks for the inbox's lock setting before changing", () => {
    expect(setStatus(conversation(), { status: "resolved", snoozedUntil: null, actor: ana }, { now: NOW })).toEqual({ kind: "needs_inbox" });
  });

  it("resolves: releases the lock, emits the change, writes 'Resolved by'", () => {
    const state = conversation({ singleOpenKey: "ci_1" });
    const result = changed(setStatus(state, { status: "resolved", snoozedUntil: null, actor: ana }, { now: NOW, inbox: LOCKED }));
    expect(result.snoozeUntil).toBeNull();
    const { writes } = result;
    expect(writes.conversation).toMatchObject({ status: "resolved", snoozedUntil: null, singleOpenKey: null, lastSeq: 4, lastEventSequence: 7, updatedAt: NOW });
    expect(writes.events.map((event) => [event.type, event.sequence, event.origin])).toEqual([
      ["conversation_status_changed", 6, ana.origin],
      ["message_created", 7, ana.origin],
    ]);
    expect(writes.events[0]!.data).toEqual({
      conversation: expect.objectContaining({ status: "resolved" }),
      changed_attributes: [{ status: { previous_value: "open", current_value: "resolved" } }],
    });
    expect(writes.messages).toEqual([expect.objectContaining({ messageType: "activity", content: "Resolved by Ana", seq: 4, senderType: "user", senderId: "usr_ana" })]);
  });

  it("marks as pending; a pending conversation keeps the contact's lock", () => {
    const { writes } = changed(setStatus(conversation({ singleOpenKey: "ci_1" }), { status: "pending", snoozedUntil: null, actor: ana }, { now: NOW, inbox: LOCKED }));
    expect(writes.conversation).toMatchObject({ status: "pending", singleOpenKey: "ci_1" });
    expect(writes.messages[0]!.content).toBe("Marked as pending by Ana");
  });

  it("snoozes until a time and says when to wake up", () => {
    const result = changed(setStatus(conversation(), { status: "snoozed", snoozedUntil: LATER, actor: ana }, { now: NOW, inbox: UNLOCKED }));
    expect(result.snoozeUntil).toBe(LATER);
    expect(result.writes.conversation).toMatchObject({ status: "snoozed", snoozedUntil: LATER });
    expect(result.writes.messages[0]!.content).toBe(`Snoozed until ${new Date(LATER).toISOString()} by Ana`);
    expect(result.writes.events[0]!.data).toMatchObject({ conversation: { snoozed_until: new Date(LATER).toISOString() } });
  });

  it("a new snooze time for a snoozed conversation is a change", () => {
    const result = changed(setStatus(conversation({ status: "snoozed", snoozedUntil: LATER }), { status: "snoozed", snoozedUntil: LATER + 1, actor: ana }, { now: NOW, inbox: UNLOCKED }));
    expect(result.snoozeUntil).toBe(LATER + 1);
    expect(result.writes.events[0]!.data).toMatchObject({ changed_attributes: [{ status: { previous_value: "snoozed", current_value: "snoozed" } }] });
  });

  it("leaving a snooze clears its time", () => {
    const result = changed(setStatus(conversation({ status: "snoozed", snoozedUntil: LATER }), { status: "resolved", snoozedUntil: null, actor: ana }, { now: NOW, inbox: UNLOCKED }));
    expect(result.writes.conversation.snoozedUntil).toBeNull();
    expect(result.snoozeUntil).toBeNull();
  });

  describe("reopening and lock-to-single", () => {
    it("an agent reopens a resolved conversation: 'Reopened by', and it takes the lock in a locking inbox", () => {
      const { writes } = changed(setStatus(conversation({ status: "resolved" }), { status: "open", snoozedUntil: null, actor: ana }, { now: NOW, inbox: LOCKED }));
      expect(writes.conversation).toMatchObject({ status: "open", singleOpenKey: "ci_1" });
      expect(writes.messages[0]!.content).toBe("Reopened by Ana");
    });

    it("without the lock setting, no key", () => {
      const { writes } = changed(setStatus(conversation({ status: "resolved" }), { status: "open", snoozedUntil: null, actor: ana }, { now: NOW, inbox: UNLOCKED }));
      expect(writes.conversation.singleOpenKey).toBeNull();
    });

    it("a thread with the integrator's own source_id is exempt from the lock", () => {
      const { writes } = changed(
        setStatus(conversation({ status: "resolved", sourceId: "thread-1" }), { status: "open", snoozedUntil: null, actor: ana }, { now: NOW, inbox: LOCKED }),
      );
      expect(writes.conversation.singleOpenKey).toBeNull();
    });

    it("an agent ending a snooze early is 'Reopened by', not the snooze ending", () => {
      const { writes } = changed(setStatus(conversation({ status: "snoozed", snoozedUntil: LATER }), { status: "open", snoozedUntil: null, actor: ana }, { now: NOW, inbox: UNLOCKED }));
      expect(writes.messages[0]!.content).toBe("Reopened by Ana");
    });
  });
});

describe("snooze wake-up", () => {
  it("leaves alone what is not a snooze that has ended", () => {
    expect(wakeIfDue(conversation(), { now: NOW })).toEqual({ kind: "unchanged" });
    expect(wakeIfDue(conversation({ status: "resolved" }), { now: NOW })).toEqual({ kind: "unchanged" });
    expect(wakeIfDue(conversation({ status: "snoozed", snoozedUntil: NOW + 1 }), { now: NOW })).toEqual({ kind: "unchanged" });
    expect(wakeIfDue(conversation({ status: "snoozed", snoozedUntil: null }), { now: NOW })).toEqual({ kind: "unchanged" });
    expect(snoozeEnded(conversation({ status: "snoozed", snoozedUntil: NOW + 1 }), NOW)).toBe(false);
  });

  it("reopens a snooze whose time has come, as the system", () => {
    const state = conversation({ status: "snoozed", snoozedUntil: NOW });
    expect(snoozeEnded(state, NOW)).toBe(true);
    expect(wakeIfDue(state, { now: NOW })).toEqual({ kind: "needs_inbox" });
    const { writes } = changed(wakeIfDue(state, { now: NOW + 5, inbox: LOCKED }));
    expect(writes.conversation).toMatchObject({ status: "open", snoozedUntil: null, singleOpenKey: "ci_1", updatedAt: NOW + 5 });
    expect(writes.events.map((event) => [event.type, event.origin])).toEqual([
      ["conversation_status_changed", SYSTEM_ACTOR.origin],
      ["message_created", SYSTEM_ACTOR.origin],
    ]);
    expect(writes.events[0]!.data).toMatchObject({ changed_attributes: [{ status: { previous_value: "snoozed", current_value: "open" } }] });
    expect(writes.messages[0]).toMatchObject({ content: "Conversation reopened: snooze ended", senderType: "system", senderId: null });
  });
});
