// One POST of a webhook to an endpoint, as the delivery log records it. Never throws: whatever the
// endpoint does (refuses, hangs, redirects, streams gigabytes) becomes a result.

export type AttemptResult = {
  /** True only for a 2xx. */
  ok: boolean;
  /** Null when no response arrived. */
  status_code: number | null;
  duration_ms: number;
  /** Why the attempt failed without a usable answer (no response, timeout, redirect). */
  error?: string;
  /** The first 1 KiB of the response body, as text. */
  response_excerpt: string;
  /** From Retry-After on a 429 or 503. */
  retry_after_seconds?: number;
};

export const EXCERPT_BYTES = 1024;

export async function attemptDelivery(input: {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}): Promise<AttemptResult> {
  const started = Date.now();
  const signal = AbortSignal.timeout(input.timeoutMs);
  const elapsed = () => Math.max(0, Date.now() - started);

  let response: Response;
  try {
    // A redirect is a failure: following it could send the payload somewhere the URL check never saw.
    response = await fetch(input.url, { method: "POST", headers: input.headers, body: input.body, redirect: "manual", signal });
  } catch (error) {
    return { ok: false, status_code: null, duration_ms: elapsed(), error: describeFailure(error, input.timeoutMs), response_excerpt: "" };
  }

  // The status decides the outcome; the body is only an excerpt for the log, read within the same deadline.
  const response_excerpt = await readExcerpt(response, signal);
  const result: AttemptResult = {
    ok: response.status >= 200 && response.status < 300,
    status_code: response.status,
    duration_ms: elapsed(),
    response_excerpt,
  };
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get("location");
    result.error = `The endpoint answered ${response.status} (redirect${location ? ` to ${location.slice(0, 200)}` : ""}); redirects are not followed, configure the final URL.`;
  }
  if (response.status === 429 || response.status === 503) {
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"), Date.now());
    if (retryAfter !== undefined) result.retry_after_seconds = retryAfter;
  }
  return result;
}

/** At most EXCERPT_BYTES of the body, then the stream is cancelled: a huge or endless body is never read. */
export async function readExcerpt(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const bytes = new Uint8Array(EXCERPT_BYTES);
  let length = 0;
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal.aborted) resolve("aborted");
    signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  try {
    while (length < EXCERPT_BYTES) {
      const chunk = await Promise.race([reader.read(), aborted]);
      if (chunk === "aborted" || chunk.done) break;
      const take = Math.min(chunk.value.byteLength, EXCERPT_BYTES - length);
      bytes.set(chunk.value.subarray(0, take), length);
      length += take;
    }
  } catch {
    // A body that breaks off still leaves what arrived before it.
  } finally {
    reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(bytes.subarray(0, length));
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const name = error instanceof Error || error instanceof DOMException ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError") return `No response within ${timeoutMs} ms (timed out).`;
  const message = error instanceof Error ? error.message : String(error);
  return `Could not connect or the connection broke before a response: ${message}`;
}

/** Retry-After as seconds from now: delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // HTTP dates (IMF-fixdate and the two obsolete forms) start with a day name; Date.parse alone would
  // also accept things like "1.5".
  if (!/^[a-z]{3}/i.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}
