import { z } from "@hono/zod-openapi";
import { fieldErrors } from "../../errors/handler";
import { ApiError } from "../../errors/problem";

/** Parses a body or query with a zod schema; a failure is a 422 naming the fields (rendered Chatwoot's way). */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, location: "body" | "query" = "body"): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = fieldErrors(result.error, location);
  const first = errors[0];
  throw new ApiError("validation_failed", first ? `${first.pointer.slice(1) || "body"} ${first.detail}` : "The request is invalid.", { errors });
}

/** Form fields arrive as strings: "true"/"false" and "1"/"0" are booleans there. */
export const FormBoolean = z.preprocess((value) => (value === "true" || value === "1" ? true : value === "false" || value === "0" ? false : value), z.boolean());

/** Chatwoot's numeric ids arrive as numbers (JSON) or strings (forms, paths). */
export const NumericId = z.union([z.number().int().positive(), z.string().regex(/^[1-9][0-9]{0,15}$/)]).transform((value) => String(value));
