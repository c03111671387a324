// Contact events have a line too: each carries the contact's own sequence, and they are delivered one
// at a time in that order, even while the endpoint fails some of them.
import { describe, expect, it } from "vitest";
import { api, createTestAccount } from "../support/api";
import { createTestInbox } from "../support/fixtures";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { expectLinesInOrder } from "./lines";

describe("contact events", () => {
  it("carry a per-contact sequence and arrive in that order", { timeout: 30_000 }, async () => {
    const path = await receiverPath([{ status: 500 }, { status: 200, delay_ms: 50 }, { status: 500 }], { status: 200, jitter_ms: 20 });
    const account = await createTestAccount();
    const inbox = await createTestInbox(account, { webhookPath: path });
    for (const name of ["Ana", "Ana B.", "Ana Bell", "Ana Bella"]) {
      const res = await api("PUT", `/v1/inboxes/${inbox.identifier}/contacts/contact-line-1`, { token: account.adminToken, body: { name } });
      expect(res.status, res.text).toBeLessThan(300);
    }
    const arrived = await waitForPayloads(path, 6, undefined, 20_000);
    const firsts = new Map<number, string>();
    for (const item of arrived) if (!firsts.has(item.body.sequence)) firsts.set(item.body.sequence, item.body.contact.name);
    expect([...firsts.entries()]).toEqual([
      [1, "Ana"],
      [2, "Ana B."],
      [3, "Ana Bell"],
      [4, "Ana Bella"],
    ]);
    expect(arrived.map((item) => item.body.event)).toEqual(["contact_created", "contact_created", "contact_updated", "contact_updated", "contact_updated", "contact_updated"]);
    await expectLinesInOrder(path);
  });
});
