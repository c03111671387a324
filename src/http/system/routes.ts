import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { checkDatabase } from "../../domain/health";
import type { AppEnv } from "../context";
import { errorResponses, jsonResponse } from "../openapi";

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  operationId: "health",
  tags: ["System"],
  summary: "Liveness: answers ok once D1 answers a query",
  description: "For load balancers and uptime checks: no token needed. 200 means the Worker runs and D1 answered a `SELECT 1`; a 503 problem means the database is briefly unavailable (retry after `Retry-After`).",
  security: [],
  responses: {
    200: jsonResponse(z.object({ status: z.literal("ok") }).openapi("Health"), "The service and its database answer"),
    503: errorResponses(503)[503]!,
  },
});

export const systemRoutes = new OpenAPIHono<AppEnv>().openapi(healthRoute, async (c) => {
  await checkDatabase(c.env);
  return c.json({ status: "ok" as const }, 200);
});
