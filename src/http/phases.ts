import type { MiddlewareHandler } from "hono";
import { enterPhase, leavePhase, type PhaseFrame } from "../core/phases";
import type { AppEnv } from "./context";

/**
 * A middleware whose own time (before and after `next`) counts as `phase` in the profile
 * (src/core/phases.ts); what runs inside `next` counts for itself. Without a recorder it only calls through.
 */
export function timed(phase: string, middleware: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let frame = enterPhase(phase);
    if (frame === undefined) return middleware(c, next);
    try {
      return await middleware(c, async () => {
        leavePhase(frame);
        try {
          await next();
        } finally {
          frame = enterPhase(phase);
        }
      });
    } finally {
      leavePhase(frame);
    }
  };
}

const validating = new WeakMap<Request, { frame: PhaseFrame | undefined; handler: boolean }>();

/**
 * From here until the route handler first reads its validated input (`validated`), the route's guard and
 * its zod validators run: counted as parse/validate; from then on the handler's own work (domain code,
 * query building) counts as "route handler".
 */
export const validation: MiddlewareHandler<AppEnv> = async (c, next) => {
  const frame = enterPhase("parse/validate");
  if (frame === undefined) return next();
  const state = { frame: frame as PhaseFrame | undefined, handler: false };
  validating.set(c.req.raw, state);
  try {
    await next();
  } finally {
    validating.delete(c.req.raw);
    leavePhase(state.frame);
  }
};

/** The handler has its input: validation is over (the profile's entry calls this from `c.req.valid`). */
export function validated(request: Request): void {
  const state = validating.get(request);
  if (state === undefined || state.handler) return;
  state.handler = true;
  leavePhase(state.frame);
  state.frame = enterPhase("route handler");
}
