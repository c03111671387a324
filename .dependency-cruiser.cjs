// The layers of src/ (docs/architecture.md draws them), checked by `npm run lint:deps` in CI.
// Imports only look down; nothing imports in a circle.
//
//   src/index.ts                  the Worker's entry: may import anything; routes queue message kinds
//                                 to the delivery and automation consumers
//   src/app.ts, src/http/         routes and middleware → domain, guards, core
//   src/domain/                   what the product does → conversation, delivery, automation, guards, db, core
//   src/recovery/                 the recovery object's alarm (re-queue, snooze wake-ups, retention): beside the
//                                 domain, armed by src/index.ts only → conversation, delivery, attachments, db, core
//   src/idempotency/, src/rate-limit/
//                                 request guards (a Durable Object each): used by http middleware
//                                 (src/http/idempotency.ts, src/http/rate-limit.ts) and domain → db, core
//   src/automation/               rules engine          → conversation, delivery, db, core
//   src/conversation/             the conversation's object and commands → realtime, delivery, db, core
//   src/realtime/                 the realtime object per account (WebSockets) and the commit nudge → delivery, attachments, db, core
//   src/erasure/                  a contact erasure's bounded steps and its Durable Object → conversation, delivery, attachments, db, core
//   src/delivery/                 outbox, queue consumer, signing → chatwoot, attachments, db, core
//   src/chatwoot/                 Chatwoot's shapes (pure) and the numeric ids its surface shows → db, core
//                                 (the domain's Chatwoot adapters and delivery's Chatwoot-format webhooks use it)
//   src/attachments/              files in R2: streamed uploads, signed data_urls, clean-up → db, core
//   src/moves/                    moving an account between shards: its bounded steps and its Durable Object;
//                                 started by the domain, kept going by recovery → delivery, db, core
//   src/db/                       drizzle schemas (shard and control), the client, the shard routing → core
//   core: src/core/, src/errors/, src/env.ts, src/faults.ts → nothing above
//
//   console/                      the web console (browser code, bundled by scripts/build-console.mjs): a client
//                                 of the public HTTP API, so it imports nothing from src/ (and src/ nothing of it)
//
// "core" below is the shared bottom: ids, time, pagination, URL policy, secrets and encodings, chunking,
// the error model, the bindings and the fault switches. Type-only imports count like any other: the
// parser (swc) does not tell them apart, and a type from a higher layer is still a dependency upward.
const CORE = "^src/(core/|errors/|env\\.ts$|faults\\.ts$)";
const UPPER = "^src/(index\\.ts$|app\\.ts$|http/)";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "console-is-an-api-client",
      severity: "error",
      comment:
        "The console talks to the Worker over HTTP only (docs/console.md): server modules would drag the " +
        "Worker's code and secrets' handling into the browser bundle.",
      from: { path: "^console/" },
      to: { path: "^src/" },
    },
    {
      name: "server-never-imports-the-console",
      severity: "error",
      comment: "The Worker serves the console's built files as static assets; it never imports its source.",
      from: { path: "^src/" },
      to: { path: "^console/" },
    },
    {
      name: "no-circular",
      severity: "error",
      comment: "A circle has no bottom: move the shared piece below both modules.",
      from: {},
      to: { circular: true },
    },
    {
      name: "nothing-imports-the-entry",
      severity: "error",
      comment: "src/index.ts is the top: it wires everything and nothing depends on it.",
      from: { path: "^src/" },
      to: { path: "^src/index\\.ts$" },
    },
    {
      name: "http-goes-through-domain",
      severity: "error",
      comment:
        "Routes and middleware call domain functions; they never reach the conversation object, the outbox, " +
        "the rules engine or the database themselves (the guards' Durable Objects are the one exception, " +
        "for the idempotency and rate-limit middleware).",
      from: { path: "^src/(app\\.ts$|http/)" },
      to: { path: "^src/(conversation|delivery|automation|erasure|realtime|db|chatwoot)/" },
    },
    {
      name: "domain-looks-down",
      severity: "error",
      comment: "The domain never imports routes, the app or the entry.",
      from: { path: "^src/domain/" },
      to: { path: UPPER },
    },
    {
      name: "recovery-from-the-entry-only",
      severity: "error",
      comment: "Recovery runs on its own alarm; only the Worker's entry arms it and exports its object.",
      from: { path: "^src/", pathNot: ["^src/index\\.ts$", "^src/recovery/"] },
      to: { path: "^src/recovery/" },
    },
    {
      name: "recovery-looks-down",
      severity: "error",
      comment:
        "Recovery uses the conversation object, the delivery sweeper, attachment clean-up, db and core; never the domain, http or the rules engine.",
      from: { path: "^src/recovery/" },
      to: { path: ["^src/(domain|automation|idempotency|rate-limit)/", UPPER] },
    },
    {
      name: "moves-look-down",
      comment: "A move copies rows between shard databases (db, core) and hands the moved work to the target's queue (delivery); never the product's logic.",
      severity: "error",
      from: { path: "^src/moves/" },
      to: { path: "^src/(?!moves/|db/|delivery/|core/|errors/|env\\.ts$|faults\\.ts$)" },
    },
    {
      name: "middle-tier-looks-down",
      severity: "error",
      comment: "conversation, delivery, automation and the guards sit below the domain: they never import it, nor http.",
      from: { path: "^src/(conversation|delivery|automation|erasure|realtime|idempotency|rate-limit)/" },
      to: { path: ["^src/domain/", UPPER] },
    },
    {
      name: "delivery-is-the-bottom-of-the-middle",
      severity: "error",
      comment:
        "The outbox and the queue consumer know nothing of conversations or rules: queue message kinds are " +
        "routed in src/index.ts, and what the outbox needs (event rows, which events go to the rules) lives in delivery.",
      from: { path: "^src/delivery/" },
      to: { path: "^src/(conversation|automation|erasure|realtime|idempotency|rate-limit)/" },
    },
    {
      name: "conversation-below-automation",
      severity: "error",
      comment: "Automation acts on conversations; conversations never call the rules engine.",
      from: { path: "^src/conversation/" },
      to: { path: "^src/(automation|idempotency|rate-limit)/" },
    },
    {
      name: "realtime-below-conversation",
      severity: "error",
      comment:
        "Committing code (the conversation object, the domain) nudges the realtime object after a commit; the realtime " +
        "object reads committed events from the store and never calls back into conversations, rules or guards.",
      from: { path: "^src/realtime/" },
      to: { path: "^src/(conversation|automation|idempotency|rate-limit)/" },
    },
    {
      name: "automation-not-to-guards",
      severity: "error",
      comment: "The request guards belong to HTTP requests; the rules engine runs from the queue.",
      from: { path: "^src/automation/" },
      to: { path: "^src/(idempotency|rate-limit)/" },
    },
    {
      name: "guards-stand-alone",
      severity: "error",
      comment: "Each request guard uses only db and core.",
      from: { path: "^src/(idempotency|rate-limit)/" },
      to: { path: "^src/(conversation|delivery|automation)/" },
    },
    {
      name: "chatwoot-shapes-on-db",
      severity: "error",
      comment:
        "Chatwoot's shapes and numeric ids sit just above db: the domain's adapters (http/chatwoot → domain/chatwoot-*) and " +
        "delivery's Chatwoot-format payloads both render with them, so they know nothing of either.",
      from: { path: "^src/chatwoot/" },
      to: { path: "^src/", pathNot: ["^src/chatwoot/", "^src/db/", CORE] },
    },
    {
      name: "attachments-on-db",
      comment:
        "Attachment storage (R2 files, their rows, signed links) sits just above db: every layer that shows a " +
        "message (domain, delivery's webhook payloads) may sign its data_urls, and it knows nothing of them.",
      severity: "error",
      from: { path: "^src/attachments/" },
      to: { path: "^src/", pathNot: ["^src/attachments/", "^src/db/", CORE] },
    },
    {
      name: "db-only-on-core",
      severity: "error",
      comment: "The schema and the client depend on core alone.",
      from: { path: "^src/db/" },
      to: { path: "^src/", pathNot: ["^src/db/", CORE] },
    },
    {
      name: "core-is-the-bottom",
      severity: "error",
      comment: "Core (ids, time, pagination, URL policy, secrets, errors, env, faults) imports nothing above itself.",
      from: { path: CORE },
      to: { path: "^src/", pathNot: CORE },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/.*\\.d\\.ts$" },
    // Parsed with swc: the TypeScript 7 compiler has no JavaScript API for dependency-cruiser to use.
    parser: "swc",
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
