// Attachment files in R2 (binding ATTACHMENTS, key = the attachment id) and their rows in D1. Files arrive
// as streams and go to R2 in fixed-size parts, so a 100 MiB upload holds one part in memory, not 100 MiB;
// the sha256 is computed on the way through.
import { and, eq, inArray, isNull, lt, notExists, sql } from "drizzle-orm";
import { newId } from "../core/ids";
import { database } from "../db/client";
import { attachmentUses, attachments, type StoredAttachment } from "../db/schema";
import { config, type Bindings } from "../env";
import { ApiError } from "../errors/problem";
import { contentMatches, essence, fileTypeOf, sanitizeFileName, SNIFF_BYTES } from "./files";

export type AttachmentRow = typeof attachments.$inferSelect;

/** Who may reference an upload: an integrator's inbox, or (inboxId null) an account's agents. */
export type Owner = { accountId: string; inboxId: string | null };

/** R2 multipart parts must be at least 5 MiB and, but for the last, all the same size. */
export const PART_BYTES = 5 * 1024 * 1024;
/** Uploads no message has referenced for this long are removed. */
export const UNREFERENCED_TTL_MS = 24 * 60 * 60 * 1000;

export type IncomingFile = { fileName: string | undefined; contentType: string | undefined; chunks: () => AsyncIterable<Uint8Array> };

function joined(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === size) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk.subarray(0, Math.min(chunk.length, size - offset)), offset);
    offset += chunk.length;
    if (offset >= size) break;
  }
  return out;
}

function requireSigningSecret(env: Bindings): string {
  const secret = config(env).attachments.signingSecret;
  if (!secret) {
    throw new ApiError("service_unavailable", "Attachments are not configured on this deployment: the operator must set ATTACHMENT_SIGNING_SECRET.");
  }
  return secret;
}

/**
 * Streams one file to R2 and records it. Over the size limit → 413, first bytes not matching the declared
 * type → 415, both naming the file; nothing is left in R2 or D1 when it fails.
 */
export async function storeFile(env: Bindings, owner: Owner, file: IncomingFile, baseUrl: string, now = Date.now()): Promise<AttachmentRow> {
  requireSigningSecret(env);
  const { maxBytes } = config(env).attachments;
  const id = newId("att", now);
  const fileName = sanitizeFileName(file.fileName);
  const contentType = essence(file.contentType);
  const digest = new crypto.DigestStream("SHA-256");
  const hasher = digest.getWriter();
  // Aborted on failure; its digest then rejects, and nobody waits for it.
  digest.digest.catch(() => {});
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let total = 0;
  let checked = false;
  let upload: R2MultipartUpload | undefined;
  const parts: R2UploadedPart[] = [];

  const check = () => {
    if (checked) return;
    checked = true;
    if (!contentMatches(contentType, joined(pending, Math.min(pendingBytes, SNIFF_BYTES)))) {
      throw new ApiError(
        "file_type_mismatch",
        `File '${fileName}' was declared as ${contentType}, but its content is not ${contentType}; send it with its real Content-Type.`,
      );
    }
  };
  const flushPart = async () => {
    const bytes = joined(pending, PART_BYTES);
    // What is beyond this part starts the next one.
    const remainder: Uint8Array[] = [];
    let seen = 0;
    for (const chunk of pending) {
      if (seen + chunk.length > PART_BYTES) remainder.push(chunk.subarray(Math.max(0, PART_BYTES - seen)));
      seen += chunk.length;
    }
    pending = remainder;
    pendingBytes -= PART_BYTES;
    upload ??= await env.ATTACHMENTS.createMultipartUpload(id, { httpMetadata: { contentType } });
    parts.push(await upload.uploadPart(parts.length + 1, bytes));
  };

  try {
    for await (const chunk of file.chunks()) {
      total += chunk.length;
      if (total > maxBytes) {
        throw new ApiError("file_too_large", `File '${fileName}' is over the limit of ${maxBytes} bytes (${Math.floor(maxBytes / 1048576)} MiB).`);
      }
      await hasher.write(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= SNIFF_BYTES) check();
      while (pendingBytes >= PART_BYTES) await flushPart();
    }
    check();
    await hasher.close();
    const sha256 = [...new Uint8Array(await digest.digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    if (upload) {
      if (pendingBytes > 0 || parts.length === 0) parts.push(await upload.uploadPart(parts.length + 1, joined(pending, pendingBytes)));
      await upload.complete(parts);
    } else {
      await env.ATTACHMENTS.put(id, joined(pending, pendingBytes), { httpMetadata: { contentType }, sha256 });
    }
    pending = [];
    const row: AttachmentRow = {
      id,
      accountId: owner.accountId,
      inboxId: owner.inboxId,
      fileName,
      contentType,
      fileType: fileTypeOf(contentType),
      byteSize: total,
      sha256,
      baseUrl,
      createdAt: now,
    };
    try {
      await database(env).insert(attachments).values(row);
    } catch (error) {
      await env.ATTACHMENTS.delete(id);
      throw error;
    }
    return row;
  } catch (error) {
    await hasher.abort().catch(() => {});
    if (upload) await upload.abort().catch(() => {});
    throw error;
  }
}

export function toStoredAttachment(row: AttachmentRow): StoredAttachment {
  return {
    id: row.id,
    file_type: row.fileType,
    file_name: row.fileName,
    content_type: row.contentType,
    byte_size: row.byteSize,
    sha256: row.sha256,
    base_url: row.baseUrl,
  };
}

/** The API's view of an upload (the pre-upload routes' answer). */
export function toUpload(row: AttachmentRow) {
  return {
    id: row.id,
    file_name: row.fileName,
    content_type: row.contentType,
    file_type: row.fileType,
    byte_size: row.byteSize,
    sha256: row.sha256,
    created_at: new Date(row.createdAt).toISOString(),
  };
}

/**
 * The uploads these ids name, in the given order, if every one belongs to the owner; an id of another
 * inbox or account is a 404 like an unknown one.
 */
export async function findOwnedAttachments(env: Bindings, owner: Owner, ids: string[]): Promise<AttachmentRow[]> {
  if (ids.length === 0) return [];
  const rows = await database(env)
    .select()
    .from(attachments)
    .where(
      and(
        inArray(attachments.id, [...new Set(ids)]),
        eq(attachments.accountId, owner.accountId),
        owner.inboxId === null ? isNull(attachments.inboxId) : eq(attachments.inboxId, owner.inboxId),
      ),
    );
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => {
    const row = byId.get(id);
    if (!row) throw new ApiError("attachment_not_found", `No upload with id '${id}' exists for this ${owner.inboxId ? "inbox" : "account"}.`);
    return row;
  });
}

/** Marks the uploads as used by the conversation (they then live as long as it does). */
export async function recordUses(env: Bindings, attachmentIds: string[], conversationId: string, now = Date.now()): Promise<void> {
  if (attachmentIds.length === 0) return;
  await database(env)
    .insert(attachmentUses)
    .values([...new Set(attachmentIds)].map((attachmentId) => ({ attachmentId, conversationId, createdAt: now })))
    .onConflictDoNothing();
}

export async function getAttachmentRow(env: Bindings, id: string): Promise<AttachmentRow | undefined> {
  return database(env).select().from(attachments).where(eq(attachments.id, id)).get();
}

/** Removes the files and their rows (uses included). */
export async function deleteAttachments(env: Bindings, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const db = database(env);
  for (let i = 0; i < ids.length; i += 50) {
    const slice = ids.slice(i, i + 50);
    // The rows go first: a file whose row is gone is unreachable; a row whose file is gone would 404 later.
    await db.batch([db.delete(attachmentUses).where(inArray(attachmentUses.attachmentId, slice)), db.delete(attachments).where(inArray(attachments.id, slice))]);
    await env.ATTACHMENTS.delete(slice);
  }
}

/**
 * For contact erasure: forgets that these conversations use their attachments, then deletes every file
 * that no other conversation uses (a manual an agent sent to many contacts stays for the others).
 * Returns the ids deleted.
 */
export async function deleteAttachmentsOfConversations(env: Bindings, conversationIds: string[]): Promise<string[]> {
  if (conversationIds.length === 0) return [];
  const db = database(env);
  const used = await db
    .selectDistinct({ id: attachmentUses.attachmentId })
    .from(attachmentUses)
    .where(inArray(attachmentUses.conversationId, conversationIds));
  await db.delete(attachmentUses).where(inArray(attachmentUses.conversationId, conversationIds));
  const candidates = used.map((row) => row.id);
  if (candidates.length === 0) return [];
  const stillUsed = await db
    .selectDistinct({ id: attachmentUses.attachmentId })
    .from(attachmentUses)
    .where(inArray(attachmentUses.attachmentId, candidates));
  const keep = new Set(stillUsed.map((row) => row.id));
  const orphans = candidates.filter((id) => !keep.has(id));
  await deleteAttachments(env, orphans);
  return orphans;
}

/**
 * Removes at most `limit` uploads older than 24 h that no message references. Bounded, so a periodic
 * caller (the recovery alarm) can run it every time; returns how many it removed.
 */
export async function pruneUnreferencedUploads(env: Bindings, now = Date.now(), limit = 100): Promise<number> {
  const unused = notExists(
    database(env).select({ one: sql`1` }).from(attachmentUses).where(eq(attachmentUses.attachmentId, attachments.id)),
  );
  const rows = await database(env)
    .select({ id: attachments.id })
    .from(attachments)
    .where(and(lt(attachments.createdAt, now - UNREFERENCED_TTL_MS), unused))
    .limit(limit);
  if (rows.length === 0) return 0;
  // Deleted only if still unused at delete time: a message may have referenced one meanwhile.
  const deleted = await database(env)
    .delete(attachments)
    .where(and(inArray(attachments.id, rows.map((row) => row.id)), unused))
    .returning({ id: attachments.id });
  if (deleted.length > 0) await env.ATTACHMENTS.delete(deleted.map((row) => row.id));
  return deleted.length;
}
