import { defineConfig } from "drizzle-kit";

// src/db/schema.ts is the one definition of the D1 schema. `npm run db:generate` (drizzle-kit generate)
// writes the next migrations/NNNN_name.sql from it, with drizzle-kit's record in migrations/meta/; wrangler
// applies migrations/*.sql in name order (it reads only the .sql files). `npm run db:check` fails when the
// schema and migrations/ disagree. 0001, 0002 and 0005 were written by hand before this; meta/ holds the
// snapshot of the state they build (0005_snapshot.json), and the journal numbers entries like the files,
// so the next migration is 0006.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
