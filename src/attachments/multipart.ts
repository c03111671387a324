// A streaming multipart/form-data reader. Request.formData() (and Hono's parseBody) hold the whole body in
// memory; a Worker has 128 MB, so files are read part by part, chunk by chunk, and never held whole.
import { ApiError } from "../errors/problem";

export type Part = {
  /** The form field name. */
  name: string;
  /** Set for file parts (Content-Disposition filename). */
  fileName: string | undefined;
  contentType: string | undefined;
  /** The part's bytes as they arrive; read it to the end (or not at all) before asking for the next part. */
  chunks: () => AsyncGenerator<Uint8Array>;
};

const CRLF = new Uint8Array([13, 10]);
const MAX_HEADER_BYTES = 16 * 1024;
const encoder = new TextEncoder();

/** The boundary of a multipart/form-data Content-Type, or undefined if it is not one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0]!;
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const malformed = (detail: string) => new ApiError("invalid_multipart", `The multipart/form-data body is malformed: ${detail}.`);

function parseHeaders(text: string) {
  const headers = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const disposition = headers.get("content-disposition") ?? "";
  if (!/^form-data\b/i.test(disposition)) throw malformed("a part has no 'Content-Disposition: form-data'");
  const param = (key: string) => {
    const match = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"|;\\s*${key}=([^;\\s]+)`, "i").exec(disposition);
    const value = match?.[1] ?? match?.[2];
    return value?.replace(/\\(.)/g, "$1");
  };
  const name = param("name");
  if (name === undefined) throw malformed("a part has no field name");
  let fileName = param("filename");
  const extended = /;\s*filename\*=(?:UTF-8|utf-8)''([^;\s]+)/.exec(disposition)?.[1];
  if (extended) {
    try {
      fileName = decodeURIComponent(extended);
    } catch {
      // keep the plain filename
    }
  }
  return { name, fileName, contentType: headers.get("content-type") };
}

/**
 * The parts of a multipart/form-data body, in order. Each part's bytes are yielded as they are read,
 * holding back at most one delimiter's length, so memory stays at about one network chunk.
 */
export async function* readParts(body: ReadableStream<Uint8Array>, boundary: string): AsyncGenerator<Part> {
  const reader = body.getReader();
  // The body starts with "--boundary"; a virtual CRLF before it makes every delimiter "\r\n--boundary".
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  let buffer: Uint8Array = CRLF;
  let ended = false;

  async function more(): Promise<boolean> {
    if (ended) return false;
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      return false;
    }
    buffer = concat(buffer, value);
    return true;
  }

  try {
    // The preamble, up to the first delimiter.
    for (;;) {
      const at = indexOf(buffer, delimiter);
      if (at !== -1) {
        buffer = buffer.subarray(at + delimiter.length);
        break;
      }
      if (buffer.length > delimiter.length) buffer = buffer.subarray(buffer.length - delimiter.length);
      if (!(await more())) throw malformed("no boundary found");
    }
    for (;;) {
      while (buffer.length < 2) if (!(await more())) throw malformed("it ends after a boundary");
      if (buffer[0] === 45 && buffer[1] === 45) return; // "--": the closing delimiter
      // Transport padding may follow the delimiter before its CRLF.
      let lineEnd = indexOf(buffer, CRLF);
      while (lineEnd === -1) {
        if (buffer.length > 1024 || !(await more())) throw malformed("a boundary line does not end");
        lineEnd = indexOf(buffer, CRLF);
      }
      buffer = buffer.subarray(lineEnd + 2);
      const headerEnd = encoder.encode("\r\n\r\n");
      let end = buffer[0] === 13 && buffer[1] === 10 ? -2 : indexOf(buffer, headerEnd);
      while (end === -1) {
        if (buffer.length > MAX_HEADER_BYTES) throw malformed("a part's headers are over 16 KiB");
        if (!(await more())) throw malformed("a part's headers do not end");
        end = buffer[0] === 13 && buffer[1] === 10 ? -2 : indexOf(buffer, headerEnd);
      }
      const headerText = end === -2 ? "" : new TextDecoder().decode(buffer.subarray(0, end));
      buffer = buffer.subarray(end === -2 ? 2 : end + 4);
      const headers = parseHeaders(headerText);

      let finished = false;
      let started = false;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        if (started) throw new Error("a part's body is read once");
        started = true;
        for (;;) {
          const at = indexOf(buffer, delimiter);
          if (at !== -1) {
            const last = buffer.subarray(0, at);
            buffer = buffer.subarray(at + delimiter.length);
            finished = true;
            if (last.length > 0) yield last;
            return;
          }
          // Everything but a possible delimiter prefix at the end is the part's.
          const safe = buffer.length - (delimiter.length - 1);
          if (safe > 0) {
            const out = buffer.subarray(0, safe);
            buffer = buffer.slice(safe);
            yield out;
          }
          if (!(await more())) throw malformed("a part does not end with the boundary");
        }
      }
      yield { ...headers, chunks };
      // The consumer skipped the body (or stopped early): drain the rest of this part.
      if (!finished) {
        if (started) throw new Error("a part's body was left half read");
        for await (const _ of chunks()) {
          // discard
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Reads a non-file part as text, bounded. */
export async function partText(part: Part, maxBytes: number): Promise<string> {
  let bytes: Uint8Array = new Uint8Array();
  for await (const chunk of part.chunks()) {
    bytes = concat(bytes, chunk);
    if (bytes.length > maxBytes) throw new ApiError("payload_too_large", `The form fields are over ${maxBytes} bytes together.`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw malformed(`field '${part.name}' is not UTF-8`);
  }
}
