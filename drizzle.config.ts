import { defineConfig } from "drizzle-kit";

// A shard database's schema: src/db/schema.ts is its one definition. `npm run db:generate` (drizzle-kit generate,
// this config and drizzle.control.config.ts) writes the next migrations/shard/NNNN_name.sql from it, with
// drizzle-kit's record in migrations/shard/meta/; wrangler applies migrations/shard/*.sql to every SHARD_…
// binding in name order. `npm run db:check` fails when the schema and the migrations disagree. 0001, 0002 and
// 0005 were written by hand before drizzle-kit; meta/ holds the snapshot of the state they build.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations/shard",
});
