import { describe, expect, it } from "vitest";
import { applyReceipt, checkReceipt } from "../../../src/conversation/changes/receipt";
import { changed, conversation, integrator, messageRow, NOW } from "./fixtures";

describe("delivery receipts", () => {
  it("only outgoing public replies carry receipts", () => {
    expect(checkReceipt(messageRow({ messageType: "incoming" }), { status: "delivered", reason: null })).toBe("not_outgoing");
    expect(checkReceipt(messageRow({ messageType: "activity" }), { status: "delivered", reason: null })).toBe("not_outgoing");
    expect(checkReceipt(messageRow({ private: true }), { status: "delivered", reason: null })).toBe("not_outgoing");
  });

  it("a receipt repeating the status and reason is a no-op; another reason is a change", () => {
    expect(checkReceipt(messageRow({ status: "delivered" }), { status: "delivered", reason: null })).toBe("unchanged");
    expect(checkReceipt(messageRow({ status: "failed", statusReason: "blocked" }), { status: "failed", reason: "blocked" })).toBe("unchanged");
    expect(checkReceipt(messageRow({ status: "failed", statusReason: "blocked" }), { status: "failed", reason: "expired" })).toBe("apply");
  });

  it("receipts are taken in the order they arrive: the latest sets the status", () => {
    expect(checkReceipt(messageRow({ status: "sent" }), { status: "read", reason: null })).toBe("apply");
    expect(checkReceipt(messageRow({ status: "read" }), { status: "delivered", reason: null })).toBe("apply");
    expect(checkReceipt(messageRow({ status: "failed", statusReason: "x" }), { status: "delivered", reason: null })).toBe("apply");
    expect(checkReceipt(messageRow({ status: "read" }), { status: "failed", reason: "bounced" })).toBe("apply");
  });

  it("updates the message and emits message_updated; the history gets no new line", () => {
    const state = conversation();
    const message = messageRow({ status: "delivered" });
    const result = changed(applyReceipt(state, message, { status: "read", reason: null }, { now: NOW, origin: integrator }));
    expect(result.message).toEqual({ ...message, status: "read", statusReason: null, updatedAt: NOW });
    const { writes } = result;
    expect(writes.messageStatus).toEqual({ id: "msg_1", status: "read", statusReason: null, updatedAt: NOW });
    expect(writes.messages).toEqual([]);
    expect(writes.conversation).toEqual({ ...state, lastEventSequence: 6, updatedAt: NOW });
    expect(writes.events).toHaveLength(1);
    expect(writes.events[0]).toMatchObject({ type: "message_updated", sequence: 6, private: false, origin: integrator });
    expect(writes.events[0]!.data).toEqual({
      message: expect.objectContaining({ id: "msg_1", status: "read", status_reason: null, updated_at: new Date(NOW).toISOString() }),
      conversation: expect.objectContaining({ id: "cnv_1", messages_count: 3 }),
      changed_attributes: [{ status: { previous_value: "delivered", current_value: "read" } }],
    });
  });

  it("a failure carries its reason", () => {
    const { writes } = changed(applyReceipt(conversation(), messageRow(), { status: "failed", reason: "blocked by user" }, { now: NOW, origin: integrator }));
    expect(writes.messageStatus).toMatchObject({ status: "failed", statusReason: "blocked by user" });
  });
});
