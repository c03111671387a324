// Files in and out of conversations: uploads (alone, or as the files of a multipart message), the
// attachments a message references by id, and the signed downloads (docs/attachments.md).
import { readParts, partText, multipartBoundary, type Part } from "../attachments/multipart";
import { withDataUrls } from "../attachments/render";
import { serveAttachment } from "../attachments/serve";
import {
  deleteAttachments,
  deleteAttachmentsOfConversations,
  findOwnedAttachments,
  pruneUnreferencedUploads,
  recordUses,
  storeFile,
  toStoredAttachment,
  toUpload,
  type AttachmentRow,
  type Owner,
} from "../attachments/store";
import type { Attachment } from "../db/schema";
import type { Bindings } from "../env";
import { ApiError } from "../errors/problem";

export { deleteAttachmentsOfConversations, multipartBoundary, pruneUnreferencedUploads, serveAttachment, withDataUrls, type Owner };

/** Files per message: URL attachments, attachment_ids and multipart files together. */
export const MAX_FILES_PER_MESSAGE = 10;
/** The text fields of a multipart message together (its files have their own limit). */
const MAX_FIELD_BYTES = 1024 * 1024;

const tooManyFiles = () =>
  new ApiError("validation_failed", `A message carries at most ${MAX_FILES_PER_MESSAGE} attachments.`, {
    errors: [{ location: "body", pointer: "/attachments", detail: `at most ${MAX_FILES_PER_MESSAGE} files` }],
  });

/** POST …/uploads: one file part (any field name) stored for later reference by attachment_ids. */
export async function uploadOne(env: Bindings, owner: Owner, body: ReadableStream<Uint8Array> | null, boundary: string, baseUrl: string) {
  if (!body) throw new ApiError("validation_failed", "Send the file as a multipart/form-data part named 'file'.");
  let stored: AttachmentRow | undefined;
  try {
    for await (const part of readParts(body, boundary)) {
      // Other fields mean nothing here; read (bounded) and dropped.
      if (part.fileName === undefined) {
        await partText(part, 64 * 1024);
        continue;
      }
      if (stored) throw new ApiError("validation_failed", "Send one file per upload; a message can reference up to 10.");
      stored = await storeFile(env, owner, part, baseUrl);
    }
  } catch (error) {
    if (stored) await deleteAttachments(env, [stored.id]);
    throw error;
  }
  if (!stored) throw new ApiError("validation_failed", "The body has no file part; send the file as a multipart/form-data part named 'file'.");
  return toUpload(stored);
}

/** Sets a form field, with brackets for nesting (contact[source_id]) and [] for lists (attachment_ids[]). */
function setField(target: Record<string, unknown>, name: string, value: unknown) {
  const path = name.replace(/\]/g, "").split("[");
  // Only the fields' own keys: a name like __proto__[x] must not reach Object.prototype.
  if (path.some((key) => key === "__proto__" || key === "constructor" || key === "prototype")) {
    throw new ApiError("validation_failed", `Form field '${name}' is not a field of this message.`, {
      errors: [{ location: "body", pointer: `/${path.join("/")}`, detail: "unknown field" }],
    });
  }
  let node = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    if (key === "") break;
    const next = path[i + 1] === "" ? [] : {};
    if (!Object.hasOwn(node, key) || typeof node[key] !== "object" || node[key] === null) node[key] = next;
    if (path[i + 1] === "") {
      (node[key] as unknown[]).push(value);
      return;
    }
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  node[last] = last === "private" && (value === "true" || value === "false") ? value === "true" : value;
}

/**
 * A multipart message: the JSON fields (a `payload` part holding the JSON body, and/or one part per field)
 * and its files (`attachments[]`), which are stored as they stream in. Returns the JSON body the route
 * validates, with the stored files appended to attachment_ids. If anything fails, the files already
 * stored are removed before the error goes on.
 */
export async function readMultipartMessage(
  env: Bindings,
  owner: Owner,
  body: ReadableStream<Uint8Array> | null,
  boundary: string,
  baseUrl: string,
): Promise<{ fields: Record<string, unknown>; uploaded: string[] }> {
  const uploaded: string[] = [];
  let fields: Record<string, unknown> = {};
  const flat: [string, string][] = [];
  let fieldBytes = 0;
  try {
    if (body) {
      for await (const part of readParts(body, boundary)) {
        if (part.fileName !== undefined) {
          if (uploaded.length >= MAX_FILES_PER_MESSAGE) throw tooManyFiles();
          uploaded.push((await storeFile(env, owner, part, baseUrl)).id);
          continue;
        }
        const text = await readField(part, MAX_FIELD_BYTES - fieldBytes);
        fieldBytes += text.length;
        if (part.name === "payload") {
          try {
            const parsed: unknown = JSON.parse(text);
            if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
            fields = { ...(parsed as Record<string, unknown>), ...fields };
          } catch (error) {
            throw new ApiError("invalid_json", `The 'payload' part is not a JSON object: ${(error as Error).message}.`);
          }
        } else flat.push([part.name, text]);
      }
    }
    for (const [name, value] of flat) setField(fields, name, value);
    const ids = Array.isArray(fields.attachment_ids) ? (fields.attachment_ids as unknown[]) : [];
    if (uploaded.length > 0) fields.attachment_ids = [...ids, ...uploaded];
    return { fields, uploaded };
  } catch (error) {
    await deleteAttachments(env, uploaded);
    throw error;
  }
}

function readField(part: Part, remaining: number): Promise<string> {
  return partText(part, Math.max(0, remaining));
}

/** Removes uploads a rejected (or deduplicated) message brought in; nothing else references them. */
export async function discardUploads(env: Bindings, ids: string[]): Promise<void> {
  await deleteAttachments(env, ids);
}

/**
 * The stored attachments a message references by id, checked to belong to the owner (else 404) and
 * recorded as used by the conversation, followed by the message's URL attachments.
 */
export async function resolveAttachments(
  env: Bindings,
  owner: Owner,
  conversationId: string,
  input: { attachments?: Attachment[]; attachment_ids?: string[] },
): Promise<Attachment[]> {
  const ids = input.attachment_ids ?? [];
  if ((input.attachments?.length ?? 0) + ids.length > MAX_FILES_PER_MESSAGE) throw tooManyFiles();
  const rows = await findOwnedAttachments(env, owner, ids);
  await recordUses(env, ids, conversationId);
  return [...(input.attachments ?? []), ...rows.map(toStoredAttachment)];
}
