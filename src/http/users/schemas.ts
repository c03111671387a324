import { z } from "@hono/zod-openapi";
import { pathParam } from "../openapi";

export const UserSchema = z
  .object({
    id: z.string().openapi({ example: "usr_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
    name: z.string(),
    email: z.string(),
    role: z.enum(["administrator", "agent"]),
    available: z.boolean().openapi({ description: "Auto-assignment skips unavailable agents." }),
    created_at: z.string(),
  })
  .openapi("User");

export const NewUserSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(255).openapi({ example: "Ana Souza" }),
    email: z.email().max(320).openapi({ example: "ana@example.com" }),
    role: z.enum(["administrator", "agent"]).default("agent"),
    available: z.boolean().optional(),
  })
  .openapi("NewUser");

export const UserPatchSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(255).optional(),
    role: z.enum(["administrator", "agent"]).optional(),
    available: z.boolean().optional(),
  })
  .openapi("UserPatch");

export const IssuedTokenSchema = z
  .object({
    id: z.string().openapi({ example: "tok_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
    token: z.string().openapi({ description: "Shown only in this response; store it now.", example: "edgeinbox_3q2…" }),
  })
  .openapi("IssuedToken");

export const AccountUserParams = z.object({
  account_id: pathParam("account_id"),
  user_id: pathParam("user_id"),
});
export const AccountParams = z.object({
  account_id: pathParam("account_id"),
});
