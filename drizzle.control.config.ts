import { defineConfig } from "drizzle-kit";

// The control database's schema (accounts and the directory): src/db/control/schema.ts → migrations/control/.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/control/schema.ts",
  out: "./migrations/control",
});
