/**
 * Results that fit in the host: MCP hosts cut tool results (Claude.ai near
 * 150,000 characters, Claude Code at 25,000 tokens by default), so a result
 * past the sizes below is kept as a short-lived resource of the caller's key
 * (src/durable/result-store.ts, `result://<id>`) and the tool answers with a
 * `resource_link` to it and a summary. Small results stay inline.
 */
import type { CallToolResult, ServerContext } from "@modelcontextprotocol/server";
import { ResourceNotFoundError, ResourceTemplate } from "@modelcontextprotocol/server";
import { z } from "zod";
import { RESULT_TTL_MS } from "../durable/result-store";
import type { TenantScope } from "../tenants/scope";
import type { ToolRegistrar } from "./definitions";
import { scopeOf } from "./result";

/** A result whose structuredContent is longer than this as JSON goes behind a link (content and structuredContent both count against a host's cap). */
export const INLINE_MAX_CHARS = 40_000;
/** An embed result with more vectors than this goes behind a link, whatever their size. */
export const INLINE_MAX_VECTORS = 64;

/** A generated text behind a link keeps this much of its start inline. */
export const TEXT_PREVIEW_CHARS = 2_000;

const SCHEME = "result://";

/** Where a large result went: declared in the output schemas of the tools that may link. */
export const LinkedResource = z
  .object({
    uri: z.string().describe("resources/read it (same key) for the whole result as JSON"),
    mime_type: z.literal("application/json"),
    size_chars: z.number(),
    expires_at: z.string(),
  })
  .describe("Present when the result was too large to send inline");

/** Whether a result of this JSON length (and this many vectors) stays inline. */
export function fitsInline(json: string, vectors = 0): boolean {
  return json.length <= INLINE_MAX_CHARS && vectors <= INLINE_MAX_VECTORS;
}

/**
 * Keep `full` as a resource of the caller's key and answer with a link to it:
 * `summary` (structuredContent without the large parts) plus `resource`, and
 * content holding `text` and the resource_link.
 */
export async function linked(scope: TenantScope, full: string, summary: object, text: string, name: string): Promise<CallToolResult> {
  const id = crypto.randomUUID();
  const kept = await scope.tenant.putResult({ id, key_id: scope.key.id, mime_type: "application/json", text: full });
  const resource = {
    uri: `${SCHEME}${id}`,
    mime_type: "application/json" as const,
    size_chars: full.length,
    expires_at: new Date(kept.expires_at).toISOString(),
  };
  const minutes = Math.round(RESULT_TTL_MS / 60_000);
  return {
    content: [
      {
        type: "text",
        text: `${text}\nThe whole result (${full.length} characters of JSON) is at ${resource.uri}, readable with this key for ${minutes} minutes.`,
      },
      {
        type: "resource_link",
        uri: resource.uri,
        name,
        mimeType: resource.mime_type,
        size: full.length,
        description: `Expires ${resource.expires_at}`,
      },
    ],
    structuredContent: { ...summary, resource },
  };
}

/** `result://<id>`: a kept result, for the key that made it until it expires; "not found" otherwise, whoever asks. */
export function registerResultResources(server: ToolRegistrar): void {
  server.registerResource(
    "result",
    new ResourceTemplate(`${SCHEME}{id}`, { list: undefined }),
    {
      title: "Large tool result",
      description: `A tool result too large to send inline, kept for ${Math.round(RESULT_TTL_MS / 60_000)} minutes for the key that made it`,
      mimeType: "application/json",
    },
    async (uri, variables, ctx: ServerContext) => {
      const scope = scopeOf(ctx);
      const found = await scope.tenant.getResult(String(variables.id), scope.key.id);
      if (!found) throw new ResourceNotFoundError(uri.href);
      return { contents: [{ uri: uri.href, mimeType: found.mime_type, text: found.text }] };
    },
  );
}
