// What a file is: its type from its first bytes, the file_type the API shows, a name safe to send back.

/** Signatures of the types we recognise: bytes at an offset (null matches any byte). */
const SIGNATURES: { type: string; offset: number; bytes: (number | null)[] }[] = [
  { type: "image/png", offset: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { type: "image/jpeg", offset: 0, bytes: [0xff, 0xd8, 0xff] },
  { type: "image/gif", offset: 0, bytes: [0x47, 0x49, 0x46, 0x38] },
  { type: "image/webp", offset: 0, bytes: [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50] },
  { type: "image/bmp", offset: 0, bytes: [0x42, 0x4d] },
  { type: "application/pdf", offset: 0, bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { type: "application/zip", offset: 0, bytes: [0x50, 0x4b, 0x03, 0x04] },
  { type: "application/gzip", offset: 0, bytes: [0x1f, 0x8b] },
  { type: "audio/ogg", offset: 0, bytes: [0x4f, 0x67, 0x67, 0x53] },
  { type: "audio/wav", offset: 0, bytes: [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x41, 0x56, 0x45] },
  { type: "audio/mpeg", offset: 0, bytes: [0x49, 0x44, 0x33] },
  { type: "video/mp4", offset: 4, bytes: [0x66, 0x74, 0x79, 0x70] },
  { type: "video/webm", offset: 0, bytes: [0x1a, 0x45, 0xdf, 0xa3] },
];

/** Declared types that share a signature with another (the container decides, not the label). */
const SAME_AS: Record<string, string> = {
  "image/jpg": "image/jpeg",
  "image/pjpeg": "image/jpeg",
  "audio/mp4": "video/mp4",
  "audio/x-m4a": "video/mp4",
  "video/quicktime": "video/mp4",
  "audio/webm": "video/webm",
  "audio/x-wav": "audio/wav",
  "audio/wave": "audio/wav",
  "application/x-zip-compressed": "application/zip",
  // Office documents are zip files.
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "application/zip",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "application/zip",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation": "application/zip",
  "application/x-gzip": "application/gzip",
};

/** Bytes that sniff() needs to see. */
export const SNIFF_BYTES = 16;

export function sniff(head: Uint8Array): string | undefined {
  for (const signature of SIGNATURES) {
    if (head.length < signature.offset + signature.bytes.length) continue;
    if (signature.bytes.every((byte, i) => byte === null || head[signature.offset + i] === byte)) return signature.type;
  }
  // MPEG audio frames without an ID3 tag: an 11-bit sync word.
  if (head.length >= 2 && head[0] === 0xff && (head[1]! & 0xe0) === 0xe0) return "audio/mpeg";
  return undefined;
}

/** The media type without parameters, lower case; application/octet-stream when none or malformed. */
export function essence(contentType: string | undefined): string {
  const value = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(value) ? value : "application/octet-stream";
}

const TEXTUAL = /^(text\/|application\/(json|xml|csv)$)/;

/**
 * Whether the first bytes fit the declared type. A type we know the signature of must show it; text must
 * not be a known binary format; anything else (application/octet-stream, other types) is taken as declared.
 */
export function contentMatches(declared: string, head: Uint8Array): boolean {
  const expected = SAME_AS[declared] ?? declared;
  const detected = sniff(head);
  if (SIGNATURES.some((signature) => signature.type === expected)) {
    if (expected === "audio/mpeg") return detected === "audio/mpeg";
    return detected === expected;
  }
  if (TEXTUAL.test(declared)) return detected === undefined;
  // Images we cannot check (svg is script, not an image, to a browser) are not served as images.
  return true;
}

export function fileTypeOf(contentType: string): "image" | "audio" | "video" | "file" {
  if (contentType.startsWith("image/") && contentType !== "image/svg+xml") return "image";
  if (contentType.startsWith("audio/")) return "audio";
  if (contentType.startsWith("video/")) return "video";
  return "file";
}

/**
 * A file name safe to store and to send back in Content-Disposition: no path, no control or
 * bidirectional-override characters, no leading dots, at most 200 characters; "file" if nothing is left.
 */
export function sanitizeFileName(raw: string | undefined): string {
  let name = (raw ?? "").normalize("NFC");
  name = name.split(/[\\/]/).pop() ?? "";
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, "");
  name = name.replace(/["<>:|?*]/g, "_").trim();
  name = name.replace(/^\.+/, "").trim();
  if ([...name].length > 200) {
    const dot = name.lastIndexOf(".");
    const extension = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : "";
    name = [...name].slice(0, 200 - extension.length).join("") + extension;
  }
  return name || "file";
}

/** Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266). */
export function contentDisposition(kind: "inline" | "attachment", fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
