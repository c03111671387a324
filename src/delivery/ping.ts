import { newId } from "../core/ids";
import { iso } from "../core/time";
import { judgeWebhookUrl } from "../core/webhook-url";
import type { inboxes, webhookEndpoints } from "../db/schema";
import { config, type Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { attemptDelivery, type AttemptResult } from "./attempt";
import { activeSecrets, signedHeaders, type SignatureScheme } from "./signing";

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
  return sendPing(env, { url: verdict.url, secrets: activeSecrets(inbox, Date.now()), signature: inbox.webhookSignature, accountId: inbox.accountId, inbox: { id: inbox.id, name: inbox.name }, userId });
}

/**
 * The same probe to an account-level endpoint, signed with its secrets (`inbox` is null in the body). It
 * also reaches an endpoint that a 410 disabled, to check a fix before re-enabling it.
 */
export async function pingEndpoint(env: Bindings, endpoint: typeof webhookEndpoints.$inferSelect, userId: string): Promise<AttemptResult> {
  const verdict = judgeWebhookUrl(endpoint.url, { allowLoopback: config(env).allowLoopbackWebhooks });
  if (!verdict.ok) {
    throw new ApiError(
      "webhook_url_not_allowed",
      `The endpoint's url is no longer allowed (rule '${verdict.rule}'): ${verdict.reason}. Set a public https URL with PATCH.`,
      { extensions: { rule: verdict.rule } },
    );
  }
  return sendPing(env, { url: verdict.url, secrets: activeSecrets(endpoint, Date.now()), signature: endpoint.signature, accountId: endpoint.accountId, inbox: null, userId });
}

async function sendPing(
  env: Bindings,
  target: { url: string; secrets: string[]; signature: SignatureScheme; accountId: string; inbox: { id: string; name: string } | null; userId: string },
): Promise<AttemptResult> {
  const now = Date.now();
  const id = newId("evt", now);
  const body = JSON.stringify({
    id,
    event: "webhook.test",
    sequence: null,
    created_at: iso(now),
    account: { id: target.accountId },
    inbox: target.inbox,
    origin: { type: "user", id: target.userId },
  });
  // The probe has no Chatwoot counterpart: its body is ours in either payload format, signed as the endpoint asks.
  const headers = await signedHeaders(target.signature, { secrets: target.secrets, id, timestamp: Math.floor(now / 1000), body });
  return attemptDelivery({ url: target.url, headers, body, timeoutMs: config(env).webhookTimeoutMs });
}
