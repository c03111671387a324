// The visibility rules as pure functions: every row of the matrix, in plain Node.
import { describe, expect, it } from "vitest";
import { candidateTags, tagsFor, visibleTo, type AgentSubscriber, type ContactSubscriber, type StreamEvent } from "../../src/realtime/visibility";

const admin: AgentSubscriber = { kind: "agent", accountId: "acc_1", userId: "usr_a", tokenId: "tok_a", role: "administrator", inboxIds: "all" };
const member: AgentSubscriber = { kind: "agent", accountId: "acc_1", userId: "usr_m", tokenId: "tok_m", role: "agent", inboxIds: ["inb_1"] };
const outsider: AgentSubscriber = { ...member, userId: "usr_o", tokenId: "tok_o", inboxIds: ["inb_2"] };
const foreignAdmin: AgentSubscriber = { ...admin, accountId: "acc_2" };
const contact: ContactSubscriber = { kind: "contact", accountId: "acc_1", inboxId: "inb_1", contactId: "ct_1", contactInboxId: "ci_1" };

function event(overrides: Partial<StreamEvent> & { message?: Record<string, unknown>; contactId?: string }): StreamEvent {
  const { message, contactId = "ct_1", ...rest } = overrides;
  return {
    position: 1,
    id: "evt_1",
    type: "message_created",
    accountId: "acc_1",
    inboxId: "inb_1",
    conversationId: "cnv_1",
    private: false,
    data: { conversation: { id: "cnv_1", contact_id: contactId }, ...(message ? { message } : {}) },
    ...rest,
  };
}

describe("visibleTo", () => {
  const reply = event({ message: { private: false, message_type: "outgoing" } });
  const note = event({ private: true, message: { private: true, message_type: "outgoing" } });
  const activity = event({ message: { private: false, message_type: "activity" } });
  const otherContact = event({ contactId: "ct_2", message: { private: false, message_type: "incoming" } });
  const assignment = event({ type: "conversation_updated" });
  const contactUpdated = event({ type: "contact_updated", conversationId: null, data: { contact: { id: "ct_1" } } });

  it.each([
    ["a reply", reply, { admin: true, member: true, outsider: false, foreignAdmin: false, contact: true }],
    ["a private note", note, { admin: true, member: true, outsider: false, foreignAdmin: false, contact: false }],
    ["an activity line", activity, { admin: true, member: true, outsider: false, foreignAdmin: false, contact: false }],
    ["another contact's message", otherContact, { admin: true, member: true, outsider: false, foreignAdmin: false, contact: false }],
    ["an assignment (team work)", assignment, { admin: true, member: true, outsider: false, foreignAdmin: false, contact: false }],
    ["a contact's attributes", contactUpdated, { admin: true, member: true, outsider: false, foreignAdmin: false, contact: false }],
  ])("%s", (_name, subject, expected) => {
    expect({
      admin: visibleTo(admin, subject),
      member: visibleTo(member, subject),
      outsider: visibleTo(outsider, subject),
      foreignAdmin: visibleTo(foreignAdmin, subject),
      contact: visibleTo(contact, subject),
    }).toEqual(expected);
  });

  it("events outside any inbox reach administrators only; pings nobody", () => {
    const accountLevel = event({ inboxId: null });
    expect([visibleTo(admin, accountLevel), visibleTo(member, accountLevel), visibleTo(contact, accountLevel)]).toEqual([true, false, false]);
    expect(visibleTo(admin, event({ type: "webhook.test" }))).toBe(false);
  });
});

describe("tags", () => {
  it("fit the runtime's 10 per socket, however many inboxes an agent works", () => {
    const busy: AgentSubscriber = { ...member, inboxIds: Array.from({ length: 40 }, (_, i) => `inb_${i}`) };
    for (const subscriber of [admin, member, busy, contact]) expect(tagsFor(subscriber).length).toBeLessThanOrEqual(10);
    expect(tagsFor(busy)).toContain("many-inboxes");
    // Every subscriber who may see an event shares a tag with it, so fan-out never misses one.
    const subject = event({ inboxId: "inb_7", message: { private: false, message_type: "incoming" } });
    for (const subscriber of [admin, busy, { ...contact, inboxId: "inb_7" }]) {
      expect(visibleTo(subscriber, subject)).toBe(true);
      expect(tagsFor(subscriber).some((tag) => candidateTags(subject).includes(tag))).toBe(true);
    }
  });
});
