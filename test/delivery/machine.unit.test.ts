// The delivery state machine's transitions, pure: no workerd bindings, no clock.
import { describe, expect, it } from "vitest";
import type { AttemptResult } from "../../src/delivery/attempt";
import { afterAttempt, infrastructureBackoffSeconds, lineOf, onArrival, refusal, transition, type DeliveryRow } from "../../src/delivery/machine";

const NOW = 1_800_000_000_000;

function row(overrides: Partial<DeliveryRow> = {}): DeliveryRow {
  return {
    id: "whd_1", accountId: "acc_1", inboxId: "inb_1", eventId: "evt_1", eventType: "message_created",
    conversationId: "cnv_1", sequence: 3, line: "cnv_1", endpoint: "inbox", url: "https://example.com/hook",
    state: "pending", attempts: 0, nextAttemptAt: null, enqueuedAt: NOW - 10, leasedUntil: null,
    lastStatusCode: null, lastError: null, createdAt: NOW - 100, updatedAt: NOW - 100, completedAt: null,
    ...overrides,
  };
}

const answered = (status: number, extra: Partial<AttemptResult> = {}): AttemptResult => ({
  ok: status >= 200 && status < 300, status_code: status, duration_ms: 5, response_excerpt: "", ...extra,
});

describe("onArrival: what a queue message does", () => {
  it("attempts when it took the lease", () => {
    expect(onArrival({ attempt: 1, row: row({ leasedUntil: NOW + 20_000 }), leased: true, parked: false, now: NOW })).toEqual({ kind: "attempt" });
  });
  it("drops messages for settled deliveries and stale attempts", () => {
    expect(onArrival({ attempt: 1, row: row({ state: "succeeded" }), leased: false, parked: false, now: NOW })).toMatchObject({ kind: "drop", reason: "settled" });
    expect(onArrival({ attempt: 1, row: undefined, leased: false, parked: false, now: NOW })).toMatchObject({ kind: "drop", reason: "settled" });
    expect(onArrival({ attempt: 2, row: row({ attempts: 2 }), leased: false, parked: false, now: NOW })).toMatchObject({ kind: "drop", reason: "duplicate" });
  });
  it("drops a parked message: the line's busy delivery hands it over", () => {
    expect(onArrival({ attempt: 1, row: row({ enqueuedAt: null }), leased: false, parked: true, now: NOW })).toMatchObject({ kind: "drop", reason: "parked" });
  });
  it("looks again after the lease of another consumer expires, so a crashed holder never strands it", () => {
    expect(onArrival({ attempt: 1, row: row({ leasedUntil: NOW + 7_500 }), leased: false, parked: false, now: NOW })).toEqual({ kind: "busy", delaySeconds: 9 });
  });
  it("waits for a retry that is not due yet, without losing the attempt", () => {
    expect(onArrival({ attempt: 2, row: row({ attempts: 1, nextAttemptAt: NOW + 50_000 }), leased: false, parked: false, now: NOW })).toEqual({ kind: "wait", delaySeconds: 50 });
  });
});

describe("afterAttempt: only the endpoint's answers spend the schedule", () => {
  const delays = [1, 300];
  it("succeeds on 2xx", () => {
    expect(afterAttempt({ endpoint: "inbox", attemptsMade: 1, result: answered(204), delays })).toEqual({ kind: "succeeded", statusCode: 204 });
  });
  it("retries on the schedule, honouring Retry-After, then gives up", () => {
    expect(afterAttempt({ endpoint: "inbox", attemptsMade: 1, result: answered(500), delays, random: () => 0.5 })).toMatchObject({ kind: "retry", delaySeconds: 1 });
    expect(afterAttempt({ endpoint: "inbox", attemptsMade: 2, result: answered(429, { retry_after_seconds: 900 }), delays, random: () => 0.5 })).toMatchObject({ kind: "retry", delaySeconds: 900 });
    expect(afterAttempt({ endpoint: "inbox", attemptsMade: 3, result: answered(503), delays })).toMatchObject({ kind: "failed", error: expect.stringMatching(/Gave up after 3 attempts/) });
  });
  it("410 disables an inbox endpoint; a rule's URL only ends this delivery", () => {
    expect(afterAttempt({ endpoint: "inbox", attemptsMade: 1, result: answered(410), delays })).toMatchObject({ kind: "failed", disableInbox: expect.any(String) });
    expect(afterAttempt({ endpoint: "rule_1", attemptsMade: 1, result: answered(410), delays })).not.toHaveProperty("disableInbox");
  });
  it("410 disables an account-level endpoint (and only it), not its inbox", () => {
    const outcome = afterAttempt({ endpoint: "whe_01ABC", attemptsMade: 1, result: answered(410), delays });
    expect(outcome).toMatchObject({ kind: "failed", disableEndpoint: expect.any(String) });
    expect(outcome).not.toHaveProperty("disableInbox");
    expect(afterAttempt({ endpoint: "rule_1", attemptsMade: 1, result: answered(410), delays })).not.toHaveProperty("disableEndpoint");
  });
});

describe("transition: the fenced write", () => {
  it("a settle clears the lease and hands over the line's next delivery", () => {
    const next = transition(row({ leasedUntil: NOW + 20_000 }), { kind: "succeeded", statusCode: 200 }, true, NOW);
    expect(next).toMatchObject({ set: { state: "succeeded", attempts: 1, leasedUntil: null, completedAt: NOW }, recordAttempt: true, handOverNext: true });
    expect(next.schedule).toBeUndefined();
  });
  it("a retry counts the attempt, schedules the next one and marks it queued", () => {
    const next = transition(row({ attempts: 1 }), { kind: "retry", statusCode: 500, error: "boom", delaySeconds: 300 }, true, NOW);
    expect(next).toMatchObject({ set: { attempts: 2, nextAttemptAt: NOW + 300_000, enqueuedAt: NOW, leasedUntil: null }, schedule: { attempt: 3, delaySeconds: 300 } });
  });
  it("a refusal (nowhere to send) settles failed without counting an attempt", () => {
    const next = transition(row({ attempts: 2, lastStatusCode: 500 }), refusal("The inbox was deleted."), false, NOW);
    expect(next).toMatchObject({ set: { state: "failed", attempts: 2, lastStatusCode: 500 }, recordAttempt: false });
  });
  it("deliveries outside any line hand nothing over", () => {
    expect(transition(row({ line: null }), { kind: "succeeded", statusCode: 200 }, true, NOW).handOverNext).toBe(false);
  });
});

describe("lines and backoff", () => {
  it("orders conversation events by conversation and contact events by contact", () => {
    expect(lineOf({ conversationId: "cnv_1", type: "message_created", data: {} })).toBe("cnv_1");
    expect(lineOf({ conversationId: null, type: "contact_updated", data: { contact: { id: "ct_1" } } })).toBe("ct_1");
    expect(lineOf({ conversationId: null, type: "webhook.test", data: {} })).toBeNull();
  });
  it("backs off our own failures from 5 s to 5 min", () => {
    expect([1, 2, 3, 7, 8, 50].map(infrastructureBackoffSeconds)).toEqual([5, 10, 20, 300, 300, 300]);
  });
});
