import { defineConfig } from "drizzle-kit";

// Migrations are written by hand in migrations/ and applied by wrangler; drizzle-kit is only used to
// check that src/db/schema.ts and the SQL agree (`npx drizzle-kit generate` should produce nothing new).
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
