import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createTestAccount, createTestUser, expectProblem, unique, type TestAccount } from "../support/api";
import { count, createInboxToken, createTestInbox, setMembers, type TestInbox } from "../support/fixtures";
import { agentStream } from "../support/realtime";
import { receiverPath, waitForPayloads } from "../support/receiver-client";
import { pruneUnreferencedUploads, deleteAttachmentsOfConversations } from "../../src/domain/attachments";
import { recover } from "../../src/recovery/recover";
import { shardBindings } from "../support/shards";

const MAX = 6 * 1024 * 1024; // ATTACHMENT_MAX_BYTES in vitest.config.ts

function png(size = 256, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return bytes;
}
const pdf = (text = "hello") => new TextEncoder().encode(`%PDF-1.4\n${text}\n%%EOF`);

async function sha256(bytes: Uint8Array) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

type FilePart = { bytes: Uint8Array; name: string; type: string; field?: string };

function form(fields: Record<string, string | string[]>, files: FilePart[] = []): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) for (const v of Array.isArray(value) ? value : [value]) data.append(name, v);
  for (const file of files) data.append(file.field ?? "attachments[]", new File([file.bytes], file.name, { type: file.type }));
  return data;
}

async function post(path: string, token: string, body: FormData, headers: Record<string, string> = {}) {
  return api("POST", path, { token, rawBody: body, headers });
}

/** Fetches a data_url through the Worker, as the integrator's server would (no token). */
async function download(url: string, headers: Record<string, string> = {}) {
  const response = await exports.default.fetch(new Request(url, { headers }));
  return { response, bytes: new Uint8Array(await response.arrayBuffer()) };
}

async function setup(options: { webhookPath?: string } = {}) {
  const account = await createTestAccount();
  const inbox = await createTestInbox(account, options);
  const token = await createInboxToken(account, inbox);
  return { account, inbox, token, base: `/v1/inboxes/${inbox.identifier}` };
}

async function oneCall(base: string, token: string, fields: Record<string, string | string[]>, files: FilePart[], headers: Record<string, string> = {}) {
  return post(`${base}/messages`, token, form({ "contact[source_id]": unique("user"), ...fields }, files), headers);
}

const objects = async () => (await env.ATTACHMENTS.list()).objects.length;

describe("integrator uploads", () => {
  it("takes files with a multipart message, shows them with a data_url that serves the same bytes", async () => {
    const { base, token } = await setup();
    const image = png(1000);
    const doc = pdf("invoice");
    const res = await oneCall(base, token, { content: "my broken product" }, [
      { bytes: image, name: "photo.png", type: "image/png" },
      { bytes: doc, name: "invoice.pdf", type: "application/pdf" },
    ]);
    expect(res.status, res.text).toBe(201);
    const [first, second] = res.body.message.attachments;
    expect(first).toMatchObject({ file_type: "image", file_name: "photo.png", content_type: "image/png", byte_size: 1000, sha256: await sha256(image) });
    expect(second).toMatchObject({ file_type: "file", file_name: "invoice.pdf", content_type: "application/pdf", byte_size: doc.length });
    expect(first).not.toHaveProperty("base_url");
    expect(first.data_url).toMatch(/^http:\/\/edge-inbox\.test\/v1\/attachments\/att_[0-9A-Z]+\?expires=\d+&signature=[\w-]+&shard=SHARD_\w+$/);

    const got = await download(first.data_url);
    expect(got.response.status).toBe(200);
    expect(got.bytes).toEqual(image);
    expect(got.response.headers.get("content-type")).toBe("image/png");
    expect(got.response.headers.get("content-disposition")).toContain('filename="photo.png"');
    expect(got.response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(got.response.headers.get("etag")).toBe(`"${first.sha256}"`);
    const pdfGot = await download(second.data_url);
    expect(pdfGot.response.headers.get("content-disposition")).toMatch(/^attachment; filename="invoice.pdf"/);
    expect(pdfGot.bytes).toEqual(doc);

    // The history shows the same files with a freshly signed link.
    const history = await api("GET", `${base}/conversations/${res.body.conversation.id}/messages`, { token });
    const shown = history.body.data[0].attachments[0];
    expect(shown).toMatchObject({ id: first.id, sha256: first.sha256 });
    expect((await download(shown.data_url)).bytes).toEqual(image);
  });

  it("accepts the JSON as a payload part, and keeps URL attachments working", async () => {
    const { base, token } = await setup();
    const payload = {
      contact: { source_id: unique("user"), name: "Maria" },
      content: "see both",
      attachments: [{ url: "https://example.com/a.jpg", file_type: "image" }],
    };
    const res = await post(`${base}/messages`, token, form({ payload: JSON.stringify(payload) }, [{ bytes: png(), name: "b.png", type: "image/png" }]));
    expect(res.status, res.text).toBe(201);
    expect(res.body.contact.name).toBe("Maria");
    expect(res.body.message.attachments[0]).toEqual({ url: "https://example.com/a.jpg", file_type: "image" });
    expect(res.body.message.attachments[1]).toMatchObject({ file_name: "b.png", data_url: expect.any(String) });

    const json = await api("POST", `${base}/messages`, { token, body: { ...payload, contact: { source_id: unique("user") } } });
    expect(json.status, json.text).toBe(201);
    expect(json.body.message.attachments).toEqual([{ url: "https://example.com/a.jpg", file_type: "image" }]);
  });

  it("pre-uploads once and references the id in several messages; the conversation route takes multipart too", async () => {
    const { base, token } = await setup();
    const bytes = pdf("manual");
    const up = await post(`${base}/uploads`, token, form({}, [{ bytes, name: "../../etc/Manual\u202e.pdf", type: "application/pdf", field: "file" }]));
    expect(up.status, up.text).toBe(201);
    expect(up.body).toMatchObject({ file_name: "Manual.pdf", content_type: "application/pdf", byte_size: bytes.length, sha256: await sha256(bytes) });
    expect(up.body.id).toMatch(/^att_/);

    const first = await api("POST", `${base}/messages`, {
      token,
      body: { contact: { source_id: unique("user") }, attachment_ids: [up.body.id] },
    });
    expect(first.status, first.text).toBe(201);
    expect(first.body.message.attachments[0]).toMatchObject({ id: up.body.id, file_name: "Manual.pdf" });
    const conversation = first.body.conversation.id;
    const second = await post(
      `${base}/conversations/${conversation}/messages`,
      token,
      form({ content: "again, and one more", "attachment_ids[]": up.body.id }, [{ bytes: png(), name: "x.png", type: "image/png" }]),
    );
    expect(second.status, second.text).toBe(201);
    expect(second.body.attachments.map((a: { id: string }) => a.id)).toEqual([up.body.id, expect.stringMatching(/^att_/)]);
    expect((await download(second.body.attachments[0].data_url)).bytes).toEqual(bytes);
  });

  it("streams a file larger than one R2 part (5 MiB) and hashes it on the way", async () => {
    const { base, token } = await setup();
    const big = png(5 * 1024 * 1024 + 12345, 3);
    const up = await post(`${base}/uploads`, token, form({}, [{ bytes: big, name: "big.png", type: "image/png", field: "file" }]));
    expect(up.status, up.text).toBe(201);
    expect(up.body).toMatchObject({ byte_size: big.length, sha256: await sha256(big) });
    const res = await api("POST", `${base}/messages`, { token, body: { contact: { source_id: unique("user") }, attachment_ids: [up.body.id] } });
    const got = await download(res.body.message.attachments[0].data_url);
    expect(got.bytes.length).toBe(big.length);
    expect(await sha256(got.bytes)).toBe(up.body.sha256);
  });
});

describe("limits and bad input", () => {
  it("413 for a file over ATTACHMENT_MAX_BYTES, naming it; nothing is stored", async () => {
    const { base, token } = await setup();
    const before = await objects();
    const rows = await count("SELECT count(*) AS n FROM attachments");
    const res = await oneCall(base, token, { content: "two files" }, [
      { bytes: png(), name: "ok.png", type: "image/png" },
      { bytes: png(MAX + 1), name: "huge.png", type: "image/png" },
    ]);
    expectProblem(res, 413, "file_too_large");
    expect(res.body.detail).toContain("huge.png");
    expect(await objects()).toBe(before);
    expect(await count("SELECT count(*) AS n FROM attachments")).toBe(rows);
    const exact = await post(`${base}/uploads`, token, form({}, [{ bytes: png(MAX), name: "max.png", type: "image/png", field: "file" }]));
    expect(exact.status, exact.text).toBe(201);
  });

  it("415 when the content does not match the declared type, naming the file", async () => {
    const { base, token } = await setup();
    const before = await objects();
    const res = await oneCall(base, token, { content: "fake" }, [
      { bytes: png(), name: "real.png", type: "image/png" },
      { bytes: new TextEncoder().encode("<script>alert(1)</script>"), name: "evil.png", type: "image/png" },
    ]);
    expectProblem(res, 415, "file_type_mismatch");
    expect(res.body.detail).toContain("evil.png");
    expect(await objects()).toBe(before);
    const asText = await post(`${base}/uploads`, token, form({}, [{ bytes: pdf(), name: "a.txt", type: "text/plain", field: "file" }]));
    expectProblem(asText, 415, "file_type_mismatch");
    const plain = await post(`${base}/uploads`, token, form({}, [{ bytes: new TextEncoder().encode("just text"), name: "a.txt", type: "text/plain", field: "file" }]));
    expect(plain.status, plain.text).toBe(201);
  });

  it("at most 10 files per message, counting URLs and ids; a rejected message keeps none of its files", async () => {
    const { base, token } = await setup();
    const before = await objects();
    const files = Array.from({ length: 11 }, (_, i) => ({ bytes: png(100, i), name: `f${i}.png`, type: "image/png" }));
    const res = await oneCall(base, token, { content: "many" }, files);
    expectProblem(res, 422, "validation_failed");
    expect(await objects()).toBe(before);

    const url = { url: "https://example.com/a.jpg", file_type: "image" };
    const mixed = await oneCall(base, token, { payload: JSON.stringify({ attachments: Array(9).fill(url) }) }, files.slice(0, 2));
    expectProblem(mixed, 422, "validation_failed");
    expect(await objects()).toBe(before);

    // Rejected after the files were stored (the message fails validation): they are removed again.
    const invalid = await oneCall(base, token, { content: "x", bogus_field: "y" }, files.slice(0, 2));
    expectProblem(invalid, 422, "validation_failed");
    expect(await objects()).toBe(before);
    const ten = await oneCall(base, token, { content: "ten" }, files.slice(0, 10));
    expect(ten.status, ten.text).toBe(201);
    expect(ten.body.message.attachments).toHaveLength(10);
  });

  it("form field names cannot reach prototypes", async () => {
    const { base, token } = await setup();
    const res = await oneCall(base, token, { content: "x", "__proto__[polluted]": "yes" }, []);
    expectProblem(res, 422, "validation_failed");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("sanitises file names and serves them in Content-Disposition", async () => {
    const { base, token } = await setup();
    // (FormData itself escapes quotes and line breaks in filenames; these reach the parser as sent.)
    const res = await oneCall(base, token, {}, [{ bytes: png(), name: "C:\\fakepath\\..\\<b>|x\u202e\u0007 résumé.png", type: "image/png" }]);
    expect(res.status, res.text).toBe(201);
    const attachment = res.body.message.attachments[0];
    expect(attachment.file_name).toBe("_b__x résumé.png");
    const got = await download(attachment.data_url);
    expect(got.response.headers.get("content-disposition")).toBe(
      `inline; filename="_b__x r_sum_.png"; filename*=UTF-8''_b__x%20r%C3%A9sum%C3%A9.png`,
    );
    const dots = await post(`${base}/uploads`, token, form({}, [{ bytes: png(), name: "...", type: "image/png", field: "file" }]));
    expect(dots.body.file_name).toBe("file");
  });
});

describe("idempotent retries store nothing twice", () => {
  it("same Idempotency-Key: the retry is replayed without storing its files", async () => {
    const { base, token } = await setup();
    const key = unique("key");
    const source = unique("user");
    const files = [{ bytes: png(), name: "a.png", type: "image/png" }];
    const first = await post(`${base}/messages`, token, form({ "contact[source_id]": source, content: "hi" }, files), { "idempotency-key": key });
    expect(first.status, first.text).toBe(201);
    const before = await objects();
    const retry = await post(`${base}/messages`, token, form({ "contact[source_id]": source, content: "hi" }, files), { "idempotency-key": key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body.message.id).toBe(first.body.message.id);
    expect(await objects()).toBe(before);
  });

  it("same message source_id: the retry answers the stored message and its new files are removed", async () => {
    const { base, token } = await setup();
    const fields = { "contact[source_id]": unique("user"), content: "hi", source_id: unique("msg") };
    const files = [{ bytes: png(), name: "a.png", type: "image/png" }];
    const first = await post(`${base}/messages`, token, form(fields, files));
    expect(first.status, first.text).toBe(201);
    const before = await objects();
    const rows = await count("SELECT count(*) AS n FROM attachments");
    const retry = await post(`${base}/messages`, token, form(fields, files));
    expect(retry.status, retry.text).toBe(200);
    expect(retry.body.message.attachments[0].id).toBe(first.body.message.attachments[0].id);
    expect(await objects()).toBe(before);
    expect(await count("SELECT count(*) AS n FROM attachments")).toBe(rows);
  });
});

describe("data_url signatures and ranges", () => {
  async function stored() {
    const { base, token } = await setup();
    const bytes = png(1000, 9);
    const res = await oneCall(base, token, {}, [{ bytes, name: "v.png", type: "image/png" }]);
    expect(res.status, res.text).toBe(201);
    return { bytes, url: new URL(res.body.message.attachments[0].data_url) };
  }

  it("tampered id, expiry or signature → 403 problem; no token needed for a valid one", async () => {
    const { url } = await stored();
    const other = await stored();
    const tampered = [
      new URL(url.href.replace(/signature=[\w-]+/, "signature=" + "A".repeat(43))),
      new URL(url.href.replace(/expires=(\d+)/, (_, e) => `expires=${Number(e) + 3600}`)),
      new URL(url.href.replace(/\/attachments\/[^?]+/, other.url.pathname.replace("/v1", ""))),
      new URL(url.href.replace(/&signature=[\w-]+/, "&signature=")),
    ];
    for (const link of tampered) {
      const res = await api("GET", link.pathname + link.search);
      expect(res.status, link.href).toBeOneOf([403, 422]);
      if (res.status === 403) expectProblem(res, 403, "invalid_signature");
    }
    expectProblem(await api("GET", tampered[0]!.pathname + tampered[0]!.search), 403, "invalid_signature");
    expect((await api("GET", url.pathname + url.search)).status).toBe(200);
  });

  it("an expired link → 403 problem", async () => {
    const { signedUrl } = await import("../../src/attachments/signing");
    const { url } = await stored();
    const id = url.pathname.split("/").pop()!;
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = new URL(await signedUrl(env.ATTACHMENT_SIGNING_SECRET!, "http://edge-inbox.test", id, past, url.searchParams.get("shard")!));
    const res = await api("GET", expired.pathname + expired.search);
    expectProblem(res, 403, "invalid_signature");
    expect(res.body.detail).toContain("expired");
  });

  it("serves byte ranges (206), suffix ranges, 416 outside the file, 304 on If-None-Match", async () => {
    const { url, bytes } = await stored();
    const part = await download(url.href, { range: "bytes=10-19" });
    expect(part.response.status).toBe(206);
    expect(part.response.headers.get("content-range")).toBe("bytes 10-19/1000");
    expect(part.bytes).toEqual(bytes.subarray(10, 20));
    const tail = await download(url.href, { range: "bytes=-5" });
    expect(tail.bytes).toEqual(bytes.subarray(995));
    const open = await download(url.href, { range: "bytes=990-" });
    expect(open.bytes).toEqual(bytes.subarray(990));
    const outside = await download(url.href, { range: "bytes=5000-" });
    expect(outside.response.status).toBe(416);
    expect(outside.response.headers.get("content-range")).toBe("bytes */1000");
    const full = await download(url.href);
    const cached = await download(url.href, { "if-none-match": full.response.headers.get("etag")! });
    expect(cached.response.status).toBe(304);
  });
});

describe("agents", () => {
  async function agentSetup() {
    const { account, inbox, token, base } = await setup();
    const agent = await createTestUser(account, "agent");
    await setMembers(account, inbox, [agent.id]);
    const incoming = await api("POST", `${base}/messages`, { token, body: { contact: { source_id: unique("user") }, content: "hi" } });
    const conversation = incoming.body.conversation.id as string;
    return { account, inbox, token, base, agent, conversation, path: `/v1/accounts/${account.accountId}/conversations/${conversation}/messages` };
  }

  it("reply with multipart files, and with a pre-upload of the account; the history shows both", async () => {
    const { account, agent, path, base, token, conversation } = await agentSetup();
    const manual = pdf("manual");
    const multipart = await post(path, agent.token, form({ content: "here is the manual" }, [{ bytes: manual, name: "manual.pdf", type: "application/pdf" }]));
    expect(multipart.status, multipart.text).toBe(201);
    expect(multipart.body.attachments[0]).toMatchObject({ file_name: "manual.pdf", data_url: expect.any(String) });
    expect((await download(multipart.body.attachments[0].data_url)).bytes).toEqual(manual);

    const up = await post(`/v1/accounts/${account.accountId}/uploads`, agent.token, form({}, [{ bytes: png(), name: "p.png", type: "image/png", field: "file" }]));
    expect(up.status, up.text).toBe(201);
    const byId = await api("POST", path, { token: agent.token, body: { attachment_ids: [up.body.id] } });
    expect(byId.status, byId.text).toBe(201);
    expect(byId.body.content).toBeNull();
    expect(byId.body.attachments[0]).toMatchObject({ id: up.body.id, file_type: "image" });

    const history = await api("GET", `${base}/conversations/${conversation}/messages`, { token });
    const files = history.body.data.flatMap((m: { attachments: { id?: string }[] }) => m.attachments.map((a) => a.id));
    expect(files).toEqual([multipart.body.attachments[0].id, up.body.id]);
    const agentHistory = await api("GET", path, { token: agent.token });
    expect(agentHistory.body.data.at(-1).attachments[0].data_url).toEqual(expect.any(String));
  });

  it("a retried multipart reply (same Idempotency-Key) and a retried upload store nothing twice", async () => {
    const { account, agent, path } = await agentSetup();
    const key = unique("key");
    const files = [{ bytes: pdf("once"), name: "once.pdf", type: "application/pdf" }];
    const first = await post(path, agent.token, form({ content: "once" }, files), { "idempotency-key": key });
    expect(first.status, first.text).toBe(201);
    const before = await objects();
    const retry = await post(path, agent.token, form({ content: "once" }, files), { "idempotency-key": key });
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(first.body.id);
    expect(await objects()).toBe(before);

    // The reply's own source_id: the retry answers the stored reply (200) and keeps none of its files.
    const fields = { content: "manual", source_id: unique("reply") };
    const sent = await post(path, agent.token, form(fields, files));
    expect(sent.status, sent.text).toBe(201);
    const stored = await objects();
    const again2 = await post(path, agent.token, form(fields, files));
    expect(again2.status, again2.text).toBe(200);
    expect(again2.body.attachments[0].id).toBe(sent.body.attachments[0].id);
    expect(await objects()).toBe(stored);

    const uploadKey = unique("upload");
    const upload = () =>
      post(`/v1/accounts/${account.accountId}/uploads`, agent.token, form({}, [{ bytes: png(), name: "u.png", type: "image/png", field: "file" }]), {
        "idempotency-key": uploadKey,
      });
    const up = await upload();
    const again = await upload();
    expect(again.body.id).toBe(up.body.id);
    expect(await objects()).toBe(stored + 1);
  });

  it("an empty reply without files is still a 422", async () => {
    const { agent, path } = await agentSetup();
    expectProblem(await api("POST", path, { token: agent.token, body: { content: " " } }), 422, "validation_failed");
  });
});

describe("isolation: another inbox's or account's upload id is a 404", () => {
  it("cross-inbox and cross-account ids are not found; nothing is written", async () => {
    const a = await setup();
    const inboxB = await createTestInbox(a.account);
    const tokenB = await createInboxToken(a.account, inboxB);
    const other = await setup();
    const up = await post(`${a.base}/uploads`, a.token, form({}, [{ bytes: png(), name: "a.png", type: "image/png", field: "file" }]));
    expect(up.status).toBe(201);
    const body = { contact: { source_id: unique("user") }, attachment_ids: [up.body.id] };
    expectProblem(await api("POST", `/v1/inboxes/${inboxB.identifier}/messages`, { token: tokenB, body }), 404, "attachment_not_found");
    expectProblem(await api("POST", `${other.base}/messages`, { token: other.token, body }), 404, "attachment_not_found");
    // An agent of the account cannot use an integrator's inbox upload either (agents' uploads are the account's).
    const agentUp = await post(`/v1/accounts/${a.account.accountId}/uploads`, a.account.adminToken, form({}, [{ bytes: png(), name: "b.png", type: "image/png", field: "file" }]));
    expectProblem(await api("POST", `${a.base}/messages`, { token: a.token, body: { ...body, attachment_ids: [agentUp.body.id] } }), 404, "attachment_not_found");
    const conversation = (await api("POST", `${other.base}/messages`, { token: other.token, body: { contact: { source_id: unique("u") }, content: "x" } })).body.conversation.id;
    const reply = await api("POST", `/v1/accounts/${other.account.accountId}/conversations/${conversation}/messages`, {
      token: other.account.adminToken,
      body: { attachment_ids: [agentUp.body.id] },
    });
    expectProblem(reply, 404, "attachment_not_found");
    // Uploading into someone else's account or inbox is refused like any other route.
    expect((await post(`/v1/accounts/${a.account.accountId}/uploads`, other.account.adminToken, form({}, [{ bytes: png(), name: "c.png", type: "image/png", field: "file" }]))).status).toBeOneOf([403, 404]);
    expect((await post(`${a.base}/uploads`, other.token, form({}, [{ bytes: png(), name: "c.png", type: "image/png", field: "file" }]))).status).toBe(404);
  });
});

describe("webhooks, events feed, clean-up", () => {
  it("the webhook payload carries a data_url that serves the file's bytes; so does the events feed", async () => {
    const webhookPath = await receiverPath();
    const { base, token } = await setup({ webhookPath });
    const image = png(2048, 5);
    const res = await oneCall(base, token, { content: "photo" }, [{ bytes: image, name: "w.png", type: "image/png" }]);
    expect(res.status, res.text).toBe(201);
    const [arrived] = await waitForPayloads(webhookPath, 1, "message_created");
    const attachment = arrived!.body.message.attachments[0];
    expect(attachment).toMatchObject({ id: res.body.message.attachments[0].id, sha256: await sha256(image) });
    expect(attachment).not.toHaveProperty("base_url");
    expect((await download(attachment.data_url)).bytes).toEqual(image);

    const feed = await api("GET", `${base}/events`, { token });
    const event = feed.body.data.find((e: { event: string }) => e.event === "message_created");
    expect((await download(event.message.attachments[0].data_url)).bytes).toEqual(image);
  });

  it("a realtime frame carries a data_url, signed for that frame, that serves the file's bytes", async () => {
    const { account, base, token } = await setup();
    const stream = await agentStream(account.accountId, account.adminToken);
    const image = png(1536, 9);
    const content = unique("live-photo");
    const res = await oneCall(base, token, { content }, [{ bytes: image, name: "live.png", type: "image/png" }]);
    expect(res.status, res.text).toBe(201);
    const frame = await stream.next((f: Record<string, any>) => f.event === "message_created" && f.message?.content === content);
    const attachment = frame.message.attachments[0];
    expect(attachment).toMatchObject({ id: res.body.message.attachments[0].id, sha256: await sha256(image) });
    expect(attachment.data_url).toMatch(/[?&]signature=/);
    expect((await download(attachment.data_url)).bytes).toEqual(image);
    stream.close();
  });

  it("prunes uploads never referenced after 24 h, keeps referenced ones; contact erasure deletes its files", async () => {
    const { account, base, token } = await setup();
    const shard = await shardBindings(account.accountId);
    const unused = await post(`${base}/uploads`, token, form({}, [{ bytes: png(), name: "u.png", type: "image/png", field: "file" }]));
    const used = await oneCall(base, token, {}, [{ bytes: png(), name: "k.png", type: "image/png" }]);
    const usedId = used.body.message.attachments[0].id;
    expect(await pruneUnreferencedUploads(shard, Date.now())).toBe(0);
    let removed = 0;
    for (let i = 0; i < 100; i++) {
      const n = await pruneUnreferencedUploads(shard, Date.now() + 25 * 3600 * 1000);
      removed += n;
      if (n === 0) break;
    }
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(await env.ATTACHMENTS.head(unused.body.id)).toBeNull();
    expect(await env.ATTACHMENTS.head(usedId)).not.toBeNull();

    const deleted = await deleteAttachmentsOfConversations(shard, [used.body.conversation.id]);
    expect(deleted).toEqual([usedId]);
    expect(await env.ATTACHMENTS.head(usedId)).toBeNull();
    expectProblem(await api("GET", new URL(used.body.message.attachments[0].data_url).pathname + new URL(used.body.message.attachments[0].data_url).search), 404, "attachment_not_found");
  });
});

describe("erasing a contact deletes its files", () => {
  it("the contact's own files go; a manual other contacts' conversations still use stays", async () => {
    const { account, base, token } = await setup();
    const manual = await post(`/v1/accounts/${account.accountId}/uploads`, account.adminToken, form({}, [{ bytes: pdf("manual"), name: "manual.pdf", type: "application/pdf", field: "file" }]));
    const conversations: Record<string, { conversation: string; file: string; url: string }> = {};
    const sources: Record<string, string> = {};
    for (const who of ["erased", "kept"]) {
      const sourceId = unique(who);
      const sent = await post(`${base}/messages`, token, form({ "contact[source_id]": sourceId, content: "photo" }, [{ bytes: png(300), name: `${who}.png`, type: "image/png" }]));
      expect(sent.status, sent.text).toBe(201);
      const reply = await api("POST", `/v1/accounts/${account.accountId}/conversations/${sent.body.conversation.id}/messages`, {
        token: account.adminToken,
        body: { content: "the manual", attachment_ids: [manual.body.id] },
      });
      expect(reply.status, reply.text).toBe(201);
      conversations[who] = { conversation: sent.body.conversation.id, file: sent.body.message.attachments[0].id, url: sent.body.message.attachments[0].data_url };
      sources[who] = sourceId;
    }
    const erased = await api("DELETE", `${base}/contacts/${sources.erased}`, { token });
    expect([200, 202], erased.text).toContain(erased.status);
    await expect.poll(async () => env.ATTACHMENTS.head(conversations.erased!.file), { timeout: 20_000, interval: 100 }).toBeNull();
    expect(await count("SELECT count(*) AS n FROM attachments WHERE id = ?", conversations.erased!.file)).toBe(0);
    const link = new URL(conversations.erased!.url);
    expectProblem(await api("GET", link.pathname + link.search), 404, "attachment_not_found");
    expect(await env.ATTACHMENTS.head(conversations.kept!.file)).not.toBeNull();
    expect(await env.ATTACHMENTS.head(manual.body.id)).not.toBeNull();
  });
});

describe("the recovery pass removes forgotten uploads", () => {
  it("an upload never referenced is gone after a pass 24 h later", async () => {
    const { account, base, token } = await setup();
    const shard = await shardBindings(account.accountId);
    const up = await post(`${base}/uploads`, token, form({}, [{ bytes: png(), name: "late.png", type: "image/png", field: "file" }]));
    expect(up.status, up.text).toBe(201);
    let pruned = 0;
    for (let pass = 0; pass < 50 && (await env.ATTACHMENTS.head(up.body.id)); pass++) {
      pruned += (await recover(shard, Date.now() + 25 * 3600 * 1000)).uploads_pruned;
    }
    expect(pruned).toBeGreaterThanOrEqual(1);
    expect(await env.ATTACHMENTS.head(up.body.id)).toBeNull();
    expect(await count("SELECT count(*) AS n FROM attachments WHERE id = ?", up.body.id)).toBe(0);
  });
});

export type { TestAccount, TestInbox };
