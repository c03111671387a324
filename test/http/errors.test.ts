import { describe, expect, it } from "vitest";
import { api, createTestAccount, expectProblem, TEST_PLATFORM_TOKEN } from "../support/api";

describe("one error model over HTTP", () => {
  it("answers malformed JSON with 400 invalid_json", async () => {
    const res = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      rawBody: '{"name": "x",',
      headers: { "content-type": "application/json" },
    });
    expectProblem(res, 400, "invalid_json");
  });

  it("answers invalid UTF-8 with 400 invalid_json", async () => {
    const res = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      rawBody: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      headers: { "content-type": "application/json" },
    });
    expectProblem(res, 400, "invalid_json");
  });

  it("answers a non-JSON content type with 415", async () => {
    const res = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      rawBody: "name=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expectProblem(res, 415, "unsupported_media_type");
  });

  it("answers a body over 1 MiB with 413, declared or streamed", async () => {
    const big = JSON.stringify({ name: "x".repeat(1024 * 1024 + 10) });
    const declared = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      rawBody: big,
      headers: { "content-type": "application/json" },
    });
    expectProblem(declared, 413, "payload_too_large");
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 65536) controller.enqueue(bytes.slice(i, i + 65536));
        controller.close();
      },
    });
    const streamed = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      rawBody: stream,
      headers: { "content-type": "application/json" },
    });
    expectProblem(streamed, 413, "payload_too_large");
  });

  it("answers schema violations with 422 naming each field", async () => {
    const res = await api("POST", "/v1/accounts", {
      token: TEST_PLATFORM_TOKEN,
      body: { name: "", administrator: { name: "A", email: "not-an-email" }, extra: true },
    });
    expectProblem(res, 422, "validation_failed");
    const pointers = res.body.errors.map((error: { pointer: string }) => error.pointer);
    expect(pointers).toEqual(expect.arrayContaining(["/name", "/administrator/email"]));
    expect(res.body.errors.every((error: { location: string }) => error.location === "body")).toBe(true);
  });

  it("answers a missing body on a route that needs one with 422", async () => {
    const res = await api("POST", "/v1/accounts", { token: TEST_PLATFORM_TOKEN });
    expectProblem(res, 422, "validation_failed");
  });

  it("answers a missing token with 401 unauthorized and a wrong one with 401 invalid_token", async () => {
    expectProblem(await api("POST", "/v1/accounts", { body: {} }), 401, "unauthorized");
    expectProblem(await api("GET", "/v1/accounts/acc_x/users", { token: "edgeinbox_nope" }), 401, "invalid_token");
    expectProblem(
      await api("GET", "/v1/accounts/acc_x/users", { headers: { authorization: "Basic abc" } }),
      401,
      "invalid_token",
    );
  });

  it("answers a wrong role with 403", async () => {
    const account = await createTestAccount();
    const res = await api("POST", "/v1/accounts", {
      token: account.adminToken,
      body: { name: "x", administrator: { name: "a", email: "a@example.com" } },
    });
    expectProblem(res, 403, "forbidden");
  });

  it("answers an unknown route with 404 and a wrong method with 405 and Allow", async () => {
    expectProblem(await api("GET", "/v1/nothing-here"), 404, "route_not_found");
    const res = await api("PUT", "/v1/accounts");
    expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("POST");
  });

  it("answers an unknown id with 404 naming it", async () => {
    const account = await createTestAccount();
    const res = await api("GET", `/v1/accounts/${account.accountId}/users/usr_DOESNOTEXIST`, { token: account.adminToken });
    expectProblem(res, 404, "user_not_found");
    expect(res.body.detail).toContain("usr_DOESNOTEXIST");
  });

  it("adds security headers and a request id to every response", async () => {
    const res = await api("GET", "/health");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});

describe("health and the API description", () => {
  it("GET /health checks the database", async () => {
    const res = await api("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("GET /openapi.json is OpenAPI 3.1 with every route and the problem schema", async () => {
    const res = await api("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(["/v1/accounts", "/v1/accounts/{account_id}/users", "/health"]),
    );
    expect(res.body.components.schemas.Problem).toBeDefined();
    expect(res.body.paths["/v1/accounts"].post.responses["422"].content["application/problem+json"]).toBeDefined();
  });
});
