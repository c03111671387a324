import { buildApp } from "./app";
import type { Bindings } from "./env";

export { IdempotencyObject } from "./idempotency/object";
export { ConversationObject } from "./conversation/object";
export { RateLimitObject } from "./rate-limit/object";

const app = buildApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Bindings>;
