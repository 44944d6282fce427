/**
 * Floor for MCP: `createMcpHandler` (agents) with a fresh `McpServer` per
 * request, as the SDK requires, and one tool, `chat`, that calls the upstream
 * and returns its text as content and structuredContent (declared by an
 * outputSchema, as the gateway's tools are). No auth, no registry. What any MCP
 * server on Workers costs at least, on the same `wrangler dev`.
 *
 * With a `RATE_LIMIT` binding (mcp-rl.toml), it first calls it once per request
 * with a fixed key, as the gateway calls its per-tenant rate limit: the floor of
 * an MCP server that rate-limits.
 */
import { McpServer } from "@modelcontextprotocol/server";
import { createMcpHandler } from "agents/mcp/server";
import { z } from "zod";
import { rateLimited } from "./rate-limit.js";

const ChatInput = z.object({
  model_id: z.string(),
  messages: z.array(z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() })),
});
const ChatOutput = z.object({ text: z.string(), model_id: z.string() });

function createServer(env) {
  const server = new McpServer({ name: "bench-floor-mcp", version: "1.0.0" });
  server.registerTool(
    "chat",
    { description: "Chat with the upstream.", inputSchema: ChatInput, outputSchema: ChatOutput },
    async ({ model_id, messages }) => {
      const response = await fetch(`${env.UPSTREAM_URL}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${env.UPSTREAM_KEY}` },
        body: JSON.stringify({ model: env.UPSTREAM_MODEL, messages }),
      });
      if (!response.ok) return { isError: true, content: [{ type: "text", text: `upstream ${response.status}` }] };
      const answer = await response.json();
      const text = answer.choices[0].message.content;
      return { content: [{ type: "text", text }], structuredContent: { text, model_id } };
    },
  );
  return server;
}

let handler;

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === "/health") return Response.json({ status: "ok" });
    const refused = await rateLimited(env);
    if (refused) return refused;
    handler ??= createMcpHandler(() => createServer(env), { route: "/mcp" });
    return handler(request, env, ctx);
  },
};
