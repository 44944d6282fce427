/**
 * The first middleware of every request: start its trace (./request-trace.ts),
 * run the rest of the request with it, and put the `Server-Timing` header on
 * the response.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/app-env";
import { RequestTrace, withTrace } from "./request-trace";
import { serverTiming, withHeader } from "./server-timing";

export function observe(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const trace = new RequestTrace(c.req.method, new URL(c.req.url).pathname, c.req.header("traceparent") ?? null);
    c.set("storageTrips", 0);
    await withTrace(trace, next);
    trace.status = c.res.status;
    c.res = withHeader(c.res, "server-timing", serverTiming(trace, c.get("storageTrips")));
  };
}
