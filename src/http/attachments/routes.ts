import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { multipartBoundary, serveAttachment, uploadOne, type Owner } from "../../domain/attachments";
import { ApiError } from "../../errors/problem";
import { accountUser } from "../auth";
import type { AppContext, AppEnv } from "../context";
import { idempotent } from "../idempotency";
import { inboxAccess } from "../integrator/access";
import { InboxParams } from "../integrator/schemas";
import { bearerSecurity, errorResponses, IdempotencyKeyHeader, jsonResponse, pathParam } from "../openapi";
import { AccountParams } from "../users/schemas";
import { agentOwner, integratorOwner } from "./multipart";

const UploadSchema = z
  .object({
    id: z.string().openapi({ example: "att_01JDQ7Z8X3M4N5P6Q7R8S9T0V1", description: "Reference it in a message's attachment_ids" }),
    file_name: z.string().openapi({ example: "invoice.pdf", description: "The part's filename, sanitised" }),
    content_type: z.string().openapi({ example: "application/pdf" }),
    file_type: z.string().openapi({ example: "file", description: "image, audio, video or file" }),
    byte_size: z.number().int(),
    sha256: z.string().openapi({ description: "Hex SHA-256 of the bytes received" }),
    created_at: z.string(),
  })
  .openapi("Upload");

const uploadBody = {
  required: true,
  description:
    "One file as a multipart/form-data part named `file`, with its filename and Content-Type. At most ATTACHMENT_MAX_BYTES (40 MiB by default); its first bytes must match the declared type.",
  content: {
    "multipart/form-data": {
      schema: {
        type: "object" as const,
        required: ["file"],
        properties: { file: { type: "string" as const, format: "binary" } },
      },
    },
  },
};

const uploadResponses = {
  201: jsonResponse(UploadSchema, "Stored; reference its id in attachment_ids within 24 h, or it is removed"),
  ...errorResponses(400, 403, 404, 413, 415, 422),
};

const inboxUploadRoute = createRoute({
  middleware: [idempotent(inboxAccess)],
  security: bearerSecurity,
  tags: ["Integrator"],
  method: "post",
  path: "/v1/inboxes/{inbox_identifier}/uploads",
  operationId: "uploadInboxFile",
  summary: "Upload a file once, reference it in messages by id",
  description:
    "Streams one file to storage and answers its id, name, type, size and SHA-256. Messages of this inbox reference it with `attachment_ids` (as often as you like); an upload no message references within 24 h is removed. Another inbox's upload id is a 404.",
  request: { params: InboxParams, headers: IdempotencyKeyHeader, body: uploadBody },
  responses: uploadResponses,
});

const accountUploadRoute = createRoute({
  middleware: [idempotent(accountUser())],
  security: bearerSecurity,
  tags: ["Agent"],
  method: "post",
  path: "/v1/accounts/{account_id}/uploads",
  operationId: "uploadAgentFile",
  summary: "Upload a file for agents' replies, reference it by id",
  description:
    "Streams one file to storage for the agents of this account and answers its id, name, type, size and SHA-256. Replies reference it with `attachment_ids` (as often as you like); an upload no message references within 24 h is removed.",
  request: { params: AccountParams, headers: IdempotencyKeyHeader, body: uploadBody },
  responses: uploadResponses,
});

const downloadRoute = createRoute({
  method: "get",
  path: "/v1/attachments/{attachment_id}",
  operationId: "downloadAttachment",
  tags: ["Attachments"],
  summary: "Download a stored file through its signed data_url",
  description:
    "The `data_url` of a stored attachment: no token, the signature is the permission. It expires (1 hour after the message was shown, by default); an expired or altered link is a 403 problem. Serves the file's Content-Type, a Content-Disposition with its name, an ETag (its SHA-256) and single byte ranges (`Range: bytes=…` → 206).",
  security: [],
  request: {
    params: z.object({ attachment_id: pathParam("attachment_id") }),
    query: z.object({
      expires: z.coerce.number().int().nonnegative().openapi({ description: "Unix time (seconds) the link expires" }),
      signature: z.string().max(100).openapi({ description: "HMAC-SHA-256 of the id and expires, base64url" }),
    }),
  },
  responses: {
    200: { description: "The file", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
    206: { description: "The requested byte range", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
    304: { description: "Not modified (If-None-Match matched the ETag)" },
    ...errorResponses(403, 404, 416, 422),
  },
});

function requireBoundary(c: AppContext): string {
  const boundary = multipartBoundary(c.req.header("content-type"));
  if (!boundary) {
    throw new ApiError("unsupported_media_type", "Send the file as multipart/form-data (a part named 'file' with its filename and Content-Type).");
  }
  return boundary;
}

async function upload(c: AppContext, owner: Owner) {
  return uploadOne(c.env, owner, c.req.raw.body, requireBoundary(c), new URL(c.req.url).origin);
}

export const attachmentRoutes = new OpenAPIHono<AppEnv>()
  .openapi(inboxUploadRoute, async (c) => c.json(await upload(c, integratorOwner(c)), 201))
  .openapi(accountUploadRoute, async (c) => c.json(await upload(c, agentOwner(c)), 201))
  .openapi(downloadRoute, async (c) => {
    const { attachment_id } = c.req.valid("param");
    return serveAttachment(c.env, attachment_id, c.req.valid("query"), { method: c.req.method, headers: c.req.raw.headers }) as never;
  });
