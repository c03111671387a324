// Turning what a person types into an FTS5 query: every word must appear (as a word prefix, so "pedi"
// finds "pedido"), diacritics and case ignored by the index's tokenizer. FTS5's own syntax (quotes, NEAR,
// column filters, *) is not exposed: each word becomes a quoted phrase, so nothing typed is an operator.
import { sql, type SQL } from "drizzle-orm";
import { ApiError } from "../errors/problem";

const MAX_TERMS = 8;

export function ftsQuery(q: string): string {
  const words = q.match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) {
    throw new ApiError("validation_failed", "q must contain at least one letter or digit.", {
      errors: [{ location: "query", pointer: "/q", detail: "needs a letter or digit" }],
    });
  }
  return words.slice(0, MAX_TERMS).map((word) => `"${word}"*`).join(" ");
}

/** Conversations of the account with a message whose text matches `q` (private notes included: only users search). */
export function conversationsMatching(accountId: string, q: string): SQL {
  return sql`SELECT m.conversation_id FROM messages_fts f
    JOIN search_documents d ON d.doc_id = f.rowid
    JOIN messages m ON m.id = d.message_id
    WHERE messages_fts MATCH ${ftsQuery(q)} AND m.account_id = ${accountId}`;
}
