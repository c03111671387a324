// The product exactly as src/index.ts exports it, with its bindings counted: every D1 round trip (by SQL
// text), queue send and Durable Object call, and the time spent waiting for D1. `node bench/profile.mjs`
// runs it under wrangler dev, drives requests one at a time and reads the totals from /__profile.
// Durable Objects of a Worker share its isolate under wrangler dev, so one module-level tally sees both.
import worker, {
  AssignmentObject as Assignment,
  ConversationObject as Conversation,
  IdempotencyObject as Idempotency,
  RateLimitObject as RateLimit,
} from "../../src/index";
import type { Bindings } from "../../src/env";

type Tally = { count: number; ms: number };
const d1 = new Map<string, Tally>();
const calls = new Map<string, number>();

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
        return await (statement[method] as (...a: unknown[]) => Promise<unknown>)(...args);
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
          return await db.batch(statements.map((statement) => statement[REAL]));
        } finally {
          add(`BATCH of ${statements.length}: ${statements.map((statement) => shape(statement.sql).split(" ").slice(0, 3).join(" ")).join(" | ")}`, performance.now() - started);
        }
      },
      exec: async (sql: string) => {
        const started = performance.now();
        try {
          return await db.exec(sql);
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
              return (stubTarget as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
            };
          },
        });
      };
    },
  });
}

function countQueue(name: string, queue: Queue) {
  return {
    send: (...args: Parameters<Queue["send"]>) => (bump(`${name}.send`), queue.send(...args)),
    sendBatch: (messages: Parameters<Queue["sendBatch"]>[0], options?: Parameters<Queue["sendBatch"]>[1]) => {
      bump(`${name}.sendBatch`);
      bump(`${name} messages`, [...messages].length);
      return queue.sendBatch(messages, options);
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

export default {
  async fetch(request: Request, env: Bindings, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__profile") {
      const body = {
        d1: Object.fromEntries([...d1].sort((a, b) => b[1].count - a[1].count)),
        calls: Object.fromEntries(calls),
      };
      if (request.method === "DELETE") {
        d1.clear();
        calls.clear();
      }
      return Response.json(body);
    }
    bump("worker.fetch");
    return worker.fetch(request, countEnv(env), ctx);
  },
  async queue(batch: MessageBatch<never>, env: Bindings, ctx: ExecutionContext) {
    bump("worker.queue batches");
    bump("worker.queue messages", batch.messages.length);
    return worker.queue(batch, countEnv(env), ctx);
  },
} satisfies ExportedHandler<Bindings, never>;
