import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Session } from "./api";

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

/** `/v1/accounts/{account_id}` of the signed-in user. */
export function useAccountPath(): string {
  return `/v1/accounts/${encodeURIComponent(useSession().account_id)}`;
}
