import { describe, expect, it } from "vitest";
import { appendMessage, reopens } from "../../../src/conversation/changes/message";
import { ana, changed, contact, conversation, EARLIER, incoming, integrator, NOW, reply } from "./fixtures";

const LOCKED = { lockToSingleConversation: true };
const UNLOCKED = { lockToSingleConversation: false };

describe("appending a message", () => {
  it("an incoming message to an open conversation: one row with the next seq, one message_created event", () => {
    const state = conversation();
    const { writes, message } = changed(appendMessage(state, { message: incoming({ sourceId: "m-1" }), contact, reopen: true, requestKey: null }, { now: NOW, origin: integrator }));
    expect(message).toMatchObject({
      accountId: "acc_1",
      inboxId: "inb_1",
      conversationId: "cnv_1",
      seq: 4,
      messageType: "incoming",
      content: "hello",
      private: false,
      senderType: "contact",
      senderId: "ct_1",
      sourceId: "m-1",
      status: "sent",
      statusReason: null,
      requestKey: null,
      createdAt: NOW,
      updatedAt: NOW,
    });
    expect(message.id).toMatch(/^msg_/);
    expect(writes.messages).toEqual([message]);
    expect(writes.accountLabels).toEqual([]);
    expect(writes.messageStatus).toBeNull();
    expect(writes.conversation).toMatchObject({ status: "open", lastSeq: 4, lastEventSequence: 6, lastActivityAt: NOW, updatedAt: NOW });
    expect(writes.events).toHaveLength(1);
    const [event] = writes.events;
    expect(event).toMatchObject({ type: "message_created", sequence: 6, private: false, origin: integrator, accountId: "acc_1", inboxId: "inb_1", conversationId: "cnv_1", createdAt: NOW });
    expect(event!.data).toMatchObject({
      message: { id: message.id, seq: 4, message_type: "incoming", source_id: "m-1" },
      // The snapshot is taken before the row gets the change's time.
      conversation: { status: "open", messages_count: 4, last_activity_at: new Date(NOW).toISOString(), updated_at: new Date(EARLIER).toISOString() },
      contact,
    });
  });

  it("stores the Idempotency-Key on the row", () => {
    const { message } = changed(appendMessage(conversation(), { message: incoming(), contact, reopen: true, requestKey: "key-1" }, { now: NOW, origin: integrator }));
    expect(message.requestKey).toBe("key-1");
  });

  it("leaves its input alone", () => {
    const state = conversation({ status: "resolved", labels: ["a"] });
    const copy = structuredClone(state);
    appendMessage(state, { message: incoming(), contact, reopen: true, requestKey: null }, { now: NOW, origin: integrator, inbox: LOCKED });
    expect(state).toEqual(copy);
  });

  describe("reopen rules", () => {
    for (const status of ["resolved", "snoozed"] as const) {
      it(`an incoming message reopens a ${status} conversation: status_changed, then message_created, no activity line`, () => {
        const state = conversation({ status, snoozedUntil: status === "snoozed" ? NOW + 3_600_000 : null });
        const command = { message: incoming(), contact, reopen: true, requestKey: null };
        expect(reopens(state, command)).toBe(true);
        expect(appendMessage(state, command, { now: NOW, origin: integrator })).toEqual({ kind: "needs_inbox" });

        const { writes, message } = changed(appendMessage(state, command, { now: NOW, origin: integrator, inbox: UNLOCKED }));
        expect(writes.conversation).toMatchObject({ status: "open", snoozedUntil: null, singleOpenKey: null, lastSeq: 4, lastEventSequence: 7 });
        expect(writes.messages).toEqual([message]);
        expect(writes.events.map((event) => [event.type, event.sequence])).toEqual([
          ["conversation_status_changed", 6],
          ["message_created", 7],
        ]);
        expect(writes.events[0]!.data).toEqual({
          conversation: expect.objectContaining({ status: "open", snoozed_until: null, messages_count: 3 }),
          changed_attributes: [{ status: { previous_value: status, current_value: "open" } }],
        });
        expect(writes.events[0]!.origin).toEqual(integrator);
      });
    }

    it("reopening in an inbox that locks contacts to one conversation takes the lock", () => {
      const { writes } = changed(
        appendMessage(conversation({ status: "resolved" }), { message: incoming(), contact, reopen: true, requestKey: null }, { now: NOW, origin: integrator, inbox: LOCKED }),
      );
      expect(writes.conversation.singleOpenKey).toBe("ci_1");
    });

    it("a thread the integrator named with its own source_id never takes the lock", () => {
      const { writes } = changed(
        appendMessage(conversation({ status: "resolved", sourceId: "thread-1" }), { message: incoming(), contact, reopen: true, requestKey: null }, { now: NOW, origin: integrator, inbox: LOCKED }),
      );
      expect(writes.conversation.singleOpenKey).toBeNull();
    });

    for (const status of ["open", "pending"] as const) {
      it(`an incoming message leaves a ${status} conversation ${status}, without asking for the inbox`, () => {
        const state = conversation({ status });
        const command = { message: incoming(), contact, reopen: true, requestKey: null };
        expect(reopens(state, command)).toBe(false);
        const { writes } = changed(appendMessage(state, command, { now: NOW, origin: integrator }));
        expect(writes.conversation.status).toBe(status);
        expect(writes.events.map((event) => event.type)).toEqual(["message_created"]);
      });
    }

    it("a reply does not reopen a resolved conversation", () => {
      const state = conversation({ status: "resolved" });
      const command = { message: reply(), contact, reopen: false, requestKey: null };
      expect(reopens(state, command)).toBe(false);
      const { writes } = changed(appendMessage(state, command, { now: NOW, origin: ana.origin }));
      expect(writes.conversation.status).toBe("resolved");
      expect(writes.events.map((event) => event.type)).toEqual(["message_created"]);
    });
  });

  describe("reply and note", () => {
    it("a reply is a public outgoing message: its event may leave the platform", () => {
      const { writes, message } = changed(appendMessage(conversation(), { message: reply(), contact, reopen: false, requestKey: "k" }, { now: NOW, origin: ana.origin }));
      expect(message).toMatchObject({ messageType: "outgoing", private: false, senderType: "user", senderId: "usr_ana", requestKey: "k" });
      expect(writes.events[0]).toMatchObject({ type: "message_created", private: false, origin: ana.origin });
      expect(writes.conversation.lastActivityAt).toBe(NOW);
    });

    it("a note is private, and so is its event", () => {
      const { writes, message } = changed(
        appendMessage(conversation(), { message: reply({ private: true, content: "internal" }), contact, reopen: false, requestKey: null }, { now: NOW, origin: ana.origin }),
      );
      expect(message).toMatchObject({ messageType: "outgoing", private: true, content: "internal" });
      expect(writes.events[0]).toMatchObject({ type: "message_created", private: true });
      expect(writes.events[0]!.data).toMatchObject({ message: { private: true }, contact });
    });
  });

  describe("the integrator's own outgoing messages (issue 19)", () => {
    const mine = (overrides = {}) =>
      reply({ sender: { type: "system", id: "tok_int" }, origin: "integration", echo: false, externalCreatedAt: EARLIER, ...overrides });

    it("is a public message whose event stays home (no echo), with the integration as sender and its original time", () => {
      const { writes, message } = changed(appendMessage(conversation(), { message: mine(), contact, reopen: false, requestKey: null }, { now: NOW, origin: integrator }));
      expect(message).toMatchObject({ messageType: "outgoing", private: false, origin: "integration", externalCreatedAt: EARLIER, createdAt: NOW });
      expect(writes.events[0]).toMatchObject({ type: "message_created", private: true });
      expect(writes.events[0]!.data).toMatchObject({
        message: { private: false, sender: { type: "integration", id: "tok_int" }, external_created_at: new Date(EARLIER).toISOString() },
      });
    });

    it("is echoed when asked", () => {
      const { writes } = changed(appendMessage(conversation(), { message: mine({ echo: true }), contact, reopen: false, requestKey: null }, { now: NOW, origin: integrator }));
      expect(writes.events[0]).toMatchObject({ private: false });
    });
  });
});
