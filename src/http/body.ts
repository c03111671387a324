import type { MiddlewareHandler } from "hono";
import { ApiError } from "../errors/problem";
import type { AppEnv } from "./context";

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The routes that take files: a multipart/form-data body there is streamed by the route itself, with its
 * own limits per file (src/http/attachments/multipart.ts), instead of being read whole here.
 */
const STREAMED_UPLOAD_PATHS = [
  /^\/v1\/inboxes\/[^/]+\/(messages|uploads|conversations\/[^/]+\/messages)$/,
  /^\/v1\/accounts\/[^/]+\/(uploads|conversations\/[^/]+\/messages)$/,
];

export function isStreamedUpload(method: string, path: string, contentType: string | undefined): boolean {
  return method === "POST" && /^multipart\/form-data\s*;/i.test(contentType ?? "") && STREAMED_UPLOAD_PATHS.some((pattern) => pattern.test(path));
}

// Exactly the JSON content types @hono/zod-openapi's validator reads (its jsonRequestRegex). A wider
// rule here let e.g. 'application/a+b+json' through, and the route then ignored the body or failed.
const JSON_CONTENT_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

/** Strict UTF-8 (a malformed byte is an error, not U+FFFD); decode() without `stream` keeps no state between calls. */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** 413 for a body whose bytes, as they arrive, pass the cap (whatever its Content-Length said). */
const overTheCap = () => new ApiError("payload_too_large", `The body is over the limit of ${MAX_BODY_BYTES} bytes (1 MiB).`);

async function readCapped(request: Request): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) {
    throw new ApiError("payload_too_large", `The body is ${declared} bytes; the limit is ${MAX_BODY_BYTES} bytes (1 MiB).`);
  }
  if (!request.body) return new Uint8Array();
  // A plain declared length within the cap is read in one call; what arrives is still held to the cap (a
  // Request built in code, or a service binding's, need not match its header).
  if (declared !== null && /^\d+$/.test(declared)) {
    const body = new Uint8Array(await request.arrayBuffer());
    if (body.byteLength > MAX_BODY_BYTES) throw overTheCap();
    return body;
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw overTheCap();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * Reads a write request's body once, within the 1 MiB cap, and checks it is JSON, so every route gets
 * the same 413 / 415 / 400 answers before its schema runs. The parsed body is left in Hono's body cache.
 */
export const jsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return next();
  if (isStreamedUpload(c.req.method, c.req.path, c.req.header("content-type"))) return next();
  const bytes = await readCapped(c.req.raw);
  if (bytes.byteLength === 0) {
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve("");
    return next();
  }
  const contentType = c.req.header("content-type") ?? "";
  if (!JSON_CONTENT_TYPE.test(contentType)) {
    throw new ApiError(
      "unsupported_media_type",
      `The body was sent as '${contentType || "(no Content-Type)"}'; send JSON with 'Content-Type: application/json'.`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError("invalid_json", "The body is not valid UTF-8.");
  }
  try {
    JSON.parse(text);
  } catch (error) {
    throw new ApiError("invalid_json", `The body is not valid JSON: ${(error as Error).message}.`);
  }
  // Hono caches bodies as promises; validators then read the same text without touching the stream again.
  (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
  return next();
};
