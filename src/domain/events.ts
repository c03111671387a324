import type { Origin } from "../db/schema";
import type { Caller } from "./tokens";

/** Who caused a change, carried on its events so an integrator can skip the echo of its own writes. */
export function originOf(caller: Exclude<Caller, { kind: "platform" }>): Origin {
  return caller.kind === "inbox"
    ? { type: "token", id: caller.tokenId, token_id: caller.tokenId }
    : { type: "user", id: caller.userId, token_id: caller.tokenId };
}
