// Reads the API's own OpenAPI document: the operations the hardening suites walk, and what their
// schemas allow. Nothing here knows a particular route.
import { expect } from "vitest";
import { api } from "../support/api";

export type Schema = { [keyword: string]: any };
export type Doc = { paths: Record<string, Record<string, any>>; components?: { schemas?: Record<string, Schema> } };

export type Parameter = { name: string; in: "path" | "query" | "header"; required: boolean; schema: Schema };

export type Operation = {
  id: string;
  method: string;
  /** The OpenAPI path, e.g. /v1/accounts/{account_id}/users. */
  path: string;
  pathParams: string[];
  query: Parameter[];
  headers: Parameter[];
  body?: { required: boolean; schema: Schema };
  /** The body may also be multipart/form-data (files), read by the route as a stream. */
  multipart: boolean;
  /** Needs a token (the document lists a security requirement). */
  secured: boolean;
  /** Only the operator's platform token may call it (its only security scheme is platformToken). */
  platformOnly: boolean;
};

const METHODS = ["get", "post", "put", "patch", "delete"];

export async function loadDocument(): Promise<{ doc: Doc; operations: Operation[] }> {
  const res = await api<Doc>("GET", "/openapi.json");
  expect(res.status, res.text).toBe(200);
  const doc = res.body;
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const parameters: Parameter[] = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: any) => resolve(doc, p));
      const json = op.requestBody?.content?.["application/json"];
      operations.push({
        id: op.operationId ?? `${method} ${path}`,
        method: method.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]!),
        query: parameters.filter((p) => p.in === "query"),
        headers: parameters.filter((p) => p.in === "header"),
        body: json ? { required: op.requestBody.required === true, schema: resolve(doc, json.schema ?? {}) } : undefined,
        multipart: op.requestBody?.content?.["multipart/form-data"] !== undefined,
        secured: Array.isArray(op.security) && op.security.length > 0,
        platformOnly:
          Array.isArray(op.security) &&
          op.security.length > 0 &&
          op.security.every((requirement: object) => Object.keys(requirement).every((scheme) => scheme === "platformToken")),
      });
    }
  }
  return { doc, operations };
}

export function hasOperation(operations: Operation[], method: string, path: string): boolean {
  return operations.some((op) => op.method === method && op.path === path);
}

/** Follows a local $ref (#/components/…) until a schema or parameter object is reached. */
export function resolve<T = Schema>(doc: Doc, node: any): T {
  let current = node;
  for (let hops = 0; current && typeof current.$ref === "string" && hops < 20; hops++) {
    const parts = current.$ref.replace(/^#\//, "").split("/");
    current = parts.reduce((value: any, part: string) => value?.[part.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
  }
  return current as T;
}

/** Puts the values into the path, percent-encoded. */
export function fillPath(op: Operation, values: Record<string, string>): string {
  return op.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? ""));
}

export type JsonType = "string" | "number" | "integer" | "boolean" | "object" | "array" | "null";

/** The JSON types a schema accepts, or "any" when it says nothing about types. */
export function allowedTypes(doc: Doc, node: Schema): Set<JsonType> | "any" {
  const schema = resolve(doc, node);
  if (!schema || typeof schema !== "object") return "any";
  if ("const" in schema) return new Set([jsonTypeOf(schema.const)]);
  if (Array.isArray(schema.enum)) return new Set(schema.enum.map(jsonTypeOf));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives)) {
    const union = new Set<JsonType>();
    for (const alternative of alternatives) {
      const types = allowedTypes(doc, alternative);
      if (types === "any") return "any";
      types.forEach((type) => union.add(type));
    }
    if (schema.nullable === true) union.add("null");
    return union;
  }
  if (Array.isArray(schema.allOf) && schema.type === undefined) {
    const first = schema.allOf.find((part: Schema) => allowedTypes(doc, part) !== "any");
    return first ? allowedTypes(doc, first) : "any";
  }
  if (schema.type === undefined) return "any";
  const types = new Set<JsonType>(Array.isArray(schema.type) ? schema.type : [schema.type]);
  if (schema.nullable === true) types.add("null");
  if (types.has("number")) types.add("integer");
  return types;
}

export function jsonTypeOf(value: unknown): JsonType {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value as JsonType;
}

/** An allOf of object schemas as one object schema (zod-openapi writes `.extend()` this way). */
export function flattenAllOf(doc: Doc, node: Schema): Schema {
  const schema = resolve(doc, node);
  if (!schema || !Array.isArray(schema.allOf)) return schema;
  const parts = schema.allOf.map((part: Schema) => flattenAllOf(doc, part));
  if (parts.length === 1 && Object.keys(schema).length === 1) return parts[0]!;
  const merged: Schema = { ...schema, type: "object", properties: {}, required: [] };
  delete merged.allOf;
  for (const part of parts) {
    Object.assign(merged.properties, part.properties ?? {});
    merged.required.push(...(part.required ?? []));
    if (part.additionalProperties === false) merged.additionalProperties = false;
  }
  return merged;
}

/** The first non-null alternative of a schema, for building a value. */
function mainAlternative(doc: Doc, node: Schema): Schema {
  const schema = flattenAllOf(doc, node);
  const alternatives = schema?.anyOf ?? schema?.oneOf;
  if (Array.isArray(alternatives)) {
    const chosen = alternatives.find((alt: Schema) => resolve(doc, alt)?.type !== "null") ?? alternatives[0];
    return mainAlternative(doc, chosen);
  }
  return schema ?? {};
}

/**
 * A value the schema most likely accepts: its example, else the simplest value of its type meeting
 * its bounds. Objects get their required properties, and the optional ones the schema gives an example
 * for (rules across fields, like "content or attachments", are not in the document; examples are).
 * Used as the valid background for one fault, and as the body of the isolation calls.
 */
export function exampleValue(doc: Doc, node: Schema, depth = 0): unknown {
  const schema = mainAlternative(doc, node);
  if (schema.example !== undefined) return structuredClone(schema.example);
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return structuredClone(schema.examples[0]);
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.default !== undefined) return structuredClone(schema.default);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : (schema.type ?? (schema.properties ? "object" : undefined));
  switch (type) {
    case "object": {
      const result: Record<string, unknown> = {};
      const required: string[] = schema.required ?? [];
      for (const [name, property] of Object.entries<Schema>(schema.properties ?? {})) {
        const exemplified = mainAlternative(doc, property).example !== undefined;
        if (!required.includes(name) && !exemplified) continue;
        result[name] = depth > 8 ? null : exampleValue(doc, property, depth + 1);
      }
      return result;
    }
    case "array":
      return Array.from({ length: schema.minItems ?? 0 }, () => exampleValue(doc, schema.items ?? {}, depth + 1));
    case "integer":
    case "number":
      return schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : Math.min(1, schema.maximum ?? 1));
    case "boolean":
      return true;
    case "null":
      return null;
    case "string": {
      if (schema.format === "email") return "fuzz@example.com";
      if (schema.format === "uri" || schema.format === "url") return "https://example.com/fuzz";
      if (schema.format === "date-time") return "2026-01-01T00:00:00.000Z";
      return "x".repeat(Math.max(1, schema.minLength ?? 1));
    }
    default:
      return "x";
  }
}
