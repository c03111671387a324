import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { configDefaults, defineConfig } from "vitest/config";

import { TEST_PLATFORM_TOKEN } from "./test/support/constants";

/** Pure logic (the conversation's changes…) is tested in plain Node: no workerd, no bindings, milliseconds per file. */
const UNIT_TESTS = "test/**/*.unit.test.ts";

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(async ({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_CONTROL_MIGRATIONS: await readD1Migrations("./migrations/control"),
                TEST_SHARD_MIGRATIONS: await readD1Migrations("./migrations/shard"),
                RECEIVER_URL: `http://127.0.0.1:${inject("receiverPort")}`,
                PLATFORM_TOKEN: TEST_PLATFORM_TOKEN,
                ALLOW_LOOPBACK_WEBHOOKS: "true",
                // Short schedule: 4 attempts, 1 s apart, so retry paths finish within a test.
                WEBHOOK_RETRY_DELAYS: "1,1,1",
                WEBHOOK_TIMEOUT_MS: "3000",
                // Small erasure steps, so a contact with a modest history already needs the background run.
                ERASURE_STEP_ROWS: "25",
                // A dev-only key for data_urls, and a 6 MiB file limit: big enough that files go to R2 in
                // several parts (5 MiB each), small enough that the 413 test is quick.
                ATTACHMENT_SIGNING_SECRET: "test-attachment-signing-secret-0123456789",
                ATTACHMENT_MAX_BYTES: String(6 * 1024 * 1024),
                // Small, so the slow-client test fills it with a few large messages (test/realtime/stream.test.ts).
                REALTIME_UNACKED_BYTES: "32768",
              },
            },
          })),
        ],
        test: {
          name: "workers",
          exclude: [...configDefaults.exclude, UNIT_TESTS],
          globalSetup: ["./test/support/global-setup.ts"],
          setupFiles: ["./test/support/apply-migrations.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "unit",
          environment: "node",
          include: [UNIT_TESTS],
        },
      },
    ],
  },
});
