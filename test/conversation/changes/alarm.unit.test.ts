import { describe, expect, it } from "vitest";
import { nextAlarmAt, snoozeDue } from "../../../src/conversation/changes/alarm";
import { checkKey, DEDUPE_RETENTION_MS, keysExpireBefore } from "../../../src/conversation/changes/dedupe";
import { NOW } from "./fixtures";

describe("Idempotency-Keys", () => {
  it("a new key, a replay, a key reused for another body", () => {
    expect(checkKey(undefined, "f1")).toEqual({ kind: "new" });
    expect(checkKey({ fingerprint: "f1", message_id: "msg_1" }, "f1")).toEqual({ kind: "replay", messageId: "msg_1" });
    expect(checkKey({ fingerprint: "f1", message_id: "msg_1" }, "f2")).toEqual({ kind: "mismatch" });
  });

  it("are kept for more than 24 hours", () => {
    expect(DEDUPE_RETENTION_MS).toBeGreaterThan(24 * 60 * 60 * 1000);
    expect(keysExpireBefore(NOW)).toBe(NOW - DEDUPE_RETENTION_MS);
  });
});

describe("the object's one alarm", () => {
  it("rings for the earlier of the snooze's end and the oldest key's expiry, or not at all", () => {
    expect(nextAlarmAt({ snoozeUntil: undefined, oldestKeyAt: null })).toBeNull();
    expect(nextAlarmAt({ snoozeUntil: NOW, oldestKeyAt: null })).toBe(NOW);
    expect(nextAlarmAt({ snoozeUntil: undefined, oldestKeyAt: NOW })).toBe(NOW + DEDUPE_RETENTION_MS);
    expect(nextAlarmAt({ snoozeUntil: NOW + 5, oldestKeyAt: NOW })).toBe(NOW + 5);
    expect(nextAlarmAt({ snoozeUntil: NOW + DEDUPE_RETENTION_MS + 5, oldestKeyAt: NOW })).toBe(NOW + DEDUPE_RETENTION_MS);
  });

  it("is the snooze's when its time has come", () => {
    expect(snoozeDue(undefined, NOW)).toBe(false);
    expect(snoozeDue(null, NOW)).toBe(false);
    expect(snoozeDue({ until: NOW + 1 }, NOW)).toBe(false);
    expect(snoozeDue({ until: NOW }, NOW)).toBe(true);
  });
});
