// Message routes that take files: a multipart/form-data request is read here, as a stream, before the
// route's JSON validation. Its files are stored as they arrive; the route then sees the JSON body it always
// sees, with the stored files' ids in attachment_ids. Files of a message that is then rejected (any
// error) or deduplicated (the answer does not carry them) are removed again: a rejected message stores
// nothing, a retried one stores nothing twice.
import type { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { discardUploads, multipartBoundary, readMultipartMessage, type Owner } from "../../domain/attachments";
import type { AppContext, AppEnv } from "../context";
import type { jsonBody } from "../openapi";

export function multipartMessage(ownerOf: (c: AppContext) => Owner): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const boundary = multipartBoundary(c.req.header("content-type"));
    if (boundary === undefined) return next();
    const { fields, uploaded } = await readMultipartMessage(c.env, ownerOf(c), c.req.raw.body, boundary, new URL(c.req.url).origin);
    const headers = new Headers(c.req.raw.headers);
    headers.set("content-type", "application/json");
    headers.delete("content-length");
    c.req.raw = new Request(c.req.url, { method: c.req.method, headers, body: JSON.stringify(fields) });
    try {
      await next();
    } catch (error) {
      await discardUploads(c.env, uploaded);
      throw error;
    }
    const answer = c.res.ok ? await c.res.clone().text() : "";
    const unused = uploaded.filter((id) => !answer.includes(id));
    if (unused.length > 0) await discardUploads(c.env, unused);
  };
}

export const integratorOwner = (c: AppContext): Owner => ({ accountId: c.get("inbox").accountId, inboxId: c.get("inbox").id });
export const agentOwner = (c: AppContext): Owner => ({ accountId: c.get("user").accountId, inboxId: null });

/**
 * A message body as JSON or multipart/form-data. Typed as the JSON body: the handler only ever sees JSON
 * (the middleware above turns the files into attachment_ids), and zod validates only the JSON.
 */
export function jsonOrMultipartBody<T extends z.ZodType>(schema: T) {
  return {
    required: true,
    content: {
      "application/json": { schema },
      "multipart/form-data": multipartMessageBody("The message's fields as form fields (or a JSON `payload` part) and its files as attachments[]"),
    },
  } as unknown as ReturnType<typeof jsonBody<T>>;
}

/** The OpenAPI description of a multipart message body (read by the middleware above, not by zod). */
function multipartMessageBody(description: string) {
  return {
    schema: {
      type: "object" as const,
      description,
      properties: {
        payload: { type: "string" as const, description: "The JSON body of the application/json form, as one part (optional)" },
        content: { type: "string" as const },
        source_id: { type: "string" as const },
        "attachment_ids[]": { type: "array" as const, items: { type: "string" as const } },
        "attachments[]": {
          type: "array" as const,
          maxItems: 10,
          items: { type: "string" as const, format: "binary" },
          description: "Files, each with its filename and Content-Type in the part headers",
        },
      },
    },
  };
}
