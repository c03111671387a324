import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { attemptDelivery, EXCERPT_BYTES, parseRetryAfter, readExcerpt } from "../../src/delivery/attempt";
import { unique } from "../support/api";

type Step = { status?: number; delay_ms?: number; body?: string; headers?: Record<string, string>; reset?: boolean; hang?: boolean; body_bytes?: number };

/** A fresh receiver path answering with these steps, then 200. */
async function endpoint(steps: Step[]): Promise<{ url: string; path: string }> {
  const path = `/${unique("attempt")}`;
  const response = await fetch(`${env.RECEIVER_URL}/__control/script`, {
    method: "POST",
    body: JSON.stringify({ path, steps }),
  });
  expect(response.status).toBe(204);
  return { url: `${env.RECEIVER_URL}${path}`, path };
}

async function received(path: string): Promise<{ headers: Record<string, string>; body: string }[]> {
  return (await fetch(`${env.RECEIVER_URL}/__control/received?path=${encodeURIComponent(path)}`)).json();
}

const body = JSON.stringify({ id: "evt_1", event: "webhook.test" });
const headers = { "content-type": "application/json", "webhook-id": "evt_1", "user-agent": "edge-inbox-webhooks/1" };

describe("attemptDelivery", () => {
  it("a 2xx is ok and the request arrives as sent", async () => {
    const { url, path } = await endpoint([{ status: 204, body: "" }]);
    const result = await attemptDelivery({ url, headers, body, timeoutMs: 3000 });
    expect(result).toMatchObject({ ok: true, status_code: 204, response_excerpt: "" });
    expect(result.error).toBeUndefined();
    expect(result.duration_ms).toBeGreaterThanOrEqual(0);
    const [request] = await received(path);
    expect(request?.body).toBe(body);
    expect(request?.headers).toMatchObject(headers);
  });

  it("a 500 is a failure with the status and the start of the body", async () => {
    const { url } = await endpoint([{ status: 500, body: "database on fire" }]);
    const result = await attemptDelivery({ url, headers, body, timeoutMs: 3000 });
    expect(result).toMatchObject({ ok: false, status_code: 500, response_excerpt: "database on fire" });
  });

  it("a 3xx is a failure and the redirect is not followed", async () => {
    const target = await endpoint([{ status: 200 }]);
    const { url } = await endpoint([{ status: 307, headers: { location: target.url } }]);
    const result = await attemptDelivery({ url, headers, body, timeoutMs: 3000 });
    expect(result).toMatchObject({ ok: false, status_code: 307 });
    expect(result.error).toMatch(/redirect/i);
    expect(await received(target.path)).toEqual([]);
  });

  it("a refused connection becomes an error, not an exception", async () => {
    // Port 1 (tcpmux) has no listener on a normal machine.
    const result = await attemptDelivery({ url: "http://127.0.0.1:1/hook", headers, body, timeoutMs: 3000 });
    expect(result).toMatchObject({ ok: false, status_code: null, response_excerpt: "" });
    expect(result.error).toMatch(/connect/i);
  });

  it("an endpoint that never answers times out after timeoutMs", async () => {
    const { url } = await endpoint([{ hang: true }]);
    const result = await attemptDelivery({ url, headers, body, timeoutMs: 300 });
    expect(result).toMatchObject({ ok: false, status_code: null });
    expect(result.error).toMatch(/timed out/);
    expect(result.duration_ms).toBeGreaterThanOrEqual(290);
    expect(result.duration_ms).toBeLessThan(2500);
  });

  it("a connection reset becomes an error", async () => {
    const { url } = await endpoint([{ reset: true }]);
    const result = await attemptDelivery({ url, headers, body, timeoutMs: 3000 });
    expect(result).toMatchObject({ ok: false, status_code: null });
    expect(result.error).toBeTruthy();
  });

  it("a 10 MB response yields a 1 KiB excerpt", async () => {
    const { url } = await endpoint([{ status: 200, body_bytes: 10 * 1024 * 1024 }]);
    const result = await attemptDelivery({ url, headers, body, timeoutMs: 3000 });
    expect(result).toMatchObject({ ok: true, status_code: 200 });
    expect(result.response_excerpt).toBe("x".repeat(EXCERPT_BYTES));
  });

  it("honours Retry-After on 429 (seconds) and 503 (HTTP date)", async () => {
    const limited = await endpoint([{ status: 429, headers: { "retry-after": "120" } }]);
    expect(await attemptDelivery({ url: limited.url, headers, body, timeoutMs: 3000 })).toMatchObject({
      ok: false,
      status_code: 429,
      retry_after_seconds: 120,
    });
    const later = new Date(Date.now() + 60_000).toUTCString();
    const unavailable = await endpoint([{ status: 503, headers: { "retry-after": later } }]);
    const result = await attemptDelivery({ url: unavailable.url, headers, body, timeoutMs: 3000 });
    expect(result.retry_after_seconds).toBeGreaterThanOrEqual(55);
    expect(result.retry_after_seconds).toBeLessThanOrEqual(61);
    const ignored = await endpoint([{ status: 500, headers: { "retry-after": "120" } }]);
    expect((await attemptDelivery({ url: ignored.url, headers, body, timeoutMs: 3000 })).retry_after_seconds).toBeUndefined();
  });
});

describe("readExcerpt", () => {
  it("reads 1 KiB of an endless body, then cancels the stream", async () => {
    let pulls = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      // Yields to the event loop like a network stream, so an implementation that kept reading would
      // run until the deadline (and pull thousands of times) instead of freezing the isolate.
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        pulls += 1;
        controller.enqueue(new TextEncoder().encode("y".repeat(100)));
      },
      cancel() {
        cancelled = true;
      },
    });
    const excerpt = await readExcerpt(new Response(endless), AbortSignal.timeout(3000));
    expect(excerpt).toBe("y".repeat(EXCERPT_BYTES));
    expect(cancelled).toBe(true);
    expect(pulls).toBeLessThan(20);
  });

  it("stops at the deadline when the body stalls after the headers", async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("partial"));
      },
    });
    const started = Date.now();
    expect(await readExcerpt(new Response(stalled), AbortSignal.timeout(200))).toBe("partial");
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-11-25T12:00:00Z");
  it.each([
    ["30", 30],
    [" 0 ", 0],
    ["Wed, 25 Nov 2026 12:01:00 GMT", 60],
    ["Wed, 25 Nov 2026 11:00:00 GMT", 0],
    ["1.5", undefined],
    ["-5", undefined],
    ["soon", undefined],
    [null, undefined],
  ])("%s → %s", (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });
});
