import { newId } from "../core/ids";
import { iso } from "../core/time";
import { judgeWebhookUrl } from "../core/webhook-url";
import type { inboxes } from "../db/schema";
import { config, type Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { attemptDelivery, type AttemptResult } from "./attempt";
import { activeSecrets, webhookHeaders } from "./signing";

/**
 * Sends a signed `webhook.test` event to the inbox's webhook URL now and reports the attempt, whatever the
 * endpoint answered. Not recorded as an event or delivery: it is a probe, and it also reaches an endpoint
 * that a 410 disabled, so an integrator can check a fix before re-enabling it.
 */
export async function pingWebhook(env: Bindings, inbox: typeof inboxes.$inferSelect, userId: string): Promise<AttemptResult> {
  if (!inbox.webhookUrl) {
    throw new ApiError("no_webhook_url", `Inbox '${inbox.id}' has no webhook_url; set one with PATCH first.`);
  }
  // Checked again: the policy (ALLOW_LOOPBACK_WEBHOOKS) may have changed since the URL was stored.
  const verdict = judgeWebhookUrl(inbox.webhookUrl, { allowLoopback: config(env).allowLoopbackWebhooks });
  if (!verdict.ok) {
    throw new ApiError(
      "webhook_url_not_allowed",
      `The inbox's webhook_url is no longer allowed (rule '${verdict.rule}'): ${verdict.reason}. Set a public https URL with PATCH.`,
      { extensions: { rule: verdict.rule } },
    );
  }
  const url = verdict.url;
  const now = Date.now();
  const id = newId("evt", now);
  const body = JSON.stringify({
    id,
    event: "webhook.test",
    sequence: null,
    created_at: iso(now),
    account: { id: inbox.accountId },
    inbox: { id: inbox.id, name: inbox.name },
    origin: { type: "user", id: userId },
  });
  const headers = await webhookHeaders({ secrets: activeSecrets(inbox, now), id, timestamp: Math.floor(now / 1000), body });
  return attemptDelivery({ url, headers, body, timeoutMs: config(env).webhookTimeoutMs });
}
