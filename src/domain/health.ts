import { sql } from "drizzle-orm";
import { database } from "../db/client";
import type { Bindings } from "../env";

/** Resolves once D1 answers a query; throws (a 503 through the error handler) when it does not. */
export async function checkDatabase(env: Bindings): Promise<void> {
  await database(env).run(sql`SELECT 1`);
}
