// Contract checks: our answers on the Chatwoot surface against Chatwoot's own published schemas
// (test/chatwoot/swagger, vendored unchanged). Validated with @cfworker/json-schema (workerd has no eval, so
// no Ajv). Two things are adapted, both in one visible place:
// - Chatwoot's swagger marks no field nullable while its views render nil for absent values (a contact
//   without email…), so null is accepted wherever a type is named; a `type` that is no JSON-schema type
//   (conversation.yml has `type: agent_last_seen_at`) checks nothing; user.yml names display_name twice (kept).
// - ERRATA: fields where the swagger contradicts what Chatwoot answers (its jbuilder views and models);
//   we answer what Chatwoot answers.
import { Validator, type Schema } from "@cfworker/json-schema";
import { parse } from "yaml";
import { expect } from "vitest";
import contactYml from "./swagger/contact.yml?raw";
import contactInboxesYml from "./swagger/contact_inboxes.yml?raw";
import conversationYml from "./swagger/conversation.yml?raw";
import contactConversationYml from "./swagger/extension/contact/conversation.yml?raw";
import conversationListYml from "./swagger/extension/conversation/list.yml?raw";
import genericYml from "./swagger/extension/generic.yml?raw";
import inboxContactYml from "./swagger/inbox_contact.yml?raw";
import inboxYml from "./swagger/inbox.yml?raw";
import messageYml from "./swagger/message.yml?raw";
import publicContactYml from "./swagger/public/contact.yml?raw";
import publicConversationYml from "./swagger/public/conversation.yml?raw";
import publicInboxYml from "./swagger/public/inbox.yml?raw";
import publicMessageYml from "./swagger/public/message.yml?raw";
import userYml from "./swagger/user.yml?raw";

type Node = { [key: string]: unknown };

const SOURCES: Record<string, string> = {
  public_contact: publicContactYml,
  public_conversation: publicConversationYml,
  public_message: publicMessageYml,
  public_inbox: publicInboxYml,
  message: messageYml,
  conversation: conversationYml,
  contact: contactYml,
  contact_inboxes: contactInboxesYml,
  inbox_contact: inboxContactYml,
  inbox: inboxYml,
  user: userYml,
  generic_id: genericYml,
  contact_conversation: contactConversationYml,
  conversation_list: conversationListYml,
};

/** Where Chatwoot's swagger and Chatwoot's answers disagree: the answer wins (docs/chatwoot.md lists these too). */
export const ERRATA: { definition: string; property: string; schema: Node; because: string }[] = [
  { definition: "public_message", property: "id", schema: { type: "integer" }, because: "public/api/v1/models/_message.json.jbuilder: json.id resource.id" },
  { definition: "public_message", property: "message_type", schema: { type: "integer" }, because: "_message.json.jbuilder: message_type_before_type_cast" },
  { definition: "public_message", property: "content_attributes", schema: { type: "object" }, because: "_message.json.jbuilder: decorated_content_attributes (a hash)" },
  { definition: "public_message", property: "created_at", schema: { type: "integer" }, because: "_message.json.jbuilder: created_at.to_i" },
  { definition: "public_message", property: "conversation_id", schema: { type: "integer" }, because: "_message.json.jbuilder: conversation.display_id" },
  { definition: "public_conversation", property: "inbox_id", schema: { type: "integer" }, because: "public/api/v1/models/_conversation.json.jbuilder: json.inbox_id resource.inbox_id" },
  { definition: "message", property: "message_type", schema: { type: "integer", enum: [0, 1, 2, 3] }, because: "Message#push_event_data: message_type_before_type_cast" },
  { definition: "conversation", property: "timestamp", schema: { type: "integer" }, because: "Conversation#push_event_data: last_activity_at.to_i" },
  { definition: "conversation", property: "contact_last_seen_at", schema: { type: "integer" }, because: "Conversation#push_event_data: contact_last_seen_at.to_i" },
  { definition: "conversation", property: "status", schema: { type: "string", enum: ["open", "resolved", "pending", "snoozed"] }, because: "Conversation.statuses includes snoozed" },
];

/** Properties our answers must carry in every case (the swagger requires none). */
const REQUIRED: Record<string, string[]> = {
  public_contact: ["id", "source_id", "name", "email", "pubsub_token"],
  public_conversation: ["id", "inbox_id", "messages", "contact"],
  public_message: ["id", "content", "message_type", "content_type", "content_attributes", "created_at", "conversation_id"],
  public_inbox: ["identifier", "name", "timezone", "working_hours", "working_hours_enabled", "csat_survey_enabled", "greeting_enabled", "identity_validation_enabled"],
  message: ["id", "content", "content_type", "content_attributes", "message_type", "created_at", "private", "conversation_id"],
  conversation: ["id", "messages", "account_id", "inbox_id", "status", "timestamp", "unread_count", "additional_attributes"],
  inbox_contact: ["id", "channel_id", "name", "channel_type"],
  inbox: ["id", "name", "channel_type", "channel_id", "working_hours", "timezone", "lock_to_single_conversation"],
  user: ["id", "name", "email", "role"],
};

const JSON_TYPES = new Set(["string", "number", "integer", "boolean", "object", "array", "null"]);

function definitions(): Record<string, Node> {
  const raw = Object.fromEntries(Object.entries(SOURCES).map(([name, text]) => [name, parse(text, { uniqueKeys: false }) as Node]));
  for (const erratum of ERRATA) ((raw[erratum.definition]!.properties as Node)[erratum.property] = erratum.schema);
  return raw;
}

function refName(ref: string): string {
  if (ref === "../contact/conversation.yml") return "contact_conversation";
  return ref.replace(/^#\/(definitions|components\/schemas)\//, "");
}

/** Inlines $refs (unknown ones check nothing) and lets null stand for any typed value. */
function prepare(node: unknown, all: Record<string, Node>, depth = 0): unknown {
  if (Array.isArray(node)) return node.map((item) => prepare(item, all, depth));
  if (typeof node !== "object" || node === null) return node;
  const source = node as Node;
  if (typeof source.$ref === "string") {
    const target = all[refName(source.$ref)];
    return target && depth < 8 ? prepare(target, all, depth + 1) : {};
  }
  const out: Node = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === "example" || key === "description") continue;
    out[key] = key === "properties" ? Object.fromEntries(Object.entries(value as Node).map(([k, v]) => [k, prepare(v, all, depth)])) : prepare(value, all, depth);
  }
  if (typeof out.type === "string") {
    if (!JSON_TYPES.has(out.type)) delete out.type;
    else out.type = [out.type, "null"];
  }
  if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  return out;
}

const validators = new Map<string, Validator>();

export function chatwootValidator(name: string): Validator {
  let validator = validators.get(name);
  if (!validator) {
    const all = definitions();
    if (!all[name]) throw new Error(`no vendored Chatwoot schema '${name}'`);
    // Required only at the top: where another definition refers to this one, the swagger's looser form applies.
    const schema = { ...(prepare(all[name], all) as Node), ...(REQUIRED[name] ? { required: REQUIRED[name] } : {}) };
    validator = new Validator(schema as Schema, "2020-12", false);
    validators.set(name, validator);
  }
  return validator;
}

/** Asserts that a value is valid under one of Chatwoot's definitions, naming every violation. */
export function expectChatwootShape(name: string, value: unknown) {
  const result = chatwootValidator(name).validate(value);
  expect(result.errors.map((error) => `${error.instanceLocation}: ${error.error}`), `${name}: ${JSON.stringify(value)}`).toEqual([]);
  expect(result.valid).toBe(true);
}
