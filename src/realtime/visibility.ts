// Who may see what on a realtime stream — the same rules as the API, as pure functions (test/realtime/visibility.unit.test.ts).
import type { Role } from "../db/schema";

/** An agent's stream: the user behind the ticket and the inboxes they work when it was opened. */
export type AgentSubscriber = {
  kind: "agent";
  accountId: string;
  userId: string;
  /** The token that asked for the ticket: revoking it closes the stream. */
  tokenId: string;
  role: Role;
  /** "all" for administrators; else the inboxes the agent was a member of when the stream opened. */
  inboxIds: string[] | "all";
};

/** A contact's stream (an integrator's live chat UI): one contact as reached through one inbox. */
export type ContactSubscriber = {
  kind: "contact";
  accountId: string;
  inboxId: string;
  contactId: string;
  contactInboxId: string;
};

export type Subscriber = AgentSubscriber | ContactSubscriber;

/** An event as the stream sees it: a committed row of the events table, or an ephemeral one (typing). */
export type StreamEvent = {
  /** The event's position in the events table (its resume point); null for ephemeral events. */
  position: number | null;
  id: string;
  type: string;
  accountId: string;
  inboxId: string | null;
  conversationId: string | null;
  private: boolean;
  data: { [key: string]: unknown };
};

/** What a contact's stream carries: the conversation as the contact lives it, nothing about the team's work. */
const CONTACT_EVENT_TYPES = new Set([
  "message_created",
  "message_updated",
  "conversation_created",
  "conversation_status_changed",
  "conversation_typing_on",
  "conversation_typing_off",
]);

type Snapshot = { contact_id?: unknown; id?: unknown; private?: unknown; message_type?: unknown };

export function visibleTo(subscriber: Subscriber, event: StreamEvent): boolean {
  if (event.accountId !== subscriber.accountId || event.type === "webhook.test") return false;
  if (subscriber.kind === "agent") {
    // Agents see private notes and activity; an agent only in the inboxes they work.
    if (subscriber.inboxIds === "all") return true;
    return event.inboxId !== null && subscriber.inboxIds.includes(event.inboxId);
  }
  if (event.private || event.inboxId !== subscriber.inboxId || !CONTACT_EVENT_TYPES.has(event.type)) return false;
  const conversation = event.data.conversation as Snapshot | undefined;
  if (conversation?.contact_id !== subscriber.contactId) return false;
  const message = event.data.message as Snapshot | undefined;
  if (message && (message.private === true || message.message_type === "activity")) return false;
  return true;
}

/** Tags accept at most 10 per socket; an agent in more inboxes than fit is found by a catch-all tag and filtered. */
const MAX_INBOX_TAGS = 6;

/** The tags a socket is accepted with, so fan-out finds its recipients without scanning every socket. */
export function tagsFor(subscriber: Subscriber): string[] {
  if (subscriber.kind === "contact") {
    return ["contact", `contact:${subscriber.inboxId}:${subscriber.contactId}`, `contact-inbox:${subscriber.contactInboxId}`];
  }
  const tags = ["agent", `user:${subscriber.userId}`, `token:${subscriber.tokenId}`];
  if (subscriber.inboxIds === "all") tags.push("all-inboxes");
  else if (subscriber.inboxIds.length > MAX_INBOX_TAGS) tags.push("many-inboxes");
  else tags.push(...subscriber.inboxIds.map((id) => `inbox:${id}`));
  return tags;
}

/** The tags whose sockets may see the event; each candidate is still checked with visibleTo. */
export function candidateTags(event: StreamEvent): string[] {
  const tags = ["all-inboxes", "many-inboxes"];
  if (event.inboxId !== null) {
    tags.push(`inbox:${event.inboxId}`);
    const contactId = (event.data.conversation as Snapshot | undefined)?.contact_id;
    if (typeof contactId === "string") tags.push(`contact:${event.inboxId}:${contactId}`);
  }
  return tags;
}
