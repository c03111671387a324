// Every operation in GET /openapi.json gets generated bad input (fast-check): one fault per request,
// everything else valid. Whatever the fault, the answer is a 4xx problem+json with a `code`, never a
// 5xx, and no table in D1 gains or loses a row. Faults come from the document itself (types, required
// fields, bounds, enums, formats, strict objects) plus what every route shares (encoding, content type,
// size cap, tokens, Idempotency-Key), so routes added later are fuzzed without touching this file.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/http/body";
import { api, TEST_PLATFORM_TOKEN, type ApiResponse } from "../support/api";
import { allowedTypes, exampleValue, fillPath, flattenAllOf, loadDocument, resolve, type Operation, type Schema } from "./openapi";
import { buildWorld, fixtureValue, paramsFor, rowCounts, SERVER_ISSUED, tableNames, type World } from "./world";

/**
 * Cases for the whole file, split over the operations (between MIN_RUNS and MAX_RUNS each). A case is
 * ~7 ms here (the request, then one query counting every table), so 5000 cases take ~35 s alone.
 */
const TOTAL_RUNS = 5000;
const MIN_RUNS = 100;
const MAX_RUNS = 300;
/**
 * A safety net for CI time: the operations share this budget (each gets an even share of what is left)
 * and a property that reaches its share stops early and says so in the log.
 */
const TIME_BUDGET_MS = 50_000;

const { doc, operations } = await loadDocument();
const runsPerOperation = Math.max(MIN_RUNS, Math.min(MAX_RUNS, Math.round(TOTAL_RUNS / operations.length)));

let world: World;
let tables: string[];
/** The token each operation's owner uses (the platform token for operator operations). */
const ownerToken = new Map<string, string>();

beforeAll(async () => {
  world = await buildWorld(operations, { tenants: 1 });
  tables = await tableNames();
  for (const op of operations) {
    if (op.secured) ownerToken.set(op.id, op.platformOnly ? TEST_PLATFORM_TOKEN : world.a.adminToken);
  }
}, 120_000);

// ---------------------------------------------------------------------------------------------------
// A generated request and what it must get.

type Body =
  | { kind: "none" }
  | { kind: "json"; value: unknown }
  | { kind: "text"; text: string }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "stream"; size: number };

type Case = {
  fault: string;
  pathValues?: Record<string, string>;
  query?: [string, string][];
  headers?: Record<string, string | null>;
  body?: Body;
  /** The exact status this fault must get, when the fault alone decides it. */
  status?: number;
  code?: string;
};

const encoder = new TextEncoder();

function bodyInit(body: Body): { init?: BodyInit; contentType?: string } {
  switch (body.kind) {
    case "none":
      return {};
    case "json":
      return { init: encoder.encode(JSON.stringify(body.value)), contentType: "application/json" };
    case "text":
      return { init: encoder.encode(body.text), contentType: "application/json" };
    case "bytes":
      return { init: body.bytes, contentType: "application/json" };
    case "stream": {
      const chunk = encoder.encode("x".repeat(64 * 1024));
      let left = body.size;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (left <= 0) return controller.close();
          const piece = chunk.subarray(0, Math.min(chunk.length, left));
          left -= piece.length;
          controller.enqueue(piece);
        },
      });
      return { init: stream, contentType: "application/json" };
    }
  }
}

function describeCase(op: Operation, c: Case, path: string): string {
  const body = c.body;
  const preview =
    body === undefined || body.kind === "none"
      ? ""
      : body.kind === "json"
        ? JSON.stringify(body.value).slice(0, 300)
        : body.kind === "text"
          ? body.text.slice(0, 300)
          : body.kind === "bytes"
            ? `${body.bytes.length} bytes`
            : `${body.size} streamed bytes`;
  return `${op.id}: ${c.fault}\n${op.method} ${path.slice(0, 300)} headers=${JSON.stringify(c.headers ?? {}).slice(0, 300)} body=${preview}`;
}

async function send(op: Operation, c: Case): Promise<{ res: ApiResponse; path: string }> {
  const values = { ...paramsFor(world.a.main, op), ...c.pathValues };
  const query = c.query?.length ? "?" + c.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&") : "";
  const path = fillPath(op, values) + query;
  const defaultBody: Body = op.body ? { kind: "json", value: baseBody(op) } : { kind: "none" };
  const { init, contentType } = op.method === "GET" ? {} : bodyInit(c.body ?? defaultBody);
  const headers: Record<string, string> = {};
  const token = ownerToken.get(op.id);
  if (token) headers.authorization = `Bearer ${token}`;
  if (contentType) headers["content-type"] = contentType;
  for (const [name, value] of Object.entries(c.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  return { res: await api(op.method, path, { rawBody: init, headers }), path };
}

let lastCounts: Record<string, number> | undefined;

async function check(op: Operation, c: Case) {
  const before = lastCounts ?? (await rowCounts(tables));
  const { res, path } = await send(op, c);
  const after = await rowCounts(tables);
  lastCounts = after;
  const what = `${describeCase(op, c, path)}\n→ ${res.status} ${res.headers.get("content-type")} ${res.text.slice(0, 500)}`;
  expect(res.status, what).toBeGreaterThanOrEqual(400);
  expect(res.status, what).toBeLessThan(500);
  expect(res.status, `${what}\n(rate limited: the fuzz account's limits should have been raised)`).not.toBe(429);
  expect(res.headers.get("content-type"), what).toBe("application/problem+json");
  expect(typeof res.body?.code, what).toBe("string");
  expect(res.body.status, what).toBe(res.status);
  if (c.status !== undefined) expect(res.status, what).toBe(c.status);
  if (c.code !== undefined) expect(res.body.code, what).toBe(c.code);
  expect(after, `${what}\nrow counts changed`).toEqual(before);
}

// ---------------------------------------------------------------------------------------------------
// Faults.

const baseBodies = new Map<string, unknown>();
function baseBody(op: Operation): unknown {
  if (!baseBodies.has(op.id)) baseBodies.set(op.id, op.body ? exampleValue(doc, op.body.schema) : undefined);
  return structuredClone(baseBodies.get(op.id));
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_PREFIXES = ["acc", "usr", "tok", "inb", "ct", "ci", "cnv", "msg", "evt", "whd", "att", "rule", "run"];

const unknownId = fc
  .tuple(fc.constantFrom(...ID_PREFIXES), fc.string({ unit: fc.constantFrom(...CROCKFORD), minLength: 26, maxLength: 26 }))
  .map(([prefix, tail]) => `${prefix}_${tail}`);

const weirdSegment = fc.oneof(
  fc.constantFrom("", ".", "..", "%", "%00", "null", "undefined", "0", "-1", "1e309", "' OR 1=1 --", "<script>", "\u0000", "a/b", "a?b", "a#b", " ", "\u202e", "😀"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 40 }),
  fc.integer({ min: 200, max: 20_000 }).map((n) => "x".repeat(n)),
);

/** Ids in the path: unknown, of another kind, or not ids at all. Names the integrator chooses only get schema violations. */
function pathFaults(op: Operation): fc.Arbitrary<Case> | undefined {
  const arbitraries: fc.Arbitrary<Case>[] = [];
  for (const name of op.pathParams) {
    const own = fixtureValue(world.a.main, name, op)!;
    if (SERVER_ISSUED.has(name)) {
      const prefix = own.split("_")[0];
      const otherKinds = [
        ...new Set(
          Object.keys(world.a.main)
            .map((other) => fixtureValue(world.a.main, other, op)!)
            .filter((value) => value.split("_")[0] !== prefix),
        ),
      ];
      const values = otherKinds.length ? fc.oneof(unknownId, weirdSegment, fc.constantFrom(...otherKinds)) : fc.oneof(unknownId, weirdSegment);
      arbitraries.push(values.filter((value) => value !== own).map((value) => ({ fault: `path ${name}=${JSON.stringify(value).slice(0, 80)}`, pathValues: { [name]: value } })));
    } else {
      const maxLength = pathSchema(op, name)?.maxLength;
      if (typeof maxLength === "number") {
        arbitraries.push(
          fc.integer({ min: maxLength + 1, max: maxLength + 2000 }).map((n) => ({ fault: `path ${name} of ${n} characters`, pathValues: { [name]: "s".repeat(n) } })),
        );
      }
    }
  }
  return arbitraries.length ? fc.oneof(...arbitraries) : undefined;
}

const pathSchemas = new Map<string, Schema | undefined>();
function pathSchema(op: Operation, name: string): Schema | undefined {
  const key = `${op.id} ${name}`;
  if (!pathSchemas.has(key)) {
    const param = (doc.paths[op.path]?.[op.method.toLowerCase()]?.parameters ?? []).map((p: any) => resolve(doc, p)).find((p: any) => p.in === "path" && p.name === name);
    pathSchemas.set(key, param ? resolve(doc, param.schema) : undefined);
  }
  return pathSchemas.get(key);
}

const badCursorValue = fc.oneof(
  fc.constantFrom(null, true, false, -1, -9007199254740993, 1.5, 2 ** 60, [], {}, [1], { nested: -1 }),
  fc.integer({ max: -1 }),
  fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
);
const CURSOR_KEYS = ["id", "position", "seq", "after", "created_at", "last_activity_at", "sequence"];
const base64url = (text: string) => btoa(String.fromCharCode(...encoder.encode(text))).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const badCursor = fc.oneof(
  fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 60 }),
  fc.dictionary(fc.oneof(fc.constantFrom(...CURSOR_KEYS), fc.string({ maxLength: 8 })), badCursorValue, { minKeys: 0, maxKeys: 4 }).map((value) => base64url(JSON.stringify(value))),
  fc.constantFrom("null", "1", "-1", '"x"', "[]", "[{}]", "true", "{").map(base64url),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => btoa(String.fromCharCode(...bytes))),
);

/** Query values the parameter's schema refuses: not numbers, out of range, too long, not in the enum; broken cursors. */
function queryFaults(op: Operation): fc.Arbitrary<Case> | undefined {
  const arbitraries: fc.Arbitrary<Case>[] = [];
  for (const param of op.query) {
    const schema = resolve(doc, param.schema);
    const types = allowedTypes(doc, schema);
    const values: fc.Arbitrary<string>[] = [];
    if (/cursor/i.test(param.name)) values.push(badCursor);
    if (types !== "any" && (types.has("integer") || types.has("number")) && !types.has("string")) {
      values.push(fc.constantFrom("abc", "NaN", "Infinity", "-Infinity", "1e400", "--1", "1,2", "0x", "9".repeat(400), "١٢"));
      if (!types.has("number")) values.push(fc.constantFrom("1.5", "2.000001"));
      if (typeof schema.minimum === "number") values.push(fc.integer({ min: -1e9, max: schema.minimum - 1 }).map(String));
      if (typeof schema.maximum === "number") values.push(fc.integer({ min: schema.maximum + 1, max: 1e12 }).map(String));
    }
    if (typeof schema.maxLength === "number") values.push(fc.integer({ min: schema.maxLength + 1, max: schema.maxLength + 3000 }).map((n) => "q".repeat(n)));
    if (Array.isArray(schema.enum)) values.push(fc.string({ minLength: 1, maxLength: 20 }).filter((value) => !schema.enum.includes(value)));
    if (values.length === 0) continue;
    arbitraries.push(fc.oneof(...values).map((value) => ({ fault: `query ${param.name}=${JSON.stringify(value).slice(0, 80)}`, query: [[param.name, value]] as [string, string][] })));
    if (types !== "any" && !types.has("array")) {
      arbitraries.push(fc.constant({ fault: `query ${param.name} given twice`, query: [[param.name, "1"], [param.name, "2"]] as [string, string][] }));
    }
  }
  return arbitraries.length ? fc.oneof(...arbitraries) : undefined;
}

/** A place in the request body's schema that a fault can hit. */
type Slot = { path: (string | number)[]; schema: Schema; requiredProperty: boolean };

function slots(node: Schema, path: (string | number)[] = [], requiredProperty = false, depth = 0): Slot[] {
  const schema = flattenAllOf(doc, node);
  const found: Slot[] = [{ path, schema, requiredProperty }];
  if (depth > 6 || schema.anyOf || schema.oneOf) return found;
  for (const [name, property] of Object.entries<Schema>(schema.properties ?? {})) {
    found.push(...slots(property, [...path, name], (schema.required ?? []).includes(name), depth + 1));
  }
  if (schema.items && !Array.isArray(schema.items)) found.push(...slots(schema.items, [...path, 0], false, depth + 1));
  return found;
}

/** Sets (or deletes) the value at a path, creating valid parents from the schema on the way. */
function withValue(root: Schema, base: unknown, path: (string | number)[], value: unknown, remove = false): unknown {
  if (path.length === 0) return value;
  const result = structuredClone(base);
  let node: any = result;
  let schema = flattenAllOf(doc, root);
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const childSchema = flattenAllOf(doc, typeof key === "number" ? schema.items : schema.properties?.[key]);
    if (i === path.length - 1) {
      if (remove) delete node[key];
      else node[key] = value;
      break;
    }
    if (node[key] === undefined || node[key] === null || typeof node[key] !== "object") {
      const made = exampleValue(doc, childSchema);
      const nextKey = path[i + 1];
      node[key] = typeof nextKey === "number" ? (Array.isArray(made) && made.length > 0 ? made : [exampleValue(doc, resolve(doc, childSchema).items ?? {})]) : made ?? {};
    }
    node = node[key];
    schema = childSchema;
  }
  return result;
}

const SAMPLE_OF_TYPE: Record<string, unknown> = {
  string: "fuzz",
  integer: 7,
  number: 7.25,
  boolean: false,
  object: { fuzz: 1 },
  array: ["fuzz"],
  null: null,
};

function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** One schema violation in an otherwise valid body. */
function bodyFaults(op: Operation): fc.Arbitrary<Case> | undefined {
  if (!op.body) return undefined;
  const root = op.body.schema;
  const base = baseBody(op);
  const arbitraries: fc.Arbitrary<Case>[] = [];
  const at = (slot: Slot, fault: string, value: unknown, remove = false): Case => ({
    fault: `body ${"/" + slot.path.join("/")}: ${fault}`,
    body: { kind: "json", value: withValue(root, base, slot.path, value, remove) },
  });
  for (const slot of slots(root)) {
    const { schema } = slot;
    const types = allowedTypes(doc, schema);
    if (slot.requiredProperty) arbitraries.push(fc.constant(at(slot, "missing", undefined, true)));
    if (types !== "any") {
      // allowedTypes adds integer wherever number is allowed, so a 7 is never offered for a number.
      const wrongTyped = Object.entries(SAMPLE_OF_TYPE).filter(([type]) => !types.has(type as never));
      if (wrongTyped.length) arbitraries.push(fc.constantFrom(...wrongTyped).map(([type, value]) => at(slot, `a ${type} instead of ${[...types].join("|")}`, value)));
      if (!types.has("array") && !types.has("object")) {
        arbitraries.push(fc.integer({ min: 2, max: 3000 }).map((depth) => at(slot, `arrays nested ${depth} deep`, nested(depth))));
      }
    }
    if (typeof schema.maxLength === "number") {
      arbitraries.push(fc.integer({ min: schema.maxLength + 1, max: schema.maxLength + 5000 }).map((n) => at(slot, `a string of ${n} > ${schema.maxLength}`, "x".repeat(n))));
    }
    if (typeof schema.minLength === "number" && schema.minLength > 0) arbitraries.push(fc.constant(at(slot, `a string shorter than ${schema.minLength}`, "")));
    if (typeof schema.minimum === "number") arbitraries.push(fc.integer({ min: -1e12, max: Math.ceil(schema.minimum) - 1 }).map((n) => at(slot, `${n} < minimum ${schema.minimum}`, n)));
    if (typeof schema.maximum === "number") arbitraries.push(fc.integer({ min: Math.floor(schema.maximum) + 1, max: 1e15 }).map((n) => at(slot, `${n} > maximum ${schema.maximum}`, n)));
    if (types !== "any" && types.has("integer") && !types.has("number")) arbitraries.push(fc.constant(at(slot, "a fraction for an integer", 1.5)));
    if (Array.isArray(schema.enum) && schema.enum.every((value: unknown) => typeof value === "string")) {
      arbitraries.push(fc.string({ minLength: 1, maxLength: 30 }).filter((value) => !schema.enum.includes(value)).map((value) => at(slot, `'${value}' not in enum`, value)));
    }
    if (schema.format === "email") arbitraries.push(fc.constantFrom("not-an-email", "a@", "@example.com", "a b@example.com", "a@b@c").map((value) => at(slot, "a malformed email", value)));
    if (schema.format === "uri" || schema.format === "url") arbitraries.push(fc.constantFrom("not a url", "http://", "://no-scheme", "https://exa mple.com").map((value) => at(slot, "a malformed URL", value)));
    if (schema.additionalProperties === false && (schema.type === "object" || schema.properties)) {
      arbitraries.push(
        fc.string({ minLength: 1, maxLength: 20 })
          .filter((name) => !(name in (schema.properties ?? {})) && name !== "__proto__")
          .map((name) => ({
            fault: `body ${"/" + slot.path.join("/")}: unknown field '${name}'`,
            body: { kind: "json" as const, value: withValue(root, base, slot.path, { ...(valueAt(withValue(root, base, slot.path, exampleValue(doc, schema)), slot.path) as object), [name]: "extra" }) },
          })),
      );
    }
  }
  arbitraries.push(fc.constantFrom<unknown>([], [{}], "body", 42, null, true).map((value) => ({ fault: `a JSON ${JSON.stringify(value)} for a body object`, body: { kind: "json" as const, value } })));
  arbitraries.push(fc.integer({ min: 1000, max: 150_000 }).map((depth) => ({ fault: `a body of arrays nested ${depth} deep`, body: { kind: "text" as const, text: "[".repeat(depth) + "]".repeat(depth) } })));
  return fc.oneof(...arbitraries);
}

function valueAt(value: unknown, path: (string | number)[]): unknown {
  return path.reduce<any>((node, key) => node?.[key], value);
}

const INVALID_UTF8 = [[0xff], [0xfe], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3], [0x80]];
const MALFORMED_JSON = ["{", '{"a":}', "{'a':1}", '{"a":1,}', "[1,]", "NaN", "undefined", '{"a":01}', '"\\x"', "   ", "{}}", '{"a" 1}', "\u0000", "//{}"];
const WRONG_CONTENT_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "text/json",
  "application/jsonp",
  "application/json, text/plain",
  "application/json;charset",
  "application/vnd.api.v2+json",
  "application/a+b+json",
  "json",
  "*/*",
  "",
];
const JSON_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

/** What every write shares before its schema runs: encoding, JSON syntax, content type, the 1 MiB cap. */
function encodingFaults(op: Operation): fc.Arbitrary<Case> | undefined {
  if (op.method === "GET") return undefined;
  const text = JSON.stringify(op.body ? baseBody(op) : { fuzz: true });
  const bytes = encoder.encode(text);
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constantFrom(...INVALID_UTF8), fc.nat(bytes.length)).map(([bad, at]) => ({
        fault: `invalid UTF-8 ${bad.map((b) => b.toString(16)).join(" ")} at byte ${at}`,
        body: { kind: "bytes" as const, bytes: new Uint8Array([...bytes.subarray(0, at), ...bad, ...bytes.subarray(at)]) },
        status: 400,
        code: "invalid_json",
      })),
    },
    {
      weight: 3,
      arbitrary: fc.oneof(fc.constantFrom(...MALFORMED_JSON), fc.integer({ min: 1, max: Math.max(1, text.length - 1) }).map((n) => text.slice(0, n))).map((body) => ({
        fault: `malformed JSON ${JSON.stringify(body).slice(0, 60)}`,
        body: { kind: "text" as const, text: body },
        status: 400,
        code: "invalid_json",
      })),
    },
    {
      weight: 3,
      arbitrary: fc
        .oneof(fc.constantFrom(...WRONG_CONTENT_TYPES), fc.stringMatching(/^[a-z]{1,8}\/[a-z.+-]{1,12}$/))
        .filter((type) => !JSON_TYPE.test(type))
        .map((type) =>
          // A route that takes files reads a multipart body itself: JSON sent as multipart is a malformed multipart body.
          op.multipart && /^multipart\/form-data;\s*boundary=/i.test(type)
            ? { fault: `Content-Type '${type}'`, headers: { "content-type": type }, body: { kind: "text" as const, text }, status: 400, code: "invalid_multipart" }
            : { fault: `Content-Type '${type}'`, headers: { "content-type": type }, body: { kind: "text" as const, text }, status: 415, code: "unsupported_media_type" },
        ),
    },
    {
      weight: 1,
      arbitrary: fc.constant({ fault: "a body without Content-Type", headers: { "content-type": null }, body: { kind: "bytes" as const, bytes }, status: 415, code: "unsupported_media_type" }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: MAX_BODY_BYTES + 1, max: MAX_BODY_BYTES + 64 * 1024 }), fc.boolean()).map(([size, streamed]) => ({
        fault: `a body of ${size} bytes, ${streamed ? "streamed" : "with Content-Length"}`,
        body: streamed ? { kind: "stream" as const, size } : { kind: "bytes" as const, bytes: encoder.encode(`{"fuzz":"${"x".repeat(size)}"}`) },
        status: 413,
        code: "payload_too_large",
      })),
    },
  );
}

const visibleAscii = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 80 });

/** Tokens and Idempotency-Keys that are not. */
function headerFaults(op: Operation): fc.Arbitrary<Case> | undefined {
  const arbitraries: fc.Arbitrary<Case>[] = [];
  if (op.secured) {
    arbitraries.push(
      fc
        .oneof(
          fc.constantFrom("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b", "bearer edgeinbox_", `Bearer ${TEST_PLATFORM_TOKEN}x`, `Bearer ${world.a.adminToken.slice(0, -1)}`),
          visibleAscii.map((token) => `Bearer ${token}`),
          visibleAscii.map((token) => `Bearer edgeinbox_${token}`),
        )
        .map((authorization) => ({ fault: `Authorization '${authorization.slice(0, 60)}'`, headers: { authorization }, status: 401, code: "invalid_token" })),
    );
  }
  if (op.method === "POST") {
    arbitraries.push(
      fc
        .oneof(
          fc.constantFrom("", "a b", "a\tb", "\u007f"),
          fc.integer({ min: 256, max: 4000 }).map((n) => "k".repeat(n)),
          fc.tuple(visibleAscii, visibleAscii).map(([left, right]) => `${left} ${right}`),
        )
        .map((key) => ({ fault: `Idempotency-Key ${JSON.stringify(key).slice(0, 60)}`, headers: { "idempotency-key": key }, status: 400, code: "invalid_idempotency_key" })),
    );
  }
  return arbitraries.length ? fc.oneof(...arbitraries) : undefined;
}

function faultsFor(op: Operation): fc.Arbitrary<Case> | undefined {
  const weighted = [
    { weight: 3, arbitrary: pathFaults(op) },
    { weight: 3, arbitrary: queryFaults(op) },
    { weight: 6, arbitrary: bodyFaults(op) },
    { weight: 3, arbitrary: encodingFaults(op) },
    { weight: 1, arbitrary: headerFaults(op) },
  ].filter((entry): entry is { weight: number; arbitrary: fc.Arbitrary<Case> } => entry.arbitrary !== undefined);
  return weighted.length ? fc.oneof(...weighted) : undefined;
}

// ---------------------------------------------------------------------------------------------------

describe(`fuzzing every operation of the document (${runsPerOperation} cases each)`, () => {
  let spentMs = 0;
  let operationsLeft = operations.length;
  it.each(operations.map((op) => [`${op.id}: ${op.method} ${op.path}`, op] as const))("%s", async (_, op) => {
    const started = Date.now();
    const shareMs = Math.max(1_000, (TIME_BUDGET_MS - spentMs) / operationsLeft);
    operationsLeft -= 1;
    try {
      await fuzz(op, shareMs);
    } finally {
      spentMs += Date.now() - started;
    }
  });
});

async function fuzz(op: Operation, timeLimitMs: number) {
  const faults = faultsFor(op);
  if (!faults) return; // e.g. GET /health: no parameter, body or token to get wrong.
  lastCounts = undefined;
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(faults, async (c) => {
      runs += 1;
      await check(op, c);
    }),
    { numRuns: runsPerOperation, plugins: [fc.interruptAfterTimeLimit(timeLimitMs)] },
  );
  if (runs < runsPerOperation) console.warn(`fuzz ${op.id}: stopped after ${runs} of ${runsPerOperation} cases (time budget)`);
}
