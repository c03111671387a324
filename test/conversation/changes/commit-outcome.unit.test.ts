import { describe, expect, it } from "vitest";
import { classifyCommitError, SINGLE_OPEN_CONFLICT } from "../../../src/conversation/changes/commit-outcome";

// The texts D1 gives for a violated unique index (SQLite names the index's columns).
const d1 = (detail: string) => new Error(`D1_ERROR: UNIQUE constraint failed: ${detail}: SQLITE_CONSTRAINT`);

describe("classifying a failed commit", () => {
  it("another message already has the Idempotency-Key", () => {
    expect(classifyCommitError(d1("messages.conversation_id, messages.request_key"))).toEqual({ kind: "key_taken" });
  });

  it("another message already has the source_id", () => {
    expect(classifyCommitError(d1("messages.inbox_id, messages.source_id"))).toEqual({ kind: "source_taken" });
    expect(classifyCommitError(d1("index 'messages_source'"))).toEqual({ kind: "source_taken" });
  });

  it("another conversation holds the contact's lock", () => {
    expect(classifyCommitError(d1("conversations.single_open_key"))).toEqual({ kind: "conflict", detail: SINGLE_OPEN_CONFLICT });
  });

  it("a seq or sequence clash means the object's state was stale", () => {
    expect(classifyCommitError(d1("messages.conversation_id, messages.seq"))).toEqual({ kind: "stale" });
    expect(classifyCommitError(d1("events.conversation_id, events.sequence"))).toEqual({ kind: "stale" });
  });

  it("reads the text of the error's cause too", () => {
    const wrapped = new Error("D1_ERROR: batch failed", { cause: d1("messages.conversation_id, messages.request_key") });
    expect(classifyCommitError(wrapped)).toEqual({ kind: "key_taken" });
  });

  it("anything else is not ours to interpret", () => {
    expect(classifyCommitError(new Error("D1_ERROR: injected fault at conversation.commit"))).toEqual({ kind: "unknown" });
    expect(classifyCommitError("UNIQUE constraint failed: messages.seq")).toEqual({ kind: "unknown" });
    expect(classifyCommitError(undefined)).toEqual({ kind: "unknown" });
  });
});
