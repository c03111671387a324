// Bulk seeding for the history scenario when the API is too slow to write 10,000 messages within the
// run's time budget. Runs while the Worker is stopped (local D1 is one SQLite file; two writers would
// race), continues the conversation's seq without gaps and moves its last_seq along, so the history
// reads exactly as if the messages had come through the API (minus their events, which scenario 6
// does not read).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { projectRoot } from "../../scripts/dev-server.mjs";

/**
 * Scenario 7's corpus: `total` messages spread over the conversations of the inbox, each with one of
 * `words` rare words (k0…k999) besides common ones, seq continued without gaps. The search triggers
 * index them as they would a message from the API. Returns how many messages were written.
 */
export function seedSearchCorpusSql({ persistTo, inboxId, total, words, config = "wrangler.toml" }) {
  if (!/^[A-Za-z0-9_]+$/.test(inboxId)) throw new Error(`unexpected inbox id ${inboxId}`);
  const conversations = countRows(persistTo, config, `SELECT count(*) AS n FROM conversations WHERE inbox_id = '${inboxId}'`);
  const perConversation = Math.ceil(total / Math.max(1, conversations));
  const now = Date.now();
  const sql = `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${Number(perConversation)})
INSERT INTO messages (id, account_id, inbox_id, conversation_id, seq, message_type, content, content_attributes,
                      attachments, private, sender_type, sender_id, source_id, status, status_reason, created_at, updated_at)
SELECT 'msg_search' || lower(hex(randomblob(10))), c.account_id, c.inbox_id, c.id,
       c.last_seq + n.i, 'incoming', 'Seeded message about order ' || (abs(random()) % 100000) || ', tracking code k' || (abs(random()) % ${Number(words)}) || ', please check', '{}',
       '[]', 0, 'contact', c.contact_id, NULL, 'sent', NULL, ${now}, ${now}
FROM conversations c, n WHERE c.inbox_id = '${inboxId}';
UPDATE conversations SET last_seq = last_seq + ${Number(perConversation)}, updated_at = ${now} WHERE inbox_id = '${inboxId}';
`;
  runSql(persistTo, config, sql);
  return perConversation * conversations;
}

function countRows(persistTo, config, query) {
  const wrangler = path.join(projectRoot, "node_modules", ".bin", "wrangler");
  const result = spawnSync(wrangler, ["d1", "execute", BENCH_SHARD, "--local", "--persist-to", persistTo, "--config", config, "--command", query, "--json", "--yes"], {
    cwd: projectRoot,
    encoding: "utf8",
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", PATH: `${path.join(projectRoot, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}` },
  });
  if (result.status !== 0) throw new Error(`counting with wrangler d1 execute failed:\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout)[0].results[0].n;
}

function runSql(persistTo, config, sql) {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-inbox-bench-seed-"));
  const file = path.join(dir, "seed.sql");
  writeFileSync(file, sql);
  const wrangler = path.join(projectRoot, "node_modules", ".bin", "wrangler");
  const result = spawnSync(wrangler, ["d1", "execute", BENCH_SHARD, "--local", "--persist-to", persistTo, "--config", config, "--file", file, "--yes"], {
    cwd: projectRoot,
    encoding: "utf8",
    env: {
      ...process.env,
      CI: "true",
      WRANGLER_SEND_METRICS: "false",
      PATH: `${path.join(projectRoot, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}`,
    },
  });
  rmSync(dir, { recursive: true, force: true });
  if (result.status !== 0) throw new Error(`seeding with wrangler d1 execute failed:\n${result.stdout}\n${result.stderr}`);
}

export function seedConversationSql({ persistTo, conversationId, count, config = "wrangler.toml" }) {
  if (!/^[A-Za-z0-9_]+$/.test(conversationId)) throw new Error(`unexpected conversation id ${conversationId}`);
  const now = Date.now();
  const sql = `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${Number(count)})
INSERT INTO messages (id, account_id, inbox_id, conversation_id, seq, message_type, content, content_attributes,
                      attachments, private, sender_type, sender_id, source_id, status, status_reason, created_at, updated_at)
SELECT 'msg_seed' || printf('%08d', c.last_seq + n.i) || lower(hex(randomblob(4))), c.account_id, c.inbox_id, c.id,
       c.last_seq + n.i, 'incoming', 'Seeded message ' || (c.last_seq + n.i) || ': my order has not arrived yet.', '{}',
       '[]', 0, 'contact', c.contact_id, NULL, 'sent', NULL, ${now}, ${now}
FROM n, conversations c WHERE c.id = '${conversationId}';
UPDATE conversations SET last_seq = last_seq + ${Number(count)}, updated_at = ${now} WHERE id = '${conversationId}';
`;
  runSql(persistTo, config, sql);
}

/**
 * An account through the platform API, and a maker of inboxes (with an inbox token) in it — the way an
 * operator and an administrator set things up.
 */
/** The shard the bench's main account is placed on, and so the database its SQL seeding writes to. */
export const BENCH_SHARD = "SHARD_1";

export async function seedAccount(api, platformToken, name, shard) {
  const account = (
    await api.call("POST", "/v1/accounts", {
      token: platformToken,
      body: { name, administrator: { name: `${name} Admin`, email: `admin@${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}.example` }, ...(shard ? { shard } : {}) },
      expect: 201,
    })
  ).json;
  const accountId = account.account.id;
  const admin = account.token.token;
  const inbox = async (inboxName, webhookUrl) => {
    const created = (
      await api.call("POST", `/v1/accounts/${accountId}/inboxes`, {
        token: admin,
        body: { name: inboxName, ...(webhookUrl ? { webhook_url: webhookUrl } : {}) },
        expect: 201,
      })
    ).json;
    const token = (await api.call("POST", `/v1/accounts/${accountId}/inboxes/${created.id}/tokens`, { token: admin, body: {}, expect: 201 })).json.token;
    return { ...created, token };
  };
  return { accountId, admin, inbox };
}
