import { describe, expect, it } from "vitest";
import { setLabels, wantedLabels } from "../../../src/conversation/changes/labels";
import { ana, changed, conversation, NOW } from "./fixtures";

describe("labels", () => {
  it("replaces the set, sorted and without duplicates; new labels are created for the account", () => {
    const { writes } = changed(setLabels(conversation({ labels: ["old"] }), { actor: ana, labels: ["vip", "billing", "vip"] }, NOW));
    expect(writes.conversation.labels).toEqual(["billing", "vip"]);
    expect(writes.accountLabels).toEqual(["billing", "vip"]);
    expect(writes.events.map((event) => [event.type, event.sequence])).toEqual([
      ["conversation_updated", 6],
      ["message_created", 7],
    ]);
    expect(writes.events[0]!.data).toEqual({
      conversation: expect.objectContaining({ labels: ["billing", "vip"] }),
      changed_attributes: [{ labels: { previous_value: ["old"], current_value: ["billing", "vip"] } }],
    });
    expect(writes.messages[0]).toMatchObject({ messageType: "activity", content: "Ana added billing, vip; removed old", seq: 4 });
  });

  it("says only what happened: added only, removed only", () => {
    expect(changed(setLabels(conversation({ labels: ["a"] }), { actor: ana, labels: ["a", "b"] }, NOW)).writes.messages[0]!.content).toBe("Ana added b");
    expect(changed(setLabels(conversation({ labels: ["a", "b"] }), { actor: ana, labels: ["a"] }, NOW)).writes.messages[0]!.content).toBe("Ana removed b");
  });

  it("removing labels creates none for the account", () => {
    const { writes } = changed(setLabels(conversation({ labels: ["a", "b"] }), { actor: ana, labels: [] }, NOW));
    expect(writes.conversation.labels).toEqual([]);
    expect(writes.accountLabels).toEqual([]);
  });

  it("edits against the set as it is now", () => {
    const { writes } = changed(setLabels(conversation({ labels: ["a", "b"] }), { actor: ana, edit: { add: ["c", "a"], remove: ["b"] } }, NOW));
    expect(writes.conversation.labels).toEqual(["a", "c"]);
    expect(writes.accountLabels).toEqual(["c"]);
    expect(writes.messages[0]!.content).toBe("Ana added c; removed b");
  });

  it("a label both added and removed in one edit ends up removed", () => {
    expect(wantedLabels(["a"], { actor: ana, edit: { add: ["b"], remove: ["b"] } })).toEqual(["a"]);
  });

  it("is a no-op when the set does not change", () => {
    expect(setLabels(conversation({ labels: ["a", "b"] }), { actor: ana, labels: ["b", "a", "a"] }, NOW)).toEqual({ kind: "unchanged" });
    expect(setLabels(conversation({ labels: ["a"] }), { actor: ana, edit: { add: ["a"], remove: ["z"] } }, NOW)).toEqual({ kind: "unchanged" });
    expect(setLabels(conversation(), { actor: ana, edit: { add: [], remove: [] } }, NOW)).toEqual({ kind: "unchanged" });
  });

  it("leaves its input alone", () => {
    const state = conversation({ labels: ["a"] });
    setLabels(state, { actor: ana, labels: ["b"] }, NOW);
    expect(state.labels).toEqual(["a"]);
  });
});
