// The isolate's memory of accounts nobody listens to (src/realtime/forward.ts): bounded, and forgotten
// for an account as soon as a socket of it is opened through this isolate.
import { describe, expect, it } from "vitest";
import { listenerConnecting, markQuiet, QUIET_ACCOUNTS_MAX, quietAccounts } from "../../src/realtime/forward";

describe("quiet accounts", () => {
  it("holds at most QUIET_ACCOUNTS_MAX accounts, the oldest going first", () => {
    const now = Date.now();
    for (let i = 0; i < QUIET_ACCOUNTS_MAX + 100; i++) markQuiet(`acc_fill_${i}`, now);
    expect(quietAccounts()).toBe(QUIET_ACCOUNTS_MAX);
    listenerConnecting(`acc_fill_${QUIET_ACCOUNTS_MAX + 99}`);
    expect(quietAccounts()).toBe(QUIET_ACCOUNTS_MAX - 1);
  });
});
