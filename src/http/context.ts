import type { Context } from "hono";
import type { Bindings } from "../env";
import type { CalledInbox, Caller } from "../domain/tokens";
import type { InboxRow } from "../domain/inboxes";
import type { PrefetchedLookup } from "../domain/incoming";
import type { CallerEntry, IngestEntry } from "../domain/ingest-cache";
import type { PrefetchedHistory } from "../domain/messages";
import type { ResolvedSession } from "../domain/sessions";

export type UserCaller = Extract<Caller, { kind: "user" }>;
export type IntegratorCaller = Exclude<Caller, { kind: "platform" }>;

/** What every request handler sees: the Worker's bindings and what the middleware resolved. */
export type AppEnv = {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    /** The authenticated caller, or null when no Authorization header was sent. */
    caller: Caller | null;
    /** Set by the accountUser guard. */
    user: UserCaller;
    /** Set by the idempotency middleware when the request carries an Idempotency-Key. */
    idempotency: { key: string; fingerprint: string } | undefined;
    /** Read by authenticate together with the token on integrator URLs. */
    calledInbox: CalledInbox | undefined;
    /** A one-call message's contact and conversation, read by authenticate with the token (receiveMessage). */
    contactLookup: PrefetchedLookup | undefined;
    /** A one-call message's isolate-cache key, and the entry authenticate served it from (src/http/integrator/ingest.ts). */
    ingestKey: { key: string; tokenHash: string; identifier: string } | undefined;
    ingest: IngestEntry | undefined;
    /** The caller authenticate took from the isolate's memory for a contact it does not remember (a new contact's message). */
    ingestCaller: CallerEntry | undefined;
    /** The cached try failed or did not apply: the request was authenticated again and takes the slow path. */
    ingestFellBack: boolean | undefined;
    /** An integrator's history page, read by authenticate with the token (listInboxMessages). */
    history: PrefetchedHistory | undefined;
    /** Set when the caller came in with the console's session cookie (src/http/session/cookie.ts). */
    session: ResolvedSession | undefined;
    /** Set by the inboxAccess guard (integrator routes). */
    inbox: InboxRow;
  };
};

export type AppContext = Context<AppEnv>;
