import { describe, expect, it } from "vitest";
import { applySubmission, checkSubmission } from "../../../src/conversation/changes/submission";
import { changed, contact, conversation, messageRow, NOW } from "./fixtures";

const origin = { type: "contact" as const, id: contact.id };
const csat = { csat_survey_response: { rating: 5, feedback_message: "Great" } };

describe("a contact's answers to a message (Chatwoot's submitted_values)", () => {
  it("private notes are not reachable", () => {
    expect(checkSubmission(messageRow({ private: true }))).toBe(false);
    expect(checkSubmission(messageRow())).toBe(true);
  });

  it("stores the answers in content_attributes and emits message_updated", () => {
    const message = messageRow({ contentAttributes: { items: [{ title: "Yes", value: "yes" }] } });
    const result = changed(applySubmission(conversation(), message, csat, { now: NOW, origin }));
    expect(result.message.contentAttributes).toEqual({ items: [{ title: "Yes", value: "yes" }], submitted_values: csat });
    expect(result.writes.messageSubmission).toEqual({ id: message.id, contentAttributes: result.message.contentAttributes, updatedAt: NOW });
    expect(result.writes.messages).toEqual([]);
    expect(result.writes.events).toHaveLength(1);
    expect(result.writes.events[0]).toMatchObject({ type: "message_updated", private: false });
    expect(result.writes.events[0]!.data).toMatchObject({
      message: { content_attributes: { submitted_values: csat } },
      changed_attributes: [{ submitted_values: { previous_value: null, current_value: csat } }],
    });
  });

  it("a second answer replaces the first", () => {
    const first = [{ title: "Yes", value: "yes" }];
    const result = changed(applySubmission(conversation(), messageRow({ contentAttributes: { submitted_values: first } }), [{ title: "No", value: "no" }], { now: NOW, origin }));
    expect(result.message.contentAttributes.submitted_values).toEqual([{ title: "No", value: "no" }]);
    expect(result.writes.events[0]!.data).toMatchObject({ changed_attributes: [{ submitted_values: { previous_value: first } }] });
  });
});
