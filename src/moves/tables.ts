// What a move copies (docs/scaling.md): every table of a shard that holds an account's rows, in foreign-key
// order (a parent before its children), with the columns that name a row across shards. A table added to
// the shard schema with an account_id must be added here: test/moves/move.test.ts checks the list is complete.

export type MovedTable = {
  name: string;
  /** The columns that identify a row on both shards (events: its id — `position` is renumbered on the target). */
  key: string[];
  /** SQL for the row's account, in a trigger (`row` is NEW or OLD) and in a query (no prefix). */
  account: (row: string) => string;
  /** Columns the target assigns itself (not copied). */
  skip?: string[];
};

const byAccount = (row: string) => (row ? `${row}.account_id` : "account_id");

export const MOVED_TABLES: MovedTable[] = [
  { name: "users", key: ["id"], account: byAccount },
  { name: "inboxes", key: ["id"], account: byAccount },
  { name: "api_tokens", key: ["id"], account: byAccount },
  { name: "inbox_members", key: ["inbox_id", "user_id"], account: byAccount },
  { name: "contacts", key: ["id"], account: byAccount },
  { name: "contact_inboxes", key: ["id"], account: byAccount },
  { name: "labels", key: ["account_id", "name"], account: byAccount },
  { name: "conversations", key: ["id"], account: byAccount },
  { name: "messages", key: ["id"], account: byAccount },
  { name: "events", key: ["id"], account: byAccount, skip: ["position"] },
  { name: "webhook_endpoints", key: ["id"], account: byAccount },
  { name: "webhook_deliveries", key: ["id"], account: byAccount },
  { name: "delivery_attempts", key: ["id"], account: byAccount },
  { name: "delivery_replays", key: ["id"], account: byAccount },
  { name: "automation_rules", key: ["id"], account: byAccount },
  { name: "automation_runs", key: ["id"], account: byAccount },
  { name: "attachments", key: ["id"], account: byAccount },
  {
    name: "attachment_uses",
    key: ["attachment_id", "conversation_id"],
    account: (row) => `(SELECT account_id FROM conversations WHERE id = ${row ? `${row}.` : "attachment_uses."}conversation_id)`,
  },
  { name: "realtime_tickets", key: ["ticket_hash"], account: byAccount },
  { name: "conversation_reads", key: ["conversation_id", "user_id"], account: byAccount },
  { name: "contact_erasures", key: ["id"], account: byAccount },
  { name: "sessions", key: ["id"], account: byAccount },
  { name: "sign_in_links", key: ["token_hash"], account: byAccount },
  // Chatwoot's numbers of the account's objects. The account's own number (account_id '*', one sequence per
  // shard) stays behind: the target numbers the account anew (docs/scaling.md).
  { name: "numeric_ids", key: ["account_id", "kind", "number"], account: byAccount },
];

/** Tables a move never copies: the shard's own bookkeeping, and rows its triggers derive (search). */
export const NOT_MOVED = ["accounts", "move_changes", "commit_guards", "search_documents", "history_revisions", "d1_migrations", "sqlite_sequence"];

/** The triggers that log and fence one table's writes (src/db/moves.sql is generated from this). */
export function moveTriggers(table: MovedTable): string {
  const key = (row: string) => `json_array(${table.key.map((column) => `${row}.${column}`).join(", ")})`;
  const state = (row: string) => `(SELECT state FROM accounts WHERE id = ${table.account(row)})`;
  const log = (row: string) =>
    `INSERT INTO move_changes (account_id, table_name, row_key) SELECT ${table.account(row)}, '${table.name}', ${key(row)} WHERE ${state(row)} = 'copying';`;
  const fence = (row: string) => `SELECT RAISE(ABORT, 'account_moving: the account is switching to another shard') WHERE ${state(row)} IN ('frozen', 'moved');`;
  return [
    `CREATE TRIGGER move_${table.name}_insert AFTER INSERT ON ${table.name} WHEN ${state("new")} <> 'active'\nBEGIN\n  ${fence("new")}\n  ${log("new")}\nEND;`,
    `CREATE TRIGGER move_${table.name}_update AFTER UPDATE ON ${table.name} WHEN ${state("new")} <> 'active'\nBEGIN\n  ${fence("new")}\n  ${log("new")}\nEND;`,
    `CREATE TRIGGER move_${table.name}_delete AFTER DELETE ON ${table.name} WHEN ${state("old")} = 'copying'\nBEGIN\n  ${log("old")}\nEND;`,
  ].join("\n");
}
