/**
 * The first middleware of every request: start its trace (./request-trace.ts),
 * run the rest of the request with it, put the `Server-Timing` header on the
 * response, and when the request is over (a streamed body: when it ends or
 * the client leaves) write its log line and hand its spans to the tenant's
 * export, if it set one.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/app-env";
import { settings } from "../settings";
import { exportRequest } from "./export";
import { requestLogLine } from "./request-log";
import { RequestTrace, withTrace } from "./request-trace";
import { untilEnd } from "../util/until-end";
import { serverTiming, withHeader } from "./server-timing";

export function observe(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const trace = new RequestTrace(c.req.method, new URL(c.req.url).pathname, c.req.header("traceparent") ?? null);
    c.set("storageTrips", 0);
    await withTrace(trace, next);
    trace.status = c.res.status;
    const scope = c.get("scope");
    trace.tenantId ??= scope?.tenantId;
    trace.keyId ??= scope?.key.id;
    c.res = withHeader(c.res, "server-timing", serverTiming(trace, c.get("storageTrips")));
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (settings(c.env).requestLogs) console.log(JSON.stringify(requestLogLine(trace, c.get("storageTrips"))));
      const exported = exportRequest(scope, trace);
      if (exported) c.executionCtx.waitUntil(exported);
    };
    const body = c.res.body;
    if (body && c.res.headers.get("content-type")?.startsWith("text/event-stream")) c.res = new Response(untilEnd(body, finish), c.res);
    else finish();
  };
}
