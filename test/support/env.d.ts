import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_CONTROL_MIGRATIONS: D1Migration[];
      TEST_SHARD_MIGRATIONS: D1Migration[];
      /** Base URL of the webhook receiver the global setup runs on 127.0.0.1. */
      RECEIVER_URL: string;
    }
  }
}

declare module "vitest" {
  interface ProvidedContext {
    receiverPort: number;
  }
}
