// The control database's schema (binding CONTROL): what is not owned by one account's rows — the accounts
// themselves and where each one lives. Everything an account owns is in its shard (src/db/schema.ts).
// migrations/control/*.sql are generated from this file (`npm run db:generate`); `npm run db:check` compares them.
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

const json = <T>(name: string) => text(name, { mode: "json" }).$type<T>();

export const MOVE_STATES = ["copying", "switching", "cleaning"] as const;
export type MoveState = (typeof MOVE_STATES)[number];

/**
 * The accounts and the directory: `shard` is the binding of the shard database that holds the account's
 * rows. An isolate caches it (src/db/shards.ts); a move changes it (src/shards/move.ts).
 */
export const accounts = sqliteTable(
  "accounts",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    rateLimits: json<{ per_token?: number; per_inbox?: number }>("rate_limits"),
    createdAt: integer("created_at").notNull(),
    /** The shard binding (SHARD_…) whose database holds every row the account owns. */
    shard: text("shard").notNull(),
    /** While a move runs: the shard it comes from and goes to (`shard` names the one serving it), and its phase. */
    moveFrom: text("move_from"),
    moveTo: text("move_to"),
    moveState: text("move_state").$type<MoveState>(),
    /** The move's progress: the table and the last id copied or deleted (bounded steps). */
    moveCursor: json<{ table: number; after: string }>("move_cursor"),
    moveStartedAt: integer("move_started_at"),
    updatedAt: integer("updated_at").notNull().default(0),
  },
  (t) => [
    index("accounts_shard").on(t.shard),
    index("accounts_moving").on(t.moveState).where(sql`move_state IS NOT NULL`),
    check("accounts_move_state", sql`move_state IS NULL OR move_state IN ('copying', 'switching', 'cleaning')`),
  ],
);

/**
 * Public inbox identifiers → their account, for the requests that name an inbox and carry no token (a
 * contact's realtime stream). Written when an inbox is created; never changes, so isolates cache it for good.
 */
export const inboxDirectory = sqliteTable("inbox_directory", {
  identifier: text("identifier").primaryKey(),
  accountId: text("account_id").notNull(),
});

/**
 * Which accounts have a live user with an email: the console's sign-in (email and password) asks it for the
 * one account — and so the one shard — to check, instead of every shard. Kept by the user writes.
 */
export const signInEmails = sqliteTable(
  "sign_in_emails",
  {
    email: text("email").notNull(),
    accountId: text("account_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.email, t.accountId] })],
);

/** Failed sign-ins, counted per email and per account over a window to refuse password guessing (across shards). */
export const signInFailures = sqliteTable(
  "sign_in_failures",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    email: text("email").notNull(),
    // Null when the email matches no user (the per-email limit still applies).
    accountId: text("account_id"),
    at: integer("at").notNull(),
  },
  (t) => [index("sign_in_failures_email").on(t.email, t.at), index("sign_in_failures_account").on(t.accountId, t.at)],
);
