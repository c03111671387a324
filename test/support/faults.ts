// Fault injection for tests: the app called with bindings that fail the way Cloudflare's do.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { buildApp } from "../../src/app";
import type { ApiResponse } from "./api";

/** A D1 binding whose statements fail the way D1 does when the database is unreachable. */
export function failingD1(failWhen: (sql: string) => boolean = () => true): D1Database {
  const fail = async () => {
    throw new Error("D1_ERROR: Network connection lost.");
  };
  return {
    prepare(sql: string) {
      const real = env.DB.prepare(sql);
      if (!failWhen(sql)) return real;
      const failing = { bind: () => failing, run: fail, all: fail, raw: fail, first: fail };
      return failing as unknown as D1PreparedStatement;
    },
    batch: fail,
    exec: fail,
    dump: fail,
    withSession: () => {
      throw new Error("not used");
    },
  } as unknown as D1Database;
}

/** Calls the app with some bindings replaced (the Worker's own fetch always uses the real ones). */
export async function callWithEnv(
  replaced: Partial<Env>,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const ctx = createExecutionContext();
  const response = await buildApp().fetch(
    new Request(`http://edge-inbox.test${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    }),
    { ...env, ...replaced },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
}
