// GET /v1/attachments/{id}?expires=…&signature=…: the file itself, for whoever holds a valid data_url.
import { config, type Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { contentDisposition } from "./files";
import { verifySignature } from "./signing";
import { getAttachmentRow } from "./store";

/** Shown in the browser (media only); everything else downloads. */
const INLINE = /^(image\/(png|jpeg|gif|webp|bmp)|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+)$/;

type Range = { offset: number; length: number };

/**
 * One byte range of a `Range: bytes=…` header against a file of `size` bytes; undefined to send the whole
 * file (no header, several ranges, or a unit we do not serve); "unsatisfiable" for a range past the end.
 */
export function parseRange(header: string | null, size: number): Range | undefined | "unsatisfiable" {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { offset: start, length: end - start + 1 };
}

export async function serveAttachment(
  env: Bindings,
  id: string,
  query: { expires: number; signature: string },
  request: { method: string; headers: Headers },
  now = Date.now(),
): Promise<Response> {
  const secret = config(env).attachments.signingSecret;
  if (!secret) throw new ApiError("service_unavailable", "Attachments are not configured on this deployment (ATTACHMENT_SIGNING_SECRET).");
  const verdict = await verifySignature(secret, id, query.expires, query.signature, Math.floor(now / 1000));
  if (verdict === "invalid") throw new ApiError("invalid_signature", "This attachment link is not valid; ask the API for the message again to get a fresh data_url.");
  if (verdict === "expired") throw new ApiError("invalid_signature", "This attachment link has expired; ask the API for the message again to get a fresh data_url.");
  const row = await getAttachmentRow(env, id);
  if (!row) throw new ApiError("attachment_not_found", `Attachment '${id}' does not exist (any more).`);

  const etag = `"${row.sha256}"`;
  const headers = new Headers({
    "content-type": row.contentType,
    "content-disposition": contentDisposition(INLINE.test(row.contentType) ? "inline" : "attachment", row.fileName),
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    etag,
    "accept-ranges": "bytes",
    "cache-control": "private, max-age=300",
  });
  const ifNoneMatch = request.headers.get("if-none-match");
  if (ifNoneMatch && ifNoneMatch.split(",").some((tag) => tag.trim() === etag || tag.trim() === "*")) {
    return new Response(null, { status: 304, headers });
  }
  // If-Range with another validator: the file changed (it cannot, but the rule is the rule), send it whole.
  const ifRange = request.headers.get("if-range");
  const range = ifRange && ifRange !== etag ? undefined : parseRange(request.headers.get("range"), row.byteSize);
  if (range === "unsatisfiable") {
    throw new ApiError("range_not_satisfiable", `The range is outside the file (${row.byteSize} bytes).`, {
      headers: { "content-range": `bytes */${row.byteSize}` },
    });
  }
  const object = await env.ATTACHMENTS.get(id, range ? { range } : undefined);
  if (!object) throw new ApiError("attachment_not_found", `Attachment '${id}' does not exist (any more).`);
  const body = request.method === "HEAD" ? null : object.body;
  if (!body) await object.body.cancel();
  if (range) {
    headers.set("content-range", `bytes ${range.offset}-${range.offset + range.length - 1}/${row.byteSize}`);
    headers.set("content-length", String(range.length));
    return new Response(body, { status: 206, headers });
  }
  headers.set("content-length", String(row.byteSize));
  return new Response(body, { status: 200, headers });
}
