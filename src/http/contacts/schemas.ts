import { z } from "@hono/zod-openapi";
import { ContactAttributesSchema, ContactSchema } from "../integrator/schemas";
import { PaginationQuery, pathParam } from "../openapi";
import { AccountParams } from "../users/schemas";

export const AccountContactParams = AccountParams.extend({ contact_id: pathParam("contact_id") });

export const ContactErasureSchema = z
  .object({
    id: z.string().openapi({ example: "era_01JD3Q4X5Y6Z7A8B9C0D1E2F3G" }),
    contact_id: z.string(),
    scope: z.enum(["account", "inbox"]).openapi({ description: "account: the whole contact; inbox: what one inbox reached of it" }),
    inbox_id: z.string().nullable(),
    status: z.enum(["in_progress", "completed"]),
    requested_by: z.object({ type: z.string(), id: z.string().nullable() }).passthrough(),
    deleted: z.record(z.string(), z.number().int()).openapi({ description: "Rows deleted so far, per table", example: { messages: 42 } }),
    steps: z.number().int().openapi({ description: "Bounded steps run so far" }),
    requested_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("ContactErasure", { description: "An erasure and its progress: ids and counts only, never personal data (the audit line)" });

export const AccountContactSchema = ContactSchema.extend({
  inboxes: z
    .array(z.object({ inbox_id: z.string(), source_id: z.string() }))
    .openapi({ description: "The inboxes (that you work) reaching this contact, with the integrator's source id in each" }),
}).openapi("AccountContact");

export const ContactPatchSchema = ContactAttributesSchema.omit({ identifier_hash: true }).openapi("ContactPatch", {
  description: "From a user token an identifier is verified: it links the person across inboxes.",
});

export const ContactListQuery = PaginationQuery.extend({
  q: z.string().trim().min(1).max(200).optional().openapi({ description: "Case-insensitive substring of the name, email, phone or a source id", example: "maria" }),
});
