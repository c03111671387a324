// The product exactly as src/index.ts exports it, with its bindings counted: every D1 round trip (by SQL
// text), queue send and Durable Object call, and the time spent waiting for D1. `node bench/profile.mjs`
// runs it under wrangler dev, drives requests one at a time and reads the totals from /__profile.
// Durable Objects of a Worker share its isolate under wrangler dev, so one module-level tally sees both.
import worker, {
  AssignmentObject as Assignment,
  ConversationObject as Conversation,
  ErasureObject as Erasure,
  IdempotencyObject as Idempotency,
  RateLimitObject as RateLimit,
  RealtimeObject as Realtime,
  MoveObject as Move,
  RecoveryObject as Recovery,
} from "../../src/index";
import type { Bindings } from "../../src/env";
import { setPhaseRecorder, type PhaseFrame } from "../../src/core/phases";
import { validated } from "../../src/http/phases";
import { HonoRequest } from "hono/request";

type Tally = { count: number; ms: number };
const d1 = new Map<string, Tally>();
const calls = new Map<string, number>();

// Phases: wall time between marks goes to the innermost phase in flight (the Worker, its Durable Objects
// and D1's calls all run on one thread under wrangler dev, and the profile sends one request at a time, so
// wall time here is server time). Time with nothing in flight is not counted.
const phaseMs = new Map<string, number>();
const inFlight: { phase: string }[] = [];
let markedAt = performance.now();
function account() {
  const now = performance.now();
  const top = inFlight.at(-1);
  if (top) phaseMs.set(top.phase, (phaseMs.get(top.phase) ?? 0) + (now - markedAt));
  markedAt = now;
}
function enter(phase: string): PhaseFrame {
  account();
  const frame = { phase };
  inFlight.push(frame);
  return frame;
}
function leave(frame: PhaseFrame) {
  account();
  const index = inFlight.lastIndexOf(frame as { phase: string });
  if (index >= 0) inFlight.splice(index, 1);
}
async function inPhase<T>(phase: string, work: () => Promise<T>): Promise<T> {
  const frame = enter(phase);
  try {
    return await work();
  } finally {
    leave(frame);
  }
}
setPhaseRecorder({ enter, leave });

// Serialising (answers, event and webhook bodies, JSON columns) is JSON.stringify wherever it happens —
// except inside a D1 call, where it is the binding's own wire format.
const stringify = JSON.stringify;
JSON.stringify = function (this: unknown, ...args: Parameters<typeof JSON.stringify>) {
  if (inFlight.length === 0 || inFlight.at(-1)!.phase === D1_PHASE) return stringify.apply(JSON, args);
  const frame = enter("serialise");
  try {
    return stringify.apply(JSON, args);
  } finally {
    leave(frame);
  }
} as typeof JSON.stringify;

// A route handler reading its validated input ends parse/validate (src/http/phases.ts).
const valid = HonoRequest.prototype.valid;
HonoRequest.prototype.valid = function (this: HonoRequest, ...args: Parameters<typeof valid>) {
  validated(this.raw);
  return valid.apply(this, args);
} as typeof valid;

const D1_PHASE = "D1 round trips";
/** Outbox bookkeeping after a commit (handing events and deliveries to the queue) is the outbox's, not a D1 round trip of the change. */
const phaseOfSql = (sql: string) => (/\b(enqueued_at|queued_at)\b/i.test(sql) && /^\s*update/i.test(sql) ? "events/outbox" : D1_PHASE);
/** Durable Object calls, by binding: the hop (RPC in and out) counts as the binding's phase. */
const PHASE_OF_NAMESPACE: Record<string, string> = {
  RATE_LIMITER: "rate limit",
  IDEMPOTENCY: "idempotency",
  CONVERSATIONS: "Durable Object hop (conversation)",
  ASSIGNMENTS: "Durable Object hop (assignment)",
};

function add(key: string, ms: number) {
  const tally = d1.get(key) ?? { count: 0, ms: 0 };
  tally.count += 1;
  tally.ms += ms;
  d1.set(key, tally);
}
function bump(key: string, by = 1) {
  calls.set(key, (calls.get(key) ?? 0) + by);
}

/** One line per query shape: literals and long IN lists collapsed. */
function shape(sql: string) {
  return sql.replace(/\s+/g, " ").replace(/\(\?(, \?)+\)/g, "(?…)").trim().slice(0, 220);
}

const REAL = Symbol("real statement");
type Counted = D1PreparedStatement & { [REAL]: D1PreparedStatement; sql: string };

function countStatement(statement: D1PreparedStatement, sql: string): Counted {
  const timed =
    (method: "first" | "all" | "run" | "raw") =>
    async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await inPhase(phaseOfSql(sql), () => (statement[method] as (...a: unknown[]) => Promise<unknown>)(...args));
      } finally {
        add(shape(sql), performance.now() - started);
      }
    };
  return {
    [REAL]: statement,
    sql,
    bind: (...values: unknown[]) => countStatement(statement.bind(...values), sql),
    first: timed("first"),
    all: timed("all"),
    run: timed("run"),
    raw: timed("raw"),
  } as unknown as Counted;
}

const countedDbs = new WeakMap<D1Database, D1Database>();
function countDb(db: D1Database): D1Database {
  let counted = countedDbs.get(db);
  if (!counted) {
    counted = {
      prepare: (sql: string) => countStatement(db.prepare(sql), sql),
      batch: async (statements: Counted[]) => {
        const started = performance.now();
        try {
          const phase = statements.every((statement) => phaseOfSql(statement.sql) !== D1_PHASE) ? "events/outbox" : D1_PHASE;
          return await inPhase(phase, () => db.batch(statements.map((statement) => statement[REAL])));
        } finally {
          add(`BATCH of ${statements.length}: ${statements.map((statement) => shape(statement.sql).split(" ").slice(0, 3).join(" ")).join(" | ")}`, performance.now() - started);
        }
      },
      exec: async (sql: string) => {
        const started = performance.now();
        try {
          return await inPhase(D1_PHASE, () => db.exec(sql));
        } finally {
          add(shape(sql), performance.now() - started);
        }
      },
      dump: () => db.dump(),
      withSession: (...args: Parameters<D1Database["withSession"]>) => db.withSession(...args),
    } as unknown as D1Database;
    countedDbs.set(db, counted);
  }
  return counted;
}

function countNamespace(name: string, namespace: DurableObjectNamespace) {
  return new Proxy(namespace, {
    get(target, key) {
      if (key !== "get") return Reflect.get(target, key, target).bind?.(target) ?? Reflect.get(target, key, target);
      return (id: DurableObjectId) => {
        const stub = target.get(id);
        return new Proxy(stub, {
          get(stubTarget, method) {
            // RPC stubs answer any property with a callable; only count calls to our methods.
            if (typeof method !== "string" || method === "then" || method === "id" || method === "name") return Reflect.get(stubTarget, method);
            return (...args: unknown[]) => {
              bump(`${name}.${method}`);
              return inPhase(PHASE_OF_NAMESPACE[name] ?? `Durable Object hop (${name})`, async () =>
                (stubTarget as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!(...args),
              );
            };
          },
        });
      };
    },
  });
}

function countQueue(name: string, queue: Queue) {
  return {
    send: (...args: Parameters<Queue["send"]>) => (bump(`${name}.send`), inPhase("events/outbox", () => queue.send(...args))),
    sendBatch: (messages: Parameters<Queue["sendBatch"]>[0], options?: Parameters<Queue["sendBatch"]>[1]) => {
      bump(`${name}.sendBatch`);
      bump(`${name} messages`, [...messages].length);
      return inPhase("events/outbox", () => queue.sendBatch(messages, options));
    },
  } as unknown as Queue;
}

const countedEnvs = new WeakMap<object, Bindings>();
/** The env with every D1 database, Durable Object namespace and queue binding replaced by a counting one. */
function countEnv(env: Bindings): Bindings {
  let counted = countedEnvs.get(env);
  if (!counted) {
    const bindings: Record<string, unknown> = { ...env };
    for (const [name, value] of Object.entries(env as unknown as Record<string, unknown>)) {
      const binding = value as Record<string, unknown>;
      if (typeof binding?.prepare === "function" && typeof binding?.batch === "function") bindings[name] = countDb(value as D1Database);
      else if (typeof binding?.idFromName === "function") bindings[name] = countNamespace(name, value as DurableObjectNamespace);
      else if (typeof binding?.sendBatch === "function") bindings[name] = countQueue(`queue ${name}`, value as Queue);
    }
    counted = bindings as unknown as Bindings;
    countedEnvs.set(env, counted);
  }
  return counted;
}

// Every Durable Object class of the product, constructed with the counting env.
export class ConversationObject extends Conversation {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
  // The object's own work (load, the pure change, building the batch, answering) apart from the hop.
  override appendMessage(...args: Parameters<Conversation["appendMessage"]>) {
    return inPhase("conversation object (own work)", () => super.appendMessage(...args));
  }
  override updateMessageStatus(...args: Parameters<Conversation["updateMessageStatus"]>) {
    return inPhase("conversation object (own work)", () => super.updateMessageStatus(...args));
  }
}
export class IdempotencyObject extends Idempotency {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
}
export class RateLimitObject extends RateLimit {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
}
export class AssignmentObject extends Assignment {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
}
export class RecoveryObject extends Recovery {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
}
export class ErasureObject extends Erasure {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
}
export class RealtimeObject extends Realtime {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
}
export class MoveObject extends Move {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, countEnv(env));
  }
}

export default {
  async fetch(request: Request, env: Bindings, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__profile") {
      account();
      const body = {
        d1: Object.fromEntries([...d1].sort((a, b) => b[1].count - a[1].count)),
        calls: Object.fromEntries(calls),
        phases: Object.fromEntries([...phaseMs].sort((a, b) => b[1] - a[1])),
      };
      if (request.method === "DELETE") {
        d1.clear();
        calls.clear();
        phaseMs.clear();
      }
      return Response.json(body);
    }
    bump("worker.fetch");
    // What no phase below claims: routing, the app's other middleware, building the Response.
    return inPhase("framework (routing, headers)", async () => worker.fetch(request, countEnv(env), ctx));
  },
  async queue(batch: MessageBatch<never>, env: Bindings, ctx: ExecutionContext) {
    bump("worker.queue batches");
    bump("worker.queue messages", batch.messages.length);
    return inPhase("queue consumer (delivery, rules)", () => worker.queue(batch, countEnv(env), ctx));
  },
} satisfies ExportedHandler<Bindings, never>;
