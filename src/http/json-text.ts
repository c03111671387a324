import type { Context, TypedResponse } from "hono";
import type { JSONParsed } from "hono/utils/types";

/**
 * A 200 JSON answer the domain serialised itself (a history page, src/domain/messages.ts; as text or its
 * UTF-8 bytes), typed as what
 * `c.json(value: T, 200)` would be for its OpenAPI route; the same Content-Type `c.json` sends.
 */
export function jsonText<T>(c: Context, text: string | Uint8Array<ArrayBuffer>): TypedResponse<JSONParsed<T>, 200, "json"> {
  return c.body(text, 200, { "content-type": "application/json" }) as unknown as TypedResponse<JSONParsed<T>, 200, "json">;
}
