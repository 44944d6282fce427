/**
 * Tool results: `content` for people and `structuredContent` for programs, and
 * the one wrapper every tool handler goes through: it hands the handler the
 * request's tenant scope (which the SDK carries in `ctx.http.authInfo`, see
 * server.ts) and turns any failure into an `isError` result whose
 * structuredContent is `{ error: { code, message, alternatives?, retry_after_s?, resets_at? } }`
 * (advice.ts), so an agent can recover without parsing the text (for clients
 * of the 2026-07-28 protocol; see below).
 */
import type { CallToolResult, ServerContext } from "@modelcontextprotocol/server";
import { toGatewayError, toolErrorResult } from "../errors";
import { TenantScope } from "../tenants/scope";
import { advise, adviceText, type ToolErrorContent, type Want } from "./advice";

export function ok(structured: object, text: string): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: { ...structured } };
}

/** The tenant scope of the request being served, as server.ts put it into the SDK's AuthInfo. */
export function scopeOf(ctx: ServerContext): TenantScope {
  const scope = ctx.http?.authInfo?.extra?.scope;
  if (!(scope instanceof TenantScope)) throw new Error("MCP request reached a tool without a tenant scope");
  return scope;
}

/**
 * Run a tool body for the request's scope; a GatewayError becomes a tool error
 * a person (or agent) can act on. `want`: the call the tool makes, so a
 * refusal can name the models that would take it instead.
 */
export function guarded<A>(body: (args: A, scope: TenantScope, ctx: ServerContext) => Promise<CallToolResult>, want?: (args: A) => Want) {
  return async (args: A, ctx: ServerContext): Promise<CallToolResult> => {
    const scope = scopeOf(ctx);
    try {
      return await body(args, scope, ctx);
    } catch (error) {
      const failure = toGatewayError(error);
      if (failure.code === "internal") console.error("tool failed", error instanceof Error ? error.stack : error);
      const detail = advise(failure, scope, want?.(args));
      const result = toolErrorResult(failure);
      const advice = adviceText(detail);
      // The advice is a text of its own after the error's `<message> [<code>]`, which stays as it always was.
      const content = advice ? [...result.content, { type: "text" as const, text: advice }] : result.content;
      // 2025-era clients (the v1 TypeScript SDK among them) check any structuredContent against the tool's
      // outputSchema, error or not, and would throw the whole result away: they get the text only.
      if (ctx.http?.authInfo?.extra?.legacy === true) return { ...result, content };
      return { ...result, content, structuredContent: { error: detail } satisfies ToolErrorContent };
    }
  };
}
