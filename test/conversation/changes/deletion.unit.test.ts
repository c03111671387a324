import { describe, expect, it } from "vitest";
import { applyDeletion, checkDeletion, DELETED_CONTENT } from "../../../src/conversation/changes/deletion";
import { ana, changed, conversation, messageRow, NOW } from "./fixtures";

describe("deleting a message (Chatwoot's soft delete)", () => {
  it("activity lines are not deleted; a deleted message stays deleted", () => {
    expect(checkDeletion(messageRow({ messageType: "activity" }))).toBe("not_deletable");
    expect(checkDeletion(messageRow({ contentAttributes: { deleted: true } }))).toBe("unchanged");
    expect(checkDeletion(messageRow())).toBe("apply");
  });

  it("empties the message in place and emits message_updated without the deleted text", () => {
    const state = conversation();
    const message = messageRow({ content: "secret plans", attachments: [{ url: "https://files.example/a.png", file_type: "image" }] });
    const result = changed(applyDeletion(state, message, { now: NOW, origin: ana.origin }));
    expect(result.writes.messageDeletion).toEqual({ id: message.id, content: DELETED_CONTENT, contentAttributes: { deleted: true }, attachments: [], updatedAt: NOW });
    expect(result.writes.messages).toEqual([]);
    expect(result.writes.events).toHaveLength(1);
    expect(result.writes.events[0]).toMatchObject({ type: "message_updated", private: false });
    expect(JSON.stringify(result.writes.events[0]!.data)).not.toContain("secret plans");
    expect(result.writes.events[0]!.data).toMatchObject({ changed_attributes: [{ deleted: { previous_value: false, current_value: true } }] });
  });

  it("a private note's deletion is as private as the note", () => {
    const result = changed(applyDeletion(conversation(), messageRow({ private: true }), { now: NOW, origin: ana.origin }));
    expect(result.writes.events[0]!.private).toBe(true);
  });
});
