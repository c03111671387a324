// Issue 19: custom_attributes merged atomically in SQL (no lost update), within caps on keys and size.
import { describe, expect, it } from "vitest";
import { api, createTestAccount, expectProblem, unique } from "../support/api";
import { createInboxToken, createTestInbox } from "../support/fixtures";
import { allShards } from "../support/shards";

async function setup() {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account);
  const token = await createInboxToken(account, inbox);
  return { account, inbox, token, base: `/v1/inboxes/${inbox.identifier}` };
}

describe("custom attributes", () => {
  it("keeps all 20 keys when 20 PUTs of different keys race on one contact", async () => {
    const { token, base, inbox } = await setup();
    const sourceId = unique("racer");
    expect((await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: { start: 0 } } })).status).toBe(201);
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: { [`k${i}`]: i } } })),
    );
    expect(responses.map((res) => res.status)).toEqual(Array(20).fill(200));
    const read = await api("GET", `${base}/contacts/${sourceId}`, { token });
    expect(Object.keys(read.body.custom_attributes).sort()).toEqual(["start", ...Array.from({ length: 20 }, (_, i) => `k${i}`)].sort());
    // Every update's event carries the contact as it was committed: the last one has all 21 keys.
    const events = await allShards.prepare("SELECT data, sequence FROM events WHERE inbox_id = ? AND type = 'contact_updated' ORDER BY position")
      .bind(inbox.id)
      .all<{ data: string; sequence: number }>();
    expect(events.results).toHaveLength(20);
    // The contact's events stay one ordered line: contact_created is 1, the 20 updates 2…21 in commit order.
    expect(events.results.map((row) => row.sequence)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    const last = JSON.parse(events.results[19]!.data);
    expect(Object.keys(last.contact.custom_attributes)).toHaveLength(21);
    expect(last).toMatchObject({ contact: { source_id: sourceId, identifier_verified: false }, changed_attributes: ["custom_attributes"] });
  });

  it("removes a key sent as null (JSON merge patch) and writes nothing when nothing changes", async () => {
    const { token, base, inbox } = await setup();
    const sourceId = unique("nulls");
    await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: { a: 1, b: 2, gone: null } } });
    const updated = await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: { a: null, c: { nested: true } } } });
    expect(updated.body.custom_attributes).toEqual({ b: 2, c: { nested: true } });
    const before = await allShards.prepare("SELECT count(*) AS n FROM events WHERE inbox_id = ?").bind(inbox.id).first<{ n: number }>();
    const same = await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: { b: 2 }, name: null } });
    expect(same.status).toBe(200);
    expect(same.body.updated_at).toBe(updated.body.updated_at);
    const after = await allShards.prepare("SELECT count(*) AS n FROM events WHERE inbox_id = ?").bind(inbox.id).first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });

  it("caps the number of keys with a 422 naming the limit, writing nothing", async () => {
    const { token, base } = await setup();
    const sourceId = unique("keys");
    const half = (offset: number) => Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`key${offset + i}`, i]));
    expect((await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: half(0) } })).status).toBe(201);
    const over = await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: half(60), name: "kept?" } });
    expectProblem(over, 422, "attributes_limit_exceeded");
    expect(over.body.detail).toContain("at most 100 keys");
    expect(over.body.detail).toContain("120");
    const read = await api("GET", `${base}/contacts/${sourceId}`, { token });
    expect(Object.keys(read.body.custom_attributes)).toHaveLength(60);
    expect(read.body.name).toBeNull();
    // A new contact over the limit too (through the one-call path).
    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i]));
    expectProblem(
      await api("POST", `${base}/messages`, { token, body: { contact: { source_id: unique("new"), custom_attributes: tooMany }, content: "x" } }),
      422,
      "attributes_limit_exceeded",
    );
  });

  it("caps the total size with a 422 naming the limit", async () => {
    const { token, base } = await setup();
    const sourceId = unique("bytes");
    const big = (key: string) => ({ [key]: "x".repeat(10_000) });
    expect((await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: big("one") } })).status).toBe(201);
    const over = await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: big("two") } });
    expectProblem(over, 422, "attributes_limit_exceeded");
    expect(over.body.detail).toContain("at most 16384 bytes");
    // Replacing the value instead of adding one fits.
    expect((await api("PUT", `${base}/contacts/${sourceId}`, { token, body: { custom_attributes: big("one") } })).status).toBe(200);
  });
});
