import { z } from "zod";

// Bindings come from `wrangler types` (worker-configuration.d.ts). Secrets are not in wrangler.toml,
// so they are declared here, once.
declare global {
  namespace Cloudflare {
    interface Env {
      /** Operator secret that may create accounts (`wrangler secret put PLATFORM_TOKEN`). */
      PLATFORM_TOKEN?: string;
      /** Key of the HMAC that signs attachment data_urls (`wrangler secret put ATTACHMENT_SIGNING_SECRET`). */
      ATTACHMENT_SIGNING_SECRET?: string;
    }
  }
}

/** The Worker's bindings as the runtime hands them over: CONTROL and every SHARD_… D1 database. */
export type WorkerEnv = Env;

/**
 * The bindings of one account's work (a request, a queue message, a Durable Object call): the Worker's,
 * plus `DB`, the shard database that holds the account's rows, and `SHARD`, its binding's name (what queue
 * messages and stored state carry). `shardEnv` (src/db/shards.ts) makes one; domain code never picks a shard.
 */
export type Bindings = Env & { readonly DB: D1Database; readonly SHARD: string };

const commaSeparatedSeconds = z
  .string()
  .transform((value) => value.split(",").map((part) => part.trim()).filter(Boolean).map(Number))
  .pipe(z.array(z.number().nonnegative().finite()).min(1));

const configSchema = z.object({
  PLATFORM_TOKEN: z.string().min(16).optional(),
  ALLOW_LOOPBACK_WEBHOOKS: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
  WEBHOOK_RETRY_DELAYS: commaSeparatedSeconds,
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  RATE_LIMIT_PER_TOKEN: z.coerce.number().int().positive().default(1200),
  RATE_LIMIT_PER_INBOX: z.coerce.number().int().positive().default(2400),
  RETENTION_DAYS: z.coerce.number().positive().finite().default(30),
  ATTACHMENT_SIGNING_SECRET: z.string().min(16).optional(),
  ATTACHMENT_MAX_BYTES: z.coerce.number().int().positive().default(40 * 1024 * 1024),
  ATTACHMENT_URL_TTL_SECONDS: z.coerce.number().int().positive().default(3600),
  PUBLIC_URL: z
    .string()
    .default("")
    .transform((value) => value.replace(/\/+$/, "") || undefined)
    .pipe(z.url({ protocol: /^https?$/ }).optional()),
  REALTIME_UNACKED_BYTES: z.coerce.number().int().positive().default(1_048_576),
});

/** Configuration variables, parsed once per env object. */
export type Config = {
  platformToken: string | undefined;
  allowLoopbackWebhooks: boolean;
  /** Seconds to wait before attempt 2, 3, …; its length + 1 is the number of attempts. */
  webhookRetryDelays: number[];
  webhookTimeoutMs: number;
  /** Default requests per minute per token and per inbox identifier; accounts may override them. */
  rateLimits: { perToken: number; perInbox: number };
  /** Events, webhook deliveries and their attempts older than this are pruned (docs/retention.md). */
  retentionMs: number;
  attachments: {
    /** HMAC key of data_urls; without it attachments cannot be served (the routes answer 503). */
    signingSecret: string | undefined;
    maxBytes: number;
    urlTtlSeconds: number;
    /** The origin data_urls point at; undefined: the origin of the request that uploaded the file. */
    publicUrl: string | undefined;
  };
  /** Bytes of events a realtime socket may have unacknowledged before it is dropped (it resumes). */
  realtimeUnackedBytes: number;
};

const parsed = new WeakMap<object, Config>();

export function config(env: WorkerEnv): Config {
  let cached = parsed.get(env);
  if (!cached) {
    const raw = configSchema.parse(env);
    cached = {
      platformToken: raw.PLATFORM_TOKEN,
      allowLoopbackWebhooks: raw.ALLOW_LOOPBACK_WEBHOOKS,
      webhookRetryDelays: raw.WEBHOOK_RETRY_DELAYS,
      webhookTimeoutMs: raw.WEBHOOK_TIMEOUT_MS,
      rateLimits: { perToken: raw.RATE_LIMIT_PER_TOKEN, perInbox: raw.RATE_LIMIT_PER_INBOX },
      retentionMs: Math.round(raw.RETENTION_DAYS * 24 * 60 * 60 * 1000),
      attachments: {
        signingSecret: raw.ATTACHMENT_SIGNING_SECRET,
        maxBytes: raw.ATTACHMENT_MAX_BYTES,
        urlTtlSeconds: raw.ATTACHMENT_URL_TTL_SECONDS,
        publicUrl: raw.PUBLIC_URL,
      },
      realtimeUnackedBytes: raw.REALTIME_UNACKED_BYTES,
    };
    parsed.set(env, cached);
  }
  return cached;
}
