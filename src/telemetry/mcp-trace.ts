/**
 * What an MCP request adds to its trace: the JSON-RPC method (and the tool a
 * `tools/call` names) as its route, and the caller's trace from
 * `params._meta.traceparent` (MCP's place for trace context; the HTTP header
 * wins when both are sent).
 */
import { currentTrace } from "./request-trace";

export function traceMcpRequest(body: unknown): void {
  const trace = currentTrace();
  if (!trace || typeof body !== "object" || body === null || Array.isArray(body)) return;
  const { method, params } = body as { method?: unknown; params?: { name?: unknown; _meta?: { traceparent?: unknown } } };
  if (typeof method !== "string") return;
  trace.route = `MCP ${method}`;
  if (method === "tools/call" && typeof params?.name === "string") trace.tool = params.name;
  trace.joinCaller(params?._meta?.traceparent);
}
