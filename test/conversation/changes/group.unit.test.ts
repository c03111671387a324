import { describe, expect, it } from "vitest";
import { appendMessage, appendMessages, commitGroups, GROUP_MAX_APPENDS, GROUP_MAX_CHARS, type Appended, type GroupedAppend } from "../../../src/conversation/changes/message";
import { ana, changed, contact, conversation, incoming, integrator, NOW, reply } from "./fixtures";

const UNLOCKED = { lockToSingleConversation: false };

const append = (content: string, overrides: Partial<GroupedAppend> = {}): GroupedAppend => ({
  message: incoming({ content }),
  contact,
  reopen: true,
  requestKey: null,
  origin: integrator,
  ...overrides,
});

describe("appending several messages at once (group commit)", () => {
  it("writes exactly what appending them one after another writes: seq, sequences, snapshots, answers", () => {
    const state = conversation();
    const appends = [append("one", { requestKey: "k1" }), append("two"), { ...append("three"), message: reply({ content: "three" }), reopen: false, origin: ana.origin }];
    const group = changed(appendMessages(state, appends, { now: NOW }));

    // The same appends, one at a time, each on the state the previous one left.
    let current = state;
    const alone = appends.map(({ origin, ...command }) => {
      const one = changed(appendMessage(current, command, { now: NOW, origin }));
      current = one.writes.conversation;
      return one;
    });
    // Ids are random: compare with each message's and event's id replaced.
    const normal = (one: Appended) =>
      JSON.parse(JSON.stringify({ message: one.message, writes: one.writes }).replaceAll(one.message.id, "msg").replace(/"evt_[^"]+"/g, '"evt"'));
    expect(group.appended).toHaveLength(3);
    group.appended.forEach((one, i) => expect(normal(one)).toEqual(normal(alone[i]!)));
    expect(group.appended.map((one) => one.message.seq)).toEqual([4, 5, 6]);
    expect(group.writes.messages.map((row) => row.seq)).toEqual([4, 5, 6]);
    expect(group.writes.events.map((event) => [event.type, event.sequence])).toEqual([
      ["message_created", 6],
      ["message_created", 7],
      ["message_created", 8],
    ]);
    expect(group.writes.events.map((event) => event.origin)).toEqual([integrator, integrator, ana.origin]);
    expect(group.writes.conversation).toEqual(group.appended[2]!.writes.conversation);
    expect(group.writes.conversation).toMatchObject({ lastSeq: 6, lastEventSequence: 8, lastActivityAt: NOW, updatedAt: NOW });
    expect(group.writes.messages.map((row) => row.requestKey)).toEqual(["k1", null, null]);
    // Each caller's answer is the conversation right after its own message.
    expect(group.appended.map((one) => one.writes.conversation.lastSeq)).toEqual([4, 5, 6]);
  });

  it("the first append reopens a resolved conversation (once): it asks for the inbox, the others find it open", () => {
    const state = conversation({ status: "resolved" });
    const appends = [append("one"), append("two")];
    expect(appendMessages(state, appends, { now: NOW })).toEqual({ kind: "needs_inbox" });
    const group = changed(appendMessages(state, appends, { now: NOW, inbox: UNLOCKED }));
    expect(group.writes.events.map((event) => [event.type, event.sequence])).toEqual([
      ["conversation_status_changed", 6],
      ["message_created", 7],
      ["message_created", 8],
    ]);
    expect(group.writes.conversation.status).toBe("open");
  });

  it("leaves its input alone", () => {
    const state = conversation({ labels: ["a"] });
    const copy = structuredClone(state);
    appendMessages(state, [append("one"), append("two")], { now: NOW });
    expect(state).toEqual(copy);
  });
});

describe("splitting waiting appends into groups", () => {
  const about = (item: { id: number; key?: string; source?: string; chars?: number; conversation?: string }) => ({
    conversationId: item.conversation ?? "cnv_1",
    keys: [item.key ? `key:${item.key}` : null, item.source ? `source:${item.source}` : null],
    chars: item.chars ?? 10,
  });
  const ids = (groups: { id: number }[][]) => groups.map((group) => group.map((item) => item.id));

  it("keeps arrival order and caps a group's size", () => {
    const items = Array.from({ length: GROUP_MAX_APPENDS * 2 + 3 }, (_, id) => ({ id }));
    const groups = commitGroups(items, about);
    expect(groups.map((group) => group.length)).toEqual([GROUP_MAX_APPENDS, GROUP_MAX_APPENDS, 3]);
    expect(groups.flat()).toEqual(items);
  });

  it("starts a new group at a repeated Idempotency-Key or source_id, so the repeat sees the first committed", () => {
    const items = [{ id: 0, key: "a" }, { id: 1, source: "s" }, { id: 2, key: "b" }, { id: 3, key: "a" }, { id: 4, source: "s" }, { id: 5, key: "s" }];
    expect(ids(commitGroups(items, about))).toEqual([[0, 1, 2], [3, 4, 5]]);
  });

  it("caps a group's content, but a large append still goes (alone)", () => {
    const items = [{ id: 0 }, { id: 1, chars: GROUP_MAX_CHARS }, { id: 2 }, { id: 3, chars: GROUP_MAX_CHARS - 20 }];
    expect(ids(commitGroups(items, about))).toEqual([[0], [1], [2, 3]]);
  });

  it("never mixes conversations", () => {
    const items = [{ id: 0 }, { id: 1, conversation: "cnv_2" }, { id: 2, conversation: "cnv_2" }, { id: 3 }];
    expect(ids(commitGroups(items, about))).toEqual([[0], [1, 2], [3]]);
    expect(commitGroups([], about)).toEqual([]);
  });
});
