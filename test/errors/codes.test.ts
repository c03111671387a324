import { describe, expect, it } from "vitest";
import { problemCodes } from "../../src/errors/codes";
import { ApiError, problemBody } from "../../src/errors/problem";

describe("the error code table", () => {
  it.each(Object.entries(problemCodes))("%s renders as a problem with its own status and title", (code, entry) => {
    const body = problemBody(new ApiError(code as keyof typeof problemCodes, "Something specific to fix."));
    expect(body).toMatchObject({ type: `/problems/${code}`, title: entry.title, status: entry.status, code });
    expect(entry.status).toBeGreaterThanOrEqual(400);
    expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });

  it("uses each title once, so a title identifies its code", () => {
    const titles = Object.values(problemCodes).map((entry) => entry.title);
    expect(new Set(titles).size).toBe(titles.length);
  });
});
