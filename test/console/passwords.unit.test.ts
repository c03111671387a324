// The console's password hashing and sign-in limits: pure, in plain Node (WebCrypto is global there too).
import { describe, expect, it } from "vitest";
import { constantTimeEqual, hashPassword, PBKDF2_ITERATIONS, verifyPassword } from "../../src/domain/passwords";
import { MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_EMAIL, signInAllowed } from "../../src/domain/sign-in-limits";

describe("passwords", () => {
  it("are PBKDF2-SHA256 at 100,000 iterations with a per-password salt, and verify", async () => {
    const first = await hashPassword("correct horse battery");
    const second = await hashPassword("correct horse battery");
    expect(first).toMatch(new RegExp(`^pbkdf2-sha256\\$${PBKDF2_ITERATIONS}\\$`));
    expect(first).not.toBe(second);
    expect(await verifyPassword("correct horse battery", first)).toBe(true);
    expect(await verifyPassword("correct horse batterz", first)).toBe(false);
    expect(await verifyPassword("anything", null)).toBe(false);
    expect(await verifyPassword("anything", "md5$1$x$y")).toBe(false);
  });

  it("compares without depending on where bytes differ", () => {
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
  });
});

describe("sign-in limits", () => {
  it("refuse past the per-email or per-account failures", () => {
    expect(signInAllowed({ failuresForEmail: MAX_FAILURES_PER_EMAIL - 1, failuresForAccount: 0 })).toEqual({ allowed: true });
    expect(signInAllowed({ failuresForEmail: MAX_FAILURES_PER_EMAIL, failuresForAccount: 0 })).toEqual({ allowed: false, scope: "email" });
    expect(signInAllowed({ failuresForEmail: 0, failuresForAccount: MAX_FAILURES_PER_ACCOUNT })).toEqual({ allowed: false, scope: "account" });
  });
});
