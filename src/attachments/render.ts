// Stored attachments are shown with a data_url signed at the moment they are shown: in API answers, webhook
// payloads (signed when each attempt is sent), the events feed and realtime. Links therefore never outlive
// ATTACHMENT_URL_TTL_SECONDS from the moment a reader got them, and the stored messages hold no link at all.
import { config, type Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { signedUrl } from "./signing";

type Stored = { id: string; url?: undefined; base_url?: string; [key: string]: unknown };

const isStored = (item: unknown): item is Stored =>
  typeof item === "object" && item !== null && typeof (item as Stored).id === "string" && (item as Stored).url === undefined;

/** True when the value holds a stored attachment somewhere (the same places withDataUrls signs). */
function holdsStored(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(holdsStored);
  if (typeof node !== "object" || node === null) return false;
  for (const [key, child] of Object.entries(node)) {
    if (key === "attachments" && Array.isArray(child) ? child.some(isStored) : holdsStored(child)) return true;
  }
  return false;
}

/**
 * Returns a copy of the value in which every stored attachment (an item of an `attachments` array with an
 * id) carries a fresh data_url instead of its base_url. Anything else is returned as it was — and a value
 * without stored attachments (most messages) is returned itself: a synchronous look is far cheaper than
 * the asynchronous copy, which every answer, webhook attempt, realtime frame and history page paid.
 */
export async function withDataUrls<T>(env: Bindings, value: T, now = Date.now()): Promise<T> {
  if (!holdsStored(value)) return value;
  const settings = config(env).attachments;
  const expires = Math.floor(now / 1000) + settings.urlTtlSeconds;

  async function sign(item: Stored): Promise<unknown> {
    if (!settings.signingSecret) {
      throw new ApiError("service_unavailable", "Attachments are not configured on this deployment: the operator must set ATTACHMENT_SIGNING_SECRET.");
    }
    const { base_url, data_url: _stale, ...shown } = item;
    const base = settings.publicUrl ?? base_url ?? "";
    return { ...shown, data_url: await signedUrl(settings.signingSecret, base, item.id, expires, env.SHARD) };
  }

  async function walk(node: unknown): Promise<unknown> {
    if (Array.isArray(node)) return Promise.all(node.map(walk));
    if (typeof node !== "object" || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      out[key] =
        key === "attachments" && Array.isArray(child)
          ? await Promise.all(child.map((item) => (isStored(item) ? sign(item) : item)))
          : await walk(child);
    }
    return out;
  }

  return (await walk(value)) as T;
}
