import { describe, expect, it } from "vitest";
import { sha256Hex, sha256HexSync } from "../../src/core/crypto";

describe("sha256HexSync", () => {
  it("is sha256Hex's digest, for ASCII and non-ASCII text", async () => {
    for (const value of ["", "edgeinbox_01JABCDEFGHJKMNPQRSTVWXYZ01_abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFG", "ünïcødé 🙂"]) {
      expect(sha256HexSync(value)).toBe(await sha256Hex(value));
    }
  });
});
