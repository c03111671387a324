import { describe, expect, it } from "vitest";
import { assign } from "../../../src/conversation/changes/assign";
import { ana, changed, conversation, NOW, rule } from "./fixtures";

const bo = { id: "usr_bo", name: "Bo" };

describe("assigning", () => {
  it("assigns: conversation_updated with the change, then an activity line", () => {
    const { writes } = changed(assign(conversation(), { assignee: bo, actor: ana }, NOW));
    expect(writes.conversation).toMatchObject({ assigneeId: "usr_bo", lastSeq: 4, lastEventSequence: 7, updatedAt: NOW });
    // Activity lines do not count as conversation activity.
    expect(writes.conversation.lastActivityAt).toBe(conversation().lastActivityAt);
    expect(writes.events.map((event) => [event.type, event.sequence, event.origin])).toEqual([
      ["conversation_updated", 6, ana.origin],
      ["message_created", 7, ana.origin],
    ]);
    expect(writes.events[0]!.data).toEqual({
      conversation: expect.objectContaining({ assignee_id: "usr_bo" }),
      changed_attributes: [{ assignee_id: { previous_value: null, current_value: "usr_bo" } }],
    });
    expect(writes.messages).toHaveLength(1);
    expect(writes.messages[0]).toMatchObject({
      seq: 4,
      messageType: "activity",
      content: "Assigned to Bo by Ana",
      private: false,
      senderType: "user",
      senderId: "usr_ana",
      sourceId: null,
      requestKey: null,
      createdAt: NOW,
    });
    expect(writes.events[1]!.data).toEqual({
      message: expect.objectContaining({ id: writes.messages[0]!.id, content: "Assigned to Bo by Ana", message_type: "activity" }),
      conversation: expect.objectContaining({ assignee_id: "usr_bo", messages_count: 4 }),
    });
  });

  it("reassigns from one agent to another", () => {
    const { writes } = changed(assign(conversation({ assigneeId: "usr_cy" }), { assignee: bo, actor: ana }, NOW));
    expect(writes.events[0]!.data).toMatchObject({ changed_attributes: [{ assignee_id: { previous_value: "usr_cy", current_value: "usr_bo" } }] });
  });

  it("unassigns", () => {
    const { writes } = changed(assign(conversation({ assigneeId: "usr_bo" }), { assignee: null, actor: ana }, NOW));
    expect(writes.conversation.assigneeId).toBeNull();
    expect(writes.events[0]!.data).toMatchObject({ changed_attributes: [{ assignee_id: { previous_value: "usr_bo", current_value: null } }] });
    expect(writes.messages[0]!.content).toBe("Unassigned by Ana");
  });

  it("is a no-op when the assignee does not change", () => {
    expect(assign(conversation({ assigneeId: "usr_bo" }), { assignee: bo, actor: ana }, NOW)).toEqual({ kind: "unchanged" });
    expect(assign(conversation(), { assignee: null, actor: ana }, NOW)).toEqual({ kind: "unchanged" });
  });

  it("auto-assignment never takes a conversation from an agent", () => {
    expect(assign(conversation({ assigneeId: "usr_cy" }), { assignee: bo, actor: rule, onlyIfUnassigned: true }, NOW)).toEqual({ kind: "unchanged" });
    const { writes } = changed(assign(conversation(), { assignee: bo, actor: rule, onlyIfUnassigned: true }, NOW));
    expect(writes.conversation.assigneeId).toBe("usr_bo");
    expect(writes.messages[0]).toMatchObject({ content: "Assigned to Bo by Automation", senderType: "automation", senderId: "rule_1" });
    expect(writes.events.every((event) => event.origin === rule.origin)).toBe(true);
  });
});
