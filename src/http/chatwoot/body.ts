// Bodies on the Chatwoot surface: like Rails, every write route reads JSON, multipart/form-data and
// x-www-form-urlencoded alike (Chatwoot's clients send message creates as multipart). Message routes also
// take files (attachments[]): they are stored as they stream in (domain/attachments), and the message
// references them by id. Capped like the rest of the API.
import type { Context } from "hono";
import { discardUploads, multipartBoundary, readMultipartMessage, type Owner } from "../../domain/attachments";
import { ApiError } from "../../errors/problem";

const MAX_BODY_BYTES = 1024 * 1024;

function setField(target: Record<string, unknown>, name: string, value: unknown) {
  const path = name.replace(/\]/g, "").split("[");
  if (path.some((key) => key === "__proto__" || key === "constructor" || key === "prototype")) {
    throw new ApiError("validation_failed", `Form field '${name}' is not accepted.`);
  }
  let node = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    if (path[i + 1] === "") {
      if (!Array.isArray(node[key])) node[key] = [];
      (node[key] as unknown[]).push(value);
      return;
    }
    if (typeof node[key] !== "object" || node[key] === null || Array.isArray(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** The body as an object, whatever the content type (an empty body is `{}`). Files are refused here. */
export async function readBody(c: Context): Promise<Record<string, unknown>> {
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) throw new ApiError("payload_too_large", "The request body is over the 1 MiB limit.");
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (type.startsWith("multipart/form-data") || type.startsWith("application/x-www-form-urlencoded")) {
    const form = await c.req.raw.formData();
    const fields: Record<string, unknown> = {};
    for (const [name, value] of form.entries()) {
      if (typeof value !== "string") throw new ApiError("validation_failed", `Files are accepted only on message routes (field '${name}').`);
      setField(fields, name, value);
    }
    return fields;
  }
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) throw new ApiError("payload_too_large", "The request body is over the 1 MiB limit.");
  if (text.trim() === "") return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as Record<string, unknown>;
  } catch {
    throw new ApiError("invalid_json", "The request body is not a JSON object.");
  }
}

/**
 * A message body: multipart with files (attachments[]) stored as they arrive, or readBody's. `settle` must be
 * called with the answer (or the error): files of a rejected or deduplicated message are removed again.
 */
export async function readMessageBody(c: Context, owner: Owner) {
  const boundary = multipartBoundary(c.req.header("content-type"));
  if (boundary === undefined) return { fields: await readBody(c), uploaded: [] as string[] };
  const { fields, uploaded } = await readMultipartMessage(c.env, owner, c.req.raw.body, boundary, new URL(c.req.url).origin);
  return { fields, uploaded };
}

export async function discardUnused(c: Context, uploaded: string[], keep: (id: string) => boolean) {
  const unused = uploaded.filter((id) => !keep(id));
  if (unused.length > 0) await discardUploads(c.env, unused);
}
