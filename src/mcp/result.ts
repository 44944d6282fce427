/**
 * Tool results: `content` for people and `structuredContent` for programs, and
 * the one wrapper every tool handler goes through: it hands the handler the
 * request's tenant scope (which the SDK carries in `ctx.http.authInfo`, see
 * server.ts) and turns any failure into an `isError` result.
 */
import type { CallToolResult, ServerContext } from "@modelcontextprotocol/server";
import { toGatewayError, toolErrorResult } from "../errors";
import { TenantScope } from "../tenants/scope";

export function ok(structured: object, text: string): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: { ...structured } };
}

/** The tenant scope of the request being served, as server.ts put it into the SDK's AuthInfo. */
export function scopeOf(ctx: ServerContext): TenantScope {
  const scope = ctx.http?.authInfo?.extra?.scope;
  if (!(scope instanceof TenantScope)) throw new Error("MCP request reached a tool without a tenant scope");
  return scope;
}

/** Run a tool body for the request's scope; a GatewayError becomes a tool error a person can act on. */
export function guarded<A>(body: (args: A, scope: TenantScope, ctx: ServerContext) => Promise<CallToolResult>) {
  return async (args: A, ctx: ServerContext): Promise<CallToolResult> => {
    try {
      return await body(args, scopeOf(ctx), ctx);
    } catch (error) {
      const failure = toGatewayError(error);
      if (failure.code === "internal") console.error("tool failed", error instanceof Error ? error.stack : error);
      return toolErrorResult(failure);
    }
  };
}
