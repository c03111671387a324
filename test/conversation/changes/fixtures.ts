// Plain values for the conversation's pure changes: no workerd, no D1.
import type { Actor, MessageDraft } from "../../../src/conversation/protocol";
import type { Contact, ConversationRow, MessageRow } from "../../../src/conversation/resources";

export const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
export const EARLIER = NOW - 60_000;

export function conversation(overrides: Partial<ConversationRow> = {}): ConversationRow {
  return {
    id: "cnv_1",
    accountId: "acc_1",
    inboxId: "inb_1",
    contactId: "ct_1",
    contactInboxId: "ci_1",
    sourceId: null,
    status: "open",
    assigneeId: null,
    labels: [],
    customAttributes: {},
    snoozedUntil: null,
    singleOpenKey: null,
    lastSeq: 3,
    lastEventSequence: 5,
    lastActivityAt: EARLIER,
    createdAt: EARLIER,
    updatedAt: EARLIER,
    ...overrides,
  };
}

export const ana: Actor = { origin: { type: "user", id: "usr_ana", token_id: "tok_ana" }, name: "Ana", sender: { type: "user", id: "usr_ana" } };
export const rule: Actor = {
  origin: { type: "automation", id: "rule_1", rule_id: "rule_1" },
  name: "Automation",
  sender: { type: "automation", id: "rule_1" },
};

export const contact: Contact = {
  id: "ct_1",
  source_id: "user-1",
  name: "Carla",
  email: null,
  phone: null,
  identifier: null,
  identifier_verified: false,
  custom_attributes: {},
  created_at: new Date(EARLIER).toISOString(),
  updated_at: new Date(EARLIER).toISOString(),
};

export const integrator = { type: "token" as const, id: "tok_int", token_id: "tok_int" };

export function incoming(overrides: Partial<MessageDraft> = {}): MessageDraft {
  return {
    messageType: "incoming",
    content: "hello",
    contentAttributes: {},
    attachments: [],
    private: false,
    sender: { type: "contact", id: "ct_1" },
    sourceId: null,
    ...overrides,
  };
}

export function reply(overrides: Partial<MessageDraft> = {}): MessageDraft {
  return incoming({ messageType: "outgoing", content: "hi, how can I help?", sender: { type: "user", id: "usr_ana" }, ...overrides });
}

export function messageRow(overrides: Partial<MessageRow> = {}): MessageRow {
  return {
    id: "msg_1",
    accountId: "acc_1",
    inboxId: "inb_1",
    conversationId: "cnv_1",
    seq: 2,
    messageType: "outgoing",
    content: "hi",
    contentAttributes: {},
    attachments: [],
    private: false,
    senderType: "user",
    senderId: "usr_ana",
    sourceId: null,
    status: "sent",
    statusReason: null,
    requestKey: null,
    createdAt: EARLIER,
    updatedAt: EARLIER,
    origin: null,
    externalCreatedAt: null,
    ...overrides,
  };
}

/** Narrows a change's answer to the changed case (fails the test otherwise). */
export function changed<T extends { kind: string }>(decision: T): Extract<T, { kind: "changed" }> {
  if (decision.kind !== "changed") throw new Error(`expected a change, got ${decision.kind}`);
  return decision as Extract<T, { kind: "changed" }>;
}
