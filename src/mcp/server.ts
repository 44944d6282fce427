/**
 * The MCP endpoint: a fresh McpServer per request (stateless), built for the
 * caller's tenant and role from tool definitions built once per tenant registry
 * and role (definitions.ts). Served by `createMcpHandler` from agents, which
 * answers 2026-07-28 clients and 2025-era Streamable HTTP clients alike.
 */
import type { AuthInfo } from "@modelcontextprotocol/server";
import { isLegacyRequest, McpServer } from "@modelcontextprotocol/server";
import { createMcpHandler } from "agents/mcp/server";
import type { Context } from "hono";
import type { AppEnv } from "../http/app-env";
import { MAX_BODY_BYTES } from "../http/body";
import { traceMcpRequest } from "../telemetry/mcp-trace";
import { TenantScope } from "../tenants/scope";
import { installTools, type ToolRegistrar, type ToolSet } from "./definitions";
import { registerResultResources } from "./large";
import { type McpAccess, mcpAccess } from "./origins";
import { registerAdminTools } from "./tools/admin";
import { registerInferenceTools } from "./tools/inference";
import { registerRegistryTools } from "./tools/registry";
import { registerUsageTools } from "./tools/usage";
import { registerViews } from "./views";

export const SERVER_INFO = { name: "mcp-model-gateway", version: "0.1.0" };

const OPTIONS = {
  instructions:
    "A gateway to this tenant's AI models. Call list_models to see what is usable now, then chat, complete or embed " +
    "with a model_id. Results say which model answered and how long it took.",
};

/**
 * A server for one request: the tools of the caller's tenant and role, defined
 * once per registry version; for a `tools/call`, only the tool called.
 */
export function createServer(scope: TenantScope, calledTool?: string): McpServer {
  const server = new McpServer(SERVER_INFO, OPTIONS);
  const define = (tools: ToolRegistrar, set: ToolSet) => {
    registerRegistryTools(tools);
    registerResultResources(tools);
    registerViews(tools);
    registerInferenceTools(tools, set);
    registerUsageTools(tools, set);
    if (set.role === "admin") registerAdminTools(tools);
  };
  installTools(server, { snapshot: scope.snapshot, role: scope.role }, define, calledTool);
  return server;
}

/** The tool a single JSON-RPC `tools/call` request names, if that is what the body is. */
function toolCalled(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const { method, params } = body as { method?: unknown; params?: { name?: unknown } };
  return method === "tools/call" && typeof params?.name === "string" ? params.name : undefined;
}

/**
 * Serve one /mcp request for the authenticated caller. A JSON body is read and
 * parsed here, once (the app-wide cap applies while it is read), and handed to
 * the handler, which would otherwise clone and parse it twice (to route the
 * protocol era, then to serve it); any other body goes through untouched.
 */
export async function serveMcp(c: Context<AppEnv>): Promise<Response> {
  const scope = c.var.scope;
  let request = c.req.raw;
  let parsedBody: unknown;
  if (request.method === "POST" && request.body) {
    const text = await c.req.text();
    try {
      parsedBody = text ? JSON.parse(text) : undefined;
    } catch {
      parsedBody = undefined;
    }
    if (parsedBody === undefined)
      request = new Request(request.url, { method: request.method, headers: request.headers, body: text, signal: request.signal });
  }
  traceMcpRequest(parsedBody);
  const calledTool = toolCalled(parsedBody);
  // Only a tools/call result differs by era (see result.ts), so only then is the era worked out.
  const legacy = calledTool !== undefined && (await isLegacyRequest(request, parsedBody));
  const authInfo = authInfoFor(scope, calledTool, legacy);
  return mcpHandler(c.env).fetch(request, { authInfo, ...(parsedBody !== undefined && { parsedBody }) });
}

/**
 * The tenant scope (the tool a `tools/call` names, and whether the client speaks
 * a 2025-era protocol) travel inside the SDK's AuthInfo: to the factory, and to
 * every handler as `ctx.http.authInfo`.
 */
export function authInfoFor(scope: TenantScope, calledTool?: string, legacy = false): AuthInfo {
  return { token: "[tenant key]", clientId: `key:${scope.key.id}`, scopes: [scope.role], extra: { scope, calledTool, legacy } };
}

type McpHandler = ReturnType<typeof createMcpHandler>;
let memo: { access: McpAccess; handler: McpHandler } | undefined;

/**
 * The stateless handler, built once per isolate (again only if the allowed
 * hosts change). Auth runs before it (Hono middleware); it checks Host and
 * Origin itself; CORS is answered by the Worker's own middleware.
 */
export function mcpHandler(env: Env): McpHandler {
  const access = mcpAccess(env);
  if (memo?.access !== access) {
    const handler = createMcpHandler(
      ({ authInfo }) => {
        const scope = authInfo?.extra?.scope;
        if (!(scope instanceof TenantScope)) throw new Error("MCP request reached the server without a tenant scope");
        const called = authInfo?.extra?.calledTool;
        return createServer(scope, typeof called === "string" ? called : undefined);
      },
      {
        route: "/mcp",
        maxRequestBodySize: MAX_BODY_BYTES,
        corsOptions: false,
        allowedHostnames: access.hostnames,
        allowedOriginHostnames: access.originHostnames,
      },
    );
    memo = { access, handler };
  }
  return memo.handler;
}
