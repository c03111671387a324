import { describe, expect, it } from "vitest";
import { iso } from "../../src/core/time";

describe("iso", () => {
  it("is Date#toISOString for every millisecond it may meet, across days, years and Date's range", () => {
    const edges = [0, -0, 1, -1, 999, 1000, 59_999, 3_599_999, 86_399_999, 86_400_000, -86_400_000, -86_400_001, 1_764_460_000_000,
      951_782_400_000 /* 2000-02-29 */, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */, 253_402_300_800_000 /* +010000 */,
      -62_167_219_200_000 /* 0000-01-01 */, -62_167_219_200_001 /* -000001 */, 8.64e15, -8.64e15, 1.5, -1.5, 1e15 + 0.25];
    // Random times, in order and not (the date part is kept from one call to the next), and runs inside one day.
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    const times = [...edges];
    for (let i = 0; i < 20_000; i++) times.push(Math.floor((random() * 2 - 1) * 8.64e15), Math.floor(random() * 4e12), 1_764_460_000_000 + i * 1237);
    for (const ms of times) expect(iso(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it("throws outside Date's range as Date does, and keeps null", () => {
    for (const ms of [8.64e15 + 1, -8.64e15 - 5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => iso(ms)).toThrow(RangeError);
    expect(iso(null)).toBeNull();
    expect(iso(undefined)).toBeNull();
  });
});
