/**
 * Tool results: `content` for people and `structuredContent` for programs, and
 * the one wrapper that turns any failure into an `isError` result.
 */
import type { CallToolResult } from "@modelcontextprotocol/server";
import { toGatewayError, toolErrorResult } from "../errors";

export function ok(structured: object, text: string): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: { ...structured } };
}

/** Run a tool body; a GatewayError becomes a tool error a person can act on. */
export function guarded<A, X>(body: (args: A, extra: X) => Promise<CallToolResult>) {
  return async (args: A, extra: X): Promise<CallToolResult> => {
    try {
      return await body(args, extra);
    } catch (error) {
      const failure = toGatewayError(error);
      if (failure.code === "internal") console.error("tool failed", error instanceof Error ? error.stack : error);
      return toolErrorResult(failure);
    }
  };
}
