// Turning what a person types into an FTS5 query: every word must appear (as a word prefix, so "pedi"
// finds "pedido"), diacritics and case ignored by the index's tokenizer. FTS5's own syntax (quotes, NEAR,
// column filters, *) is not exposed: each word becomes a quoted phrase, so nothing typed is an operator.
import { sql, type SQL } from "drizzle-orm";
import { ApiError } from "../errors/problem";

const MAX_TERMS = 8;
/**
 * A query is answered from at most this many matching messages, the newest: a word in nearly every
 * message would otherwise make every search read the whole index. Narrower queries see every match.
 */
export const MAX_MATCHES = 5000;

export function ftsQuery(q: string): string {
  const words = q.match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) {
    throw new ApiError("validation_failed", "q must contain at least one letter or digit.", {
      errors: [{ location: "query", pointer: "/q", detail: "needs a letter or digit" }],
    });
  }
  return words.slice(0, MAX_TERMS).map((word) => `"${word}"*`).join(" ");
}

/**
 * Conversations of the account with a message whose text matches `q` (private notes included: only users
 * search). The account is part of the FTS query, so other accounts' messages are never read.
 */
export function conversationsMatching(accountId: string, q: string): SQL {
  if (!/^[A-Za-z0-9_]+$/.test(accountId)) throw new Error(`unexpected account id ${accountId}`);
  const match = `account : "${accountId}" AND content : (${ftsQuery(q)})`;
  return sql`SELECT d.conversation_id FROM (
      SELECT rowid FROM messages_fts WHERE messages_fts MATCH ${match} ORDER BY rowid DESC LIMIT ${MAX_MATCHES}
    ) f JOIN search_documents d ON d.doc_id = f.rowid`;
}
