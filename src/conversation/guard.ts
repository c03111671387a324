// The guard of a message committed from the Worker's isolate cache (src/domain/ingest-cache.ts): the cache
// remembered what a one-call message's slow path resolved (the caller, its inbox, the contact and the
// conversation to continue), so a later message skips that look-up. The commit then re-checks all of it in
// its own transaction: the batch starts with one INSERT into commit_guards whose trigger (migration 0018)
// drops the row when every assumption still holds and aborts the whole batch when one does not. A failed
// guard writes nothing; the Worker forgets the entry and takes the slow path.
import { prepareCompiled } from "../db/client";
import type { Bindings } from "../env";
import { sql } from "drizzle-orm";

/** What a remembered caller assumes: the token, still admitted to the URL's inbox. */
export type CallerGuard = {
  /** The bearer token: its hash and id (not revoked, of this account; its account not in a move's switch). */
  tokenHash: string;
  tokenId: string;
  accountId: string;
  /** The inbox token's inbox, or the user's role (an administrator, or an agent who is a member of the inbox). */
  caller: { kind: "inbox" } | { kind: "user"; userId: string; role: string };
  /** The URL's inbox: live, of this account, still under this identifier. */
  inboxId: string;
  identifier: string;
};

/** What a cached one-call message assumes; each must still be true in the commit's transaction. */
export type CommitGuard = CallerGuard & {
  /** The contact behind the source id, unchanged since it was read (every update bumps both). */
  contactInboxId: string;
  sourceId: string;
  contactId: string;
  contactUpdatedAt: number;
  contactEventSequence: number;
  /** The conversation the look-up would continue: unresolved, and no other unresolved one of the contact ranks before it. */
  conversationId: string;
};

/** The error text of a failed guard (the trigger's RAISE). */
export const GUARD_FAILED = "commit_guard_failed";

export function isGuardFailure(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : String(error);
  return text.includes(GUARD_FAILED);
}

/**
 * The batch's first statement. Mirrors what the slow path reads (resolveCaller, inboxAccess,
 * contactLookupStatements): the same token, caller and inbox, the same contact row, and the conversation
 * the look-up's order (the locked one first, then the newest) would pick — a tie counts as "not sure".
 */
export function guardStatement(env: Pick<Bindings, "DB">, guard: CommitGuard): D1PreparedStatement {
  const P = sql.placeholder;
  const values = {
    ...callerValues(guard),
    contactInboxId: guard.contactInboxId,
    sourceId: guard.sourceId,
    contactId: guard.contactId,
    updatedAt: guard.contactUpdatedAt,
    sequence: guard.contactEventSequence,
    conversationId: guard.conversationId,
  };
  return prepareCompiled(
    env,
    "conversation.commit-guard",
    () => sql`INSERT INTO commit_guards (ok) SELECT ${callerAdmitted()}
      AND EXISTS (SELECT 1 FROM contact_inboxes ci JOIN contacts c ON c.id = ci.contact_id
        WHERE ci.id = ${P("contactInboxId")} AND ci.inbox_id = ${P("inboxId")} AND ci.source_id = ${P("sourceId")}
          AND c.id = ${P("contactId")} AND c.updated_at = ${P("updatedAt")} AND c.last_event_sequence = ${P("sequence")})
      AND EXISTS (SELECT 1 FROM conversations v
        WHERE v.id = ${P("conversationId")} AND v.contact_inbox_id = ${P("contactInboxId")} AND v.status <> 'resolved'
          AND NOT EXISTS (SELECT 1 FROM conversations w
            WHERE w.contact_inbox_id = v.contact_inbox_id AND w.status <> 'resolved' AND w.id <> v.id
              AND ((w.single_open_key IS NOT NULL) > (v.single_open_key IS NOT NULL)
                OR ((w.single_open_key IS NOT NULL) = (v.single_open_key IS NOT NULL) AND w.created_at >= v.created_at))))`,
    values,
  );
}

/**
 * The first statement of a new contact's batch on a remembered caller (src/domain/ingest-cache.ts): only the
 * token, its admission to the inbox and the inbox, as resolveCaller and inboxAccess read them — and the one
 * inbox setting the batch took from the remembered row (the lock to a single conversation).
 */
export function callerGuardStatement(
  env: Pick<Bindings, "DB">,
  guard: CallerGuard,
  /** The inbox's setting the batch used to open the conversation (its single-open key), as remembered. */
  lockToSingleConversation: boolean,
): D1PreparedStatement {
  const P = sql.placeholder;
  return prepareCompiled(
    env,
    "conversation.caller-guard",
    () => sql`INSERT INTO commit_guards (ok) SELECT ${callerAdmitted()}
      AND EXISTS (SELECT 1 FROM inboxes l WHERE l.id = ${P("inboxId")} AND l.lock_to_single_conversation = ${P("lock")})`,
    { ...callerValues(guard), lock: lockToSingleConversation ? 1 : 0 },
  );
}

function callerValues(guard: CallerGuard) {
  return {
    hash: guard.tokenHash,
    tokenId: guard.tokenId,
    accountId: guard.accountId,
    kind: guard.caller.kind,
    userId: guard.caller.kind === "user" ? guard.caller.userId : null,
    role: guard.caller.kind === "user" ? guard.caller.role : null,
    inboxId: guard.inboxId,
    identifier: guard.identifier,
  };
}

/** The token unrevoked and admitted to the inbox, the inbox live under its identifier (placeholders of callerValues). */
function callerAdmitted() {
  const P = sql.placeholder;
  return sql`EXISTS (SELECT 1 FROM api_tokens t LEFT JOIN accounts a ON a.id = t.account_id
        WHERE t.token_hash = ${P("hash")} AND t.id = ${P("tokenId")} AND t.revoked_at IS NULL AND t.account_id = ${P("accountId")}
          AND t.kind = ${P("kind")} AND coalesce(a.state, 'active') NOT IN ('frozen', 'moved')
          AND (
            (t.kind = 'inbox' AND t.inbox_id = ${P("inboxId")})
            OR (t.kind = 'user' AND t.user_id = ${P("userId")} AND EXISTS (SELECT 1 FROM users u
              WHERE u.id = t.user_id AND u.deleted_at IS NULL AND u.role = ${P("role")}
                AND (u.role = 'administrator' OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = ${P("inboxId")} AND m.user_id = u.id))))
          ))
      AND EXISTS (SELECT 1 FROM inboxes i
        WHERE i.id = ${P("inboxId")} AND i.identifier = ${P("identifier")} AND i.account_id = ${P("accountId")} AND i.deleted_at IS NULL)`;
}
