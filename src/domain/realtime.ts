// Live updates (docs/realtime.md): tickets and pubsub tokens that open streams, typing, last-seen and
// unread counts. The sockets themselves live in the account's realtime object (src/realtime/).
import { waitUntil } from "cloudflare:workers";
import { and, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { conversationObject } from "../conversation/stub";
import { database } from "../db/client";
import { apiTokens, contactInboxes, conversationReads, conversations, inboxes, inboxMembers, messages, realtimeTickets, sessions, users } from "../db/schema";
import { commitWithEvents, publish } from "../delivery/outbox";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { disconnectRealtime, forwardToRealtime, listenerConnecting, pushEphemeral, realtimeObject } from "../realtime/forward";
import { SHARD_HEADER, SUBSCRIBER_HEADER } from "../realtime/object";
import type { AgentSubscriber, ContactSubscriber, Subscriber } from "../realtime/visibility";
import type { Origin } from "../db/schema";
import { requireVisibleConversation, type UserViewer } from "../conversation/access";
import { toContact, toConversation } from "../conversation/resources";
import { insertEventWhere, newEvent } from "../delivery/events";
import { base64url } from "../core/base64";
import { randomBytes, sha256Hex } from "../core/crypto";
import { newId } from "../core/ids";
import { iso } from "../core/time";

/** A ticket opens one stream, once, within this time. */
export const TICKET_TTL_MS = 60_000;

/** A single-use, short-lived ticket for the agent stream, for the user behind this token. */
export async function issueTicket(env: Bindings, user: { accountId: string; userId: string; tokenId: string }) {
  const ticket = `rtk_${base64url(randomBytes(32))}`;
  const now = Date.now();
  const db = database(env);
  await db.batch([
    db.insert(realtimeTickets).values({
      ticketHash: await sha256Hex(ticket),
      accountId: user.accountId,
      userId: user.userId,
      tokenId: user.tokenId,
      expiresAt: now + TICKET_TTL_MS,
      createdAt: now,
    }),
    // Tickets are worthless once expired: keep the table small.
    db.delete(realtimeTickets).where(sql`${realtimeTickets.expiresAt} < ${now - TICKET_TTL_MS}`),
  ]);
  return { ticket, expires_at: iso(now + TICKET_TTL_MS) };
}

const invalidTicket = () =>
  new ApiError("invalid_ticket", "The ticket is unknown, expired or already used; ask for a new one with POST /v1/accounts/{account_id}/realtime/tickets.");

/**
 * Spends a ticket (the UPDATE that marks it used is the race-free single use) and describes who it is
 * for: the user as they are now (role, inboxes), provided the token that asked for it still works.
 */
export async function redeemTicket(env: Bindings, accountId: string, ticket: string | undefined): Promise<AgentSubscriber> {
  if (!ticket) throw invalidTicket();
  const now = Date.now();
  const db = database(env);
  const [spent] = await db
    .update(realtimeTickets)
    .set({ usedAt: now })
    .where(
      and(
        eq(realtimeTickets.ticketHash, await sha256Hex(ticket)),
        eq(realtimeTickets.accountId, accountId),
        isNull(realtimeTickets.usedAt),
        sql`${realtimeTickets.expiresAt} > ${now}`,
      ),
    )
    .returning({ userId: realtimeTickets.userId, tokenId: realtimeTickets.tokenId });
  if (!spent) throw invalidTicket();
  const subscriber = await agentSubscriber(env, accountId, spent);
  if (!subscriber) throw invalidTicket();
  return subscriber;
}

/** The agent stream's subscriber for a user and the token acting for them, or null if either is gone. */
export async function agentSubscriber(
  env: Bindings,
  accountId: string,
  spent: { userId: string; tokenId: string },
): Promise<AgentSubscriber | null> {
  const db = database(env);
  // The credential is an API token or a console session (`ses_…`): either must still be live.
  const person = and(eq(users.accountId, accountId), eq(users.id, spent.userId), isNull(users.deletedAt));
  const owner = spent.tokenId.startsWith("ses_")
    ? db
        .select({ role: users.role })
        .from(users)
        .innerJoin(sessions, and(eq(sessions.userId, users.id), eq(sessions.id, spent.tokenId), isNull(sessions.revokedAt), gt(sessions.expiresAt, Date.now())))
        .where(person)
    : db
        .select({ role: users.role })
        .from(users)
        .innerJoin(apiTokens, and(eq(apiTokens.userId, users.id), eq(apiTokens.id, spent.tokenId), isNull(apiTokens.revokedAt)))
        .where(person);
  const [ownerRows, memberships] = await db.batch([
    owner,
    db
      .select({ inboxId: inboxMembers.inboxId })
      .from(inboxMembers)
      .where(and(eq(inboxMembers.accountId, accountId), eq(inboxMembers.userId, spent.userId))),
  ]);
  const role = ownerRows[0]?.role;
  if (!role) return null;
  return {
    kind: "agent",
    accountId,
    userId: spent.userId,
    tokenId: spent.tokenId,
    role,
    inboxIds: role === "administrator" ? "all" : memberships.map((row) => row.inboxId),
  };
}

const invalidPubsubToken = () =>
  new ApiError("invalid_pubsub_token", "The pubsub_token does not belong to this contact in this inbox, or it was rotated; use the one the contact upsert returns.");

/** The contact stream's subscriber for a contact the caller already reached through its inbox. */
export function contactSubscriberOf(inbox: { accountId: string }, contactInbox: { id: string; inboxId: string; contactId: string }): ContactSubscriber {
  return { kind: "contact", accountId: inbox.accountId, inboxId: contactInbox.inboxId, contactId: contactInbox.contactId, contactInboxId: contactInbox.id };
}

/** The contact stream's subscriber, if the pubsub token is this contact's in this inbox. */
export async function contactSubscriber(
  env: Bindings,
  inboxIdentifier: string,
  sourceId: string,
  pubsubToken: string | undefined,
): Promise<ContactSubscriber> {
  if (!pubsubToken) throw invalidPubsubToken();
  const row = await database(env)
    .select({ contactInbox: contactInboxes, accountId: inboxes.accountId })
    .from(contactInboxes)
    .innerJoin(inboxes, eq(inboxes.id, contactInboxes.inboxId))
    .where(
      and(
        eq(contactInboxes.pubsubToken, pubsubToken),
        eq(inboxes.identifier, inboxIdentifier),
        eq(contactInboxes.sourceId, sourceId),
        isNull(inboxes.deletedAt),
      ),
    )
    .get();
  if (!row) throw invalidPubsubToken();
  return {
    kind: "contact",
    accountId: row.accountId,
    inboxId: row.contactInbox.inboxId,
    contactId: row.contactInbox.contactId,
    contactInboxId: row.contactInbox.id,
  };
}

/** Hands the upgrade to the account's realtime object, which accepts the socket (and resumes after `after`). */
export async function openStream(env: Bindings, subscriber: Subscriber, after: string | undefined): Promise<Response> {
  const url = new URL("https://realtime.internal/connect");
  if (after !== undefined) url.searchParams.set("after", after);
  listenerConnecting(subscriber.accountId);
  return realtimeObject(env, subscriber.accountId).fetch(
    new Request(url, { headers: { upgrade: "websocket", [SUBSCRIBER_HEADER]: JSON.stringify(subscriber), [SHARD_HEADER]: env.SHARD } }),
  );
}

const newPubsubToken = () => `pst_${base64url(randomBytes(24))}`;

/** The contact's pubsub token in this inbox, created on first use (the upsert returns it). */
export async function ensurePubsubToken(env: Bindings, contactInbox: { id: string; pubsubToken: string | null }): Promise<string> {
  if (contactInbox.pubsubToken) return contactInbox.pubsubToken;
  const db = database(env);
  // Only where none is set: concurrent upserts agree on the one that won.
  await db
    .update(contactInboxes)
    .set({ pubsubToken: newPubsubToken() })
    .where(and(eq(contactInboxes.id, contactInbox.id), isNull(contactInboxes.pubsubToken)));
  const row = await db.select({ token: contactInboxes.pubsubToken }).from(contactInboxes).where(eq(contactInboxes.id, contactInbox.id)).get();
  return row!.token!;
}

/** A new pubsub token; streams opened with the old one close within moments. */
export async function rotatePubsubToken(env: Bindings, accountId: string, contactInboxId: string): Promise<string> {
  const token = newPubsubToken();
  await database(env).update(contactInboxes).set({ pubsubToken: token }).where(eq(contactInboxes.id, contactInboxId));
  await disconnectRealtime(env, accountId, { contactInboxIds: [contactInboxId] }, "revoked");
  return token;
}

type TypingStatus = "on" | "off";

/**
 * An agent typing in a conversation: conversation_typing_on / _off on the streams and on the webhook
 * (Chatwoot sends agents' typing to the integrator). Stored like every event, outside the conversation's
 * sequence (typing has no place in its order); a resuming stream skips it.
 */
export async function agentTyping(env: Bindings, viewer: UserViewer, origin: Origin, conversationId: string, status: TypingStatus) {
  const row = await requireVisibleConversation(env, viewer, conversationId);
  const user = await database(env).select({ id: users.id, name: users.name }).from(users).where(eq(users.id, viewer.userId)).get();
  const event = newEvent({
    type: status === "on" ? "conversation_typing_on" : "conversation_typing_off",
    accountId: viewer.accountId,
    inboxId: row.conversation.inboxId,
    conversationId,
    sequence: null,
    origin,
    data: { conversation: toConversation(row.conversation), user: { id: viewer.userId, name: user?.name ?? null, type: "user" } },
    now: Date.now(),
  });
  const { committed } = await commitWithEvents(env, [insertEventWhere(env, event, sql`1`)], [event]);
  await publish(env, committed);
  waitUntil(forwardToRealtime(env, [event]));
  return { conversation_id: conversationId, status };
}

/**
 * The contact typing (reported by the integrator): only agents' streams see it, and only while it
 * happens — it is not stored, not replayed and not sent to the integrator's own webhook.
 */
export async function contactTyping(
  env: Bindings,
  inbox: { id: string; accountId: string; name: string },
  conversationId: string,
  origin: Origin,
  status: TypingStatus,
  target: { conversation: typeof conversations.$inferSelect; contact: Parameters<typeof toContact>[0]; sourceId: string },
) {
  const now = Date.now();
  const type = status === "on" ? "conversation_typing_on" : "conversation_typing_off";
  const id = newId("evt", now);
  const data = { conversation: toConversation(target.conversation), contact: toContact(target.contact, target.sourceId) };
  waitUntil(
    pushEphemeral(env, {
      id,
      type,
      accountId: inbox.accountId,
      inboxId: inbox.id,
      conversationId,
      private: true,
      data,
      envelope: {
        id,
        event: type,
        sequence: null,
        created_at: iso(now),
        account: { id: inbox.accountId },
        inbox: { id: inbox.id, name: inbox.name },
        conversation_id: conversationId,
        origin,
        ...data,
      },
    }),
  );
  return { conversation_id: conversationId, status };
}

/** How many outgoing replies one contact last_seen marks read at most (the most recent ones). */
const LAST_SEEN_LIMIT = 100;

/**
 * The contact saw the conversation: every earlier outgoing reply not yet read becomes `read`, each with
 * its message_updated, through the conversation's object (so in sequence order with everything else).
 */
export async function contactLastSeen(env: Bindings, conversationId: string, origin: Origin) {
  const unread = await database(env)
    .select({ id: messages.id })
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        eq(messages.messageType, "outgoing"),
        eq(messages.private, false),
        inArray(messages.status, ["sent", "delivered"]),
      ),
    )
    .orderBy(sql`${messages.seq} DESC`)
    .limit(LAST_SEEN_LIMIT);
  const read: string[] = [];
  for (const message of unread.reverse()) {
    const outcome = await conversationObject(env, conversationId).updateMessageStatus({
      conversationId,
      messageId: message.id,
      status: "read",
      reason: null,
      origin,
    });
    if (outcome.kind === "updated") read.push(message.id);
  }
  return { conversation_id: conversationId, read_message_ids: read };
}

/** The agent saw the conversation up to its latest message: its unread count drops to 0. */
export async function agentLastSeen(env: Bindings, viewer: UserViewer, conversationId: string) {
  const row = await requireVisibleConversation(env, viewer, conversationId);
  const now = Date.now();
  const seq = row.conversation.lastSeq;
  await database(env)
    .insert(conversationReads)
    .values({ conversationId, userId: viewer.userId, accountId: viewer.accountId, lastSeenSeq: seq, lastSeenAt: now })
    .onConflictDoUpdate({
      target: [conversationReads.conversationId, conversationReads.userId],
      set: { lastSeenSeq: sql`max(${conversationReads.lastSeenSeq}, ${seq})`, lastSeenAt: now },
    });
  return { conversation_id: conversationId, last_seen_at: iso(now), unread_count: 0 };
}

/** Per conversation: the contact's messages this agent has not seen yet. */
export async function unreadCounts(env: Bindings, userId: string, conversationIds: string[]): Promise<Map<string, number>> {
  if (conversationIds.length === 0) return new Map();
  const rows = await database(env)
    .select({
      id: conversations.id,
      unread: sql<number>`(SELECT count(*) FROM messages m WHERE m.conversation_id = ${conversations.id}
        AND m.message_type = 'incoming' AND m.seq > coalesce(${conversationReads.lastSeenSeq}, 0))`,
    })
    .from(conversations)
    .leftJoin(conversationReads, and(eq(conversationReads.conversationId, conversations.id), eq(conversationReads.userId, userId)))
    .where(inArray(conversations.id, conversationIds));
  return new Map(rows.map((row) => [row.id, row.unread]));
}
