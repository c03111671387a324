// The integrator's side of a conversation: messages from the contact come in through here.
import type { Attachment, CustomAttributes, Origin } from "../db/schema";
import { faults } from "../faults";
import { conversationObject } from "../conversation/stub";
import { appendedOrThrow, type Appended, type Dedupe } from "../conversation/commands";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { findMessageByRequestKey } from "../conversation/queries";
import { toContact, toConversation, toMessage, type ContactInboxRow, type ContactRow, type ConversationRow, type Message } from "../conversation/resources";
import { resolveAttachments, withDataUrls } from "./attachments";
import { checkNewAttributes, upsertContact, type ContactAttributes, type ContactCaller, type OpenWithContact } from "./contacts";
import { conversationToOpen, findContactAndConversation, getInboxConversation, openConversation, type ContactLookup } from "./conversations";
import type { IdentityInbox } from "./identity";
import { getInboxMessage } from "./messages";
import { guardOf, leavesContactAsIs, type IngestEntry } from "./ingest-cache";
import { callerGuardStatement, isGuardFailure, type CallerGuard, type CommitGuard } from "../conversation/guard";
import type { MessageDraft, MessageOutcome } from "../conversation/protocol";
import { appendMessage as appendChange, type Appended as AppendedChange } from "../conversation/changes/message";

type Inbox = { id: string; accountId: string; lockToSingleConversation: boolean } & IdentityInbox;

export type IncomingMessage = {
  message_type?: "incoming" | "outgoing";
  echo?: boolean;
  external_created_at?: string;
  content?: string;
  source_id?: string;
  content_attributes?: CustomAttributes;
  attachments?: { url: string; file_type: string; name?: string }[];
  /** Uploads of this inbox (POST …/uploads, or the files of a multipart request). */
  attachment_ids?: string[];
};

/** Imported times may be in the past, never (beyond clock skew) in the future. */
const FUTURE_SKEW_MS = 5 * 60 * 1000;

function externalTime(message: IncomingMessage): number | null {
  if (message.external_created_at === undefined) return null;
  const at = Date.parse(message.external_created_at);
  if (at > Date.now() + FUTURE_SKEW_MS) {
    throw new ApiError("validation_failed", "external_created_at is in the future.", {
      errors: [{ location: "body", pointer: "/external_created_at", detail: "must not be in the future" }],
    });
  }
  return at;
}

/**
 * Appends a message the integrator sends: the contact's (incoming; it reopens a resolved or snoozed
 * conversation), or one the business sent from its own system (outgoing, sender the integration, not
 * echoed to the inbox's webhook unless asked; it leaves the status alone).
 */
export async function appendIncoming(
  env: Bindings,
  target: { conversationId: string; contact: ContactRow; contactInbox: ContactInboxRow; conversation?: ConversationRow },
  message: IncomingMessage,
  origin: Origin,
  dedupe: Dedupe,
  /** Also answer with the conversation's row as committed (the one-call path remembers it: ./ingest-cache.ts). */
  returnRow = false,
): Promise<Appended & { row?: ConversationRow }> {
  const outcome = await appendOutcome(env, target, message, origin, dedupe, undefined, returnRow);
  const appended = appendedOrThrow(outcome, target.conversationId);
  const row = outcome.kind === "created" ? outcome.row : undefined;
  return { ...appended, message: await withDataUrls(env, appended.message), row };
}

/** appendIncoming's call to the conversation object; with a guard (the isolate cache's path) it may answer guard_failed. */
async function appendOutcome(
  env: Bindings,
  target: { conversationId: string; contact: ContactRow; contactInbox: ContactInboxRow; conversation?: ConversationRow },
  message: IncomingMessage,
  origin: Origin,
  dedupe: Dedupe,
  guard?: CommitGuard,
  returnRow = false,
): Promise<MessageOutcome> {
  const outgoing = message.message_type === "outgoing";
  checkEcho(message);
  const attachments = await resolveAttachments(
    env,
    { accountId: target.contactInbox.accountId, inboxId: target.contactInbox.inboxId },
    target.conversationId,
    message,
  );
  return conversationObject(env, target.conversationId).appendMessage({
    conversationId: target.conversationId,
    message: messageDraft(message, target.contact.id, origin, attachments),
    contact: toContact(target.contact, target.contactInbox.sourceId),
    origin,
    reopen: !outgoing,
    dedupe,
    lastRead: target.conversation,
    guard,
    returnRow,
  });
}

function checkEcho(message: IncomingMessage) {
  if (message.echo !== undefined && message.message_type !== "outgoing") {
    throw new ApiError("validation_failed", "echo applies to outgoing messages only (yours always reach the contact's conversation).", {
      errors: [{ location: "body", pointer: "/echo", detail: "only with message_type outgoing" }],
    });
  }
}

/** The message as the conversation's change takes it (the object's append, or a new conversation's first message). */
function messageDraft(message: IncomingMessage, contactId: string, origin: Origin, attachments: Attachment[]): MessageDraft {
  const outgoing = message.message_type === "outgoing";
  return {
    messageType: outgoing ? "outgoing" : "incoming",
    content: message.content ?? null,
    contentAttributes: message.content_attributes ?? {},
    attachments,
    private: false,
    // Stored as a system sender marked origin 'integration' (shown as sender type "integration").
    sender: outgoing ? { type: "system", id: origin.id } : { type: "contact", id: contactId },
    sourceId: message.source_id ?? null,
    origin: outgoing ? "integration" : null,
    externalCreatedAt: externalTime(message),
    echo: outgoing ? message.echo === true : true,
  };
}

export type OneCallInput = IncomingMessage & {
  contact: ContactAttributes & { source_id: string };
  conversation?: { source_id?: string; custom_attributes?: CustomAttributes };
};

/**
 * The one-call path from the isolate cache (./ingest-cache.ts): the remembered contact's next message goes
 * straight to its conversation object, whose commit re-checks everything the entry assumed. undefined: the
 * message is not one the cache serves (it changes the contact, names a thread, carries a key or uploads…),
 * or the guard failed and nothing was written — the caller forgets the entry and takes the slow path,
 * which then answers (and errs) exactly as without a cache.
 */
export async function receiveCached(env: Bindings, entry: IngestEntry, input: OneCallInput, origin: Origin, dedupe: Dedupe) {
  if (!servesFromCache(entry, input, dedupe)) return undefined;
  // The conversation as last committed through this entry: a cold object starts from it (a stale one is
  // refused by the unique seq/sequence indexes and re-read, as for the slow path's look-up).
  const target = { conversationId: entry.conversation.id, contact: entry.contact, contactInbox: entry.contactInbox, conversation: entry.conversation };
  const outcome = await appendOutcome(env, target, input, origin, undefined, guardOf(entry));
  // not_found / conflict: the conversation changed under the entry; the slow path says what that means.
  if (outcome.kind !== "created" && outcome.kind !== "existing") return undefined;
  if (outcome.row && outcome.row.lastEventSequence > entry.conversation.lastEventSequence) entry.conversation = outcome.row;
  return {
    created: outcome.kind === "created",
    contact: toContact(entry.contact, entry.contactInbox.sourceId),
    conversation: outcome.conversation,
    message: await withDataUrls(env, outcome.message),
  };
}

/** The messages the cache serves: no Idempotency-Key, no thread, no uploads, nothing the slow path would refuse, the contact as it is. */
function servesFromCache(entry: IngestEntry, input: OneCallInput, dedupe: Dedupe): boolean {
  if (dedupe || input.conversation !== undefined || (input.attachment_ids?.length ?? 0) > 0) return false;
  if (input.echo !== undefined && input.message_type !== "outgoing") return false;
  if (input.external_created_at !== undefined) {
    try {
      externalTime(input);
    } catch {
      return false;
    }
  }
  const { source_id: sourceId, ...attributes } = input.contact;
  return sourceId === entry.contactInbox.sourceId && leavesContactAsIs(entry.contact, attributes);
}

/** A contact look-up made ahead (with the caller's token), for this inbox and contact source_id. */
export type PrefetchedLookup = { inboxId: string; sourceId: string; found: ContactLookup };

/**
 * The one-call path: upsert the contact, continue its unresolved conversation (or the thread named by
 * conversation.source_id), or open one, then append the message. Every step is idempotent, so a retry —
 * with or without an Idempotency-Key — never creates a second contact, conversation or message.
 */
export async function receiveMessage(
  env: Bindings,
  inbox: Inbox,
  input: OneCallInput,
  caller: ContactCaller,
  origin: Origin,
  dedupe: Dedupe,
  /** The look-up already made with the token (authenticate); used only if it is this inbox's and this contact's. */
  prefetched?: PrefetchedLookup,
) {
  // A retry whose first attempt committed (and whose key's lease expired since): the message exists,
  // perhaps in a conversation resolved since. Return it rather than open another conversation and write it again.
  if (dedupe) {
    const earlier = await findMessageByRequestKey(env, inbox.id, dedupe.key);
    if (earlier) {
      const found = await getInboxConversation(env, inbox.id, earlier.conversationId);
      return {
        created: false,
        contact: toContact(found.contact, found.contactInbox.sourceId),
        conversation: toConversation(found.conversation),
        message: await withDataUrls(env, toMessage(earlier)),
        remember: undefined,
      };
    }
  }
  const known =
    prefetched !== undefined && prefetched.inboxId === inbox.id && prefetched.sourceId === input.contact.source_id
      ? prefetched.found
      : await findContactAndConversation(env, inbox, input.contact.source_id);
  return receiveResolved(env, inbox, input, caller, origin, dedupe, known);
}

/**
 * A contact's message on a caller the isolate remembers (./ingest-cache.ts, guardOfCaller) when the contact
 * is not remembered: no token round trip and no look-up — the contact is taken as new, and its batch starts
 * with the caller's guard. A contact that exists after all loses the batch's insert and continues as the
 * look-up would have (the batch reads the winner and its conversation). undefined: not a message this path
 * serves (a key, a thread, uploads or attachments, an identifier, attributes a new contact may not have, a
 * message the object's path would refuse), or the guard failed and nothing was written — the caller then
 * authenticates again and takes the slow path, which answers exactly as without a cache.
 */
export async function receiveOnRememberedCaller(
  env: Bindings,
  inbox: Inbox,
  input: OneCallInput,
  caller: ContactCaller,
  origin: Origin,
  guard: CallerGuard,
) {
  if (input.conversation?.source_id !== undefined || !committedWithContact(input, undefined)) return undefined;
  if (input.contact.identifier !== undefined || input.contact.identifier_hash !== undefined) return undefined;
  try {
    checkNewAttributes(input.contact.custom_attributes);
  } catch {
    return undefined;
  }
  try {
    return await receiveResolved(env, inbox, input, caller, origin, undefined, { contact: undefined, conversation: undefined }, callerGuardStatement(env, guard, inbox.lockToSingleConversation));
  } catch (error) {
    if (isGuardFailure(error)) return undefined;
    throw error;
  }
}

/** receiveMessage once the contact's look-up is known (or, behind a caller's guard, taken as "none"). */
async function receiveResolved(
  env: Bindings,
  inbox: Inbox,
  input: OneCallInput,
  caller: ContactCaller,
  origin: Origin,
  dedupe: Dedupe,
  known: ContactLookup,
  guard?: D1PreparedStatement,
) {
  const { source_id: contactSourceId, ...attributes } = input.contact;
  // A new contact's first conversation is committed with it (one round trip), unless a thread id names one —
  // and so is its first message when the batch can decide everything about it (see committedWithContact).
  const alone = known.contact === undefined && input.conversation?.source_id === undefined;
  const withFirst = alone && committedWithContact(input, dedupe);
  let first: AppendedChange | undefined;
  const open: OpenWithContact | undefined = alone
    ? (created, now) => {
        const opening = conversationToOpen(inbox, created, { customAttributes: input.conversation?.custom_attributes }, origin, now);
        if (!withFirst) return { ...opening, messages: [], messageEvents: [] };
        // The same fault point as the object's commit: this batch is the conversation's first commit.
        faults.check("conversation.commit");
        const change = appendChange(
          opening.row,
          {
            message: messageDraft(input, created.contact.id, origin, []),
            contact: toContact(created.contact, created.contactInbox.sourceId),
            reopen: input.message_type !== "outgoing",
            requestKey: null,
          },
          { now, origin },
        );
        // A conversation just opened is open: appending never needs the inbox's lock setting.
        if (change.kind === "needs_inbox") throw new Error("a new conversation's first message asked for the inbox");
        first = change;
        return { row: change.writes.conversation, event: opening.event, messages: change.writes.messages, messageEvents: change.writes.events };
      }
    : undefined;
  const contact = await upsertContact(env, inbox, contactSourceId, attributes, caller, origin, known.contact ?? null, { open, guard });
  if (contact.opened && first) {
    // Committed with the contact and its conversation: answered as the object answers a created message.
    const conversation = toConversation(contact.opened);
    return {
      created: true,
      contact: toContact(contact.contact, contact.contactInbox.sourceId),
      conversation,
      message: await withDataUrls(env, toMessage(first.message)),
      remember: input.conversation === undefined ? { contact: contact.contact, contactInbox: contact.contactInbox, conversation: contact.opened } : undefined,
    };
  }
  // A contact that was just linked or created has no conversation in this inbox yet (but the one opened with
  // it, or the one a concurrent first message opened with it).
  let conversation =
    contact.opened ??
    (input.conversation?.source_id === undefined ? contact.continued : undefined) ??
    (input.conversation?.source_id === undefined && known.contact?.contactInbox.id === contact.contactInbox.id ? known.conversation : undefined);
  if (!conversation) {
    conversation = (
      await openConversation(
        env,
        inbox,
        contact,
        { sourceId: input.conversation?.source_id, customAttributes: input.conversation?.custom_attributes },
        origin,
        // The look-up above found none to continue (or the contact is new here); the insert's unique
        // indexes still catch a conversation opened meanwhile.
        true,
      )
    ).conversation;
  }
  const appended = await appendIncoming(
    env,
    { conversationId: conversation.id, contact: contact.contact, contactInbox: contact.contactInbox, conversation },
    input,
    origin,
    dedupe,
    // Worth remembering only without a thread id or key (rememberReceived in src/http/integrator/ingest.ts).
    input.conversation === undefined && !dedupe,
  );
  const continued = appended.conversation ?? toConversation(conversation);
  return {
    created: appended.created,
    contact: toContact(contact.contact, contact.contactInbox.sourceId),
    conversation: continued,
    message: appended.message,
    /** For the isolate cache (./ingest-cache.ts): the contact's unresolved conversation, continued without a thread id. */
    remember:
      input.conversation === undefined && continued.id === conversation.id && continued.status !== "resolved"
        ? { contact: contact.contact, contactInbox: contact.contactInbox, conversation: appended.row ?? conversation }
        : undefined,
  };
}

/**
 * Whether a new contact's first message commits in the batch that creates the contact and its conversation,
 * without the conversation object (docs/architecture.md, "A new contact's first message"): the conversation's
 * id is new, so no one can write to it before that transaction commits, and its object — never called until
 * then — loads the conversation from D1 (or the row its first caller hands it) when it first is. Not for an
 * Idempotency-Key (the object remembers keys), uploads or attachments (resolved and recorded against the
 * conversation first), nor a message the object's path would refuse: that path answers it, as before.
 */
function committedWithContact(input: OneCallInput, dedupe: Dedupe): boolean {
  if (dedupe || (input.attachments?.length ?? 0) > 0 || (input.attachment_ids?.length ?? 0) > 0) return false;
  try {
    checkEcho(input);
    externalTime(input);
  } catch {
    return false;
  }
  return true;
}

/** A delivery receipt the integrator reports for an outgoing reply of this inbox: delivered, read or failed. */
export async function reportMessageStatus(
  env: Bindings,
  inboxId: string,
  messageId: string,
  input: { status: "delivered" | "read" | "failed"; reason?: string | null },
  origin: Origin,
): Promise<Message> {
  const message = await getInboxMessage(env, inboxId, messageId);
  const outcome = await conversationObject(env, message.conversationId).updateMessageStatus({
    conversationId: message.conversationId,
    messageId,
    status: input.status,
    reason: input.reason ?? null,
    origin,
  });
  if (outcome.kind === "not_found") throw new ApiError("message_not_found", `No message with id '${messageId}' exists in this inbox.`);
  if (outcome.kind === "not_outgoing") {
    throw new ApiError("invalid_state", `Message '${messageId}' is not an outgoing reply; only replies carry delivery receipts.`);
  }
  return withDataUrls(env, outcome.message);
}
