/** Shared by vitest.config.ts (Node) and the tests (workerd): nothing here may import Node-only modules. */
export const TEST_PLATFORM_TOKEN = "test-platform-token-0123456789";
