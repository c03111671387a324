import { describe, expect, it } from "vitest";
import { contentMatches, sanitizeFileName, sniff } from "../../src/attachments/files";
import { multipartBoundary, partText, readParts } from "../../src/attachments/multipart";
import { parseRange } from "../../src/attachments/serve";

/** A stream that hands out the body in chunks of `size` bytes, so delimiters fall across chunk edges. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function encode(form: FormData): Promise<{ bytes: Uint8Array; boundary: string }> {
  const request = new Request("http://x/", { method: "POST", body: form });
  return { bytes: new Uint8Array(await request.arrayBuffer()), boundary: multipartBoundary(request.headers.get("content-type")!)! };
}

describe("the streaming multipart reader", () => {
  it("reads fields and files whatever the chunk size, without holding a part whole", async () => {
    const file = new Uint8Array(70_000).map((_, i) => (i * 13) & 0xff);
    // Bytes that look like a delimiter's start inside the file must stay in it.
    file.set(new TextEncoder().encode("\r\n--"), 1000);
    const form = new FormData();
    form.append("content", "héllo");
    form.append("attachments[]", new File([file], "a.bin", { type: "application/octet-stream" }));
    form.append("attachments[]", new File([], "empty.txt", { type: "text/plain" }));
    const { bytes, boundary } = await encode(form);
    for (const size of [1, 7, 64, 1000, 65_536, bytes.length]) {
      const seen: { name: string; fileName?: string; type?: string; size: number; largest: number; text?: string; bytes?: Uint8Array }[] = [];
      for await (const part of readParts(chunked(bytes, size), boundary)) {
        if (part.fileName === undefined) {
          seen.push({ name: part.name, size: 0, largest: 0, text: await partText(part, 1000) });
          continue;
        }
        let total = 0;
        let largest = 0;
        const collected: number[] = [];
        for await (const chunk of part.chunks()) {
          total += chunk.length;
          largest = Math.max(largest, chunk.length);
          if (total <= 70_000) collected.push(...chunk);
        }
        seen.push({ name: part.name, fileName: part.fileName, type: part.contentType, size: total, largest, bytes: new Uint8Array(collected) });
      }
      expect(seen.map((p) => [p.name, p.fileName, p.size]), `chunks of ${size}`).toEqual([
        ["content", undefined, 0],
        ["attachments[]", "a.bin", 70_000],
        ["attachments[]", "empty.txt", 0],
      ]);
      expect(seen[0]!.text).toBe("héllo");
      expect(seen[1]!.bytes).toEqual(file);
      expect(seen[1]!.type).toBe("application/octet-stream");
      // Memory: never much more than one incoming chunk plus a delimiter at a time.
      expect(seen[1]!.largest).toBeLessThanOrEqual(size + boundary.length + 8);
    }
  });

  it("refuses a body without its boundary or with an unterminated part", async () => {
    const parts = async (text: string) => {
      for await (const part of readParts(chunked(new TextEncoder().encode(text), 5), "b")) await partText(part, 100);
    };
    await expect(parts("no boundary here")).rejects.toMatchObject({ code: "invalid_multipart" });
    await expect(parts('--b\r\ncontent-disposition: form-data; name="a"\r\n\r\nnever ends')).rejects.toMatchObject({ code: "invalid_multipart" });
    await expect(parts("--b\r\ncontent-type: text/plain\r\n\r\nx\r\n--b--")).rejects.toMatchObject({ code: "invalid_multipart" });
  });

  it("finds the boundary only in multipart/form-data", () => {
    expect(multipartBoundary('multipart/form-data; boundary="a b"')).toBe("a b");
    expect(multipartBoundary("multipart/form-data; charset=utf-8; boundary=xyz")).toBe("xyz");
    expect(multipartBoundary("multipart/mixed; boundary=xyz")).toBeUndefined();
    expect(multipartBoundary("application/json")).toBeUndefined();
  });
});

describe("file checks", () => {
  const bytes = (...values: number[]) => new Uint8Array(values);
  it("knows common types by their first bytes", () => {
    expect(sniff(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))).toBe("image/png");
    expect(sniff(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe("image/jpeg");
    expect(sniff(new TextEncoder().encode("%PDF-1.7"))).toBe("application/pdf");
    expect(sniff(bytes(0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x6d, 0x70, 0x34, 0x32))).toBe("video/mp4");
    expect(sniff(new TextEncoder().encode("hello"))).toBeUndefined();
  });
  it("a declared type with a signature must show it; text must not be a binary format", () => {
    const png = bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
    expect(contentMatches("image/png", png)).toBe(true);
    expect(contentMatches("image/jpeg", png)).toBe(false);
    expect(contentMatches("application/pdf", new TextEncoder().encode("<html>"))).toBe(false);
    expect(contentMatches("text/plain", png)).toBe(false);
    expect(contentMatches("text/plain", new TextEncoder().encode("plain words"))).toBe(true);
    expect(contentMatches("application/octet-stream", png)).toBe(true);
    expect(contentMatches("image/jpg", bytes(0xff, 0xd8, 0xff, 0xe1))).toBe(true);
  });
  it("sanitises file names", () => {
    expect(sanitizeFileName("../../etc/passwd")).toBe("passwd");
    expect(sanitizeFileName("C:\\Users\\me\\photo.jpg")).toBe("photo.jpg");
    expect(sanitizeFileName("evil\u202egpj.exe")).toBe("evilgpj.exe");
    expect(sanitizeFileName('a"b<c>.txt')).toBe("a_b_c_.txt");
    expect(sanitizeFileName(".htaccess")).toBe("htaccess");
    expect(sanitizeFileName("")).toBe("file");
    const long = sanitizeFileName("x".repeat(500) + ".pdf");
    expect(long.length).toBe(200);
    expect(long.endsWith(".pdf")).toBe(true);
  });
  it("parses single byte ranges", () => {
    expect(parseRange(null, 100)).toBeUndefined();
    expect(parseRange("bytes=0-9", 100)).toEqual({ offset: 0, length: 10 });
    expect(parseRange("bytes=90-200", 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange("bytes=-10", 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange("bytes=-1000", 100)).toEqual({ offset: 0, length: 100 });
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=5-2", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1,5-6", 100)).toBeUndefined();
    expect(parseRange("items=0-1", 100)).toBeUndefined();
  });
});
