// How many failed sign-ins are tolerated before the next attempt is refused without checking the password.
// Per email: slows guessing one person's password. Per account: slows spraying one password over its people.

export const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;
export const MAX_FAILURES_PER_EMAIL = 5;
export const MAX_FAILURES_PER_ACCOUNT = 50;

export type SignInDecision = { allowed: true } | { allowed: false; scope: "email" | "account" };

export function signInAllowed(failures: { failuresForEmail: number; failuresForAccount: number }): SignInDecision {
  if (failures.failuresForEmail >= MAX_FAILURES_PER_EMAIL) return { allowed: false, scope: "email" };
  if (failures.failuresForAccount >= MAX_FAILURES_PER_ACCOUNT) return { allowed: false, scope: "account" };
  return { allowed: true };
}
