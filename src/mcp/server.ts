/**
 * The MCP endpoint: a fresh McpServer per request (stateless), built for the
 * caller's tenant and role. Served by `createMcpHandler` from agents, which
 * answers 2026-07-28 clients and 2025-era Streamable HTTP clients alike.
 */
import type { AuthInfo } from "@modelcontextprotocol/server";
import { McpServer } from "@modelcontextprotocol/server";
import { createMcpHandler } from "agents/mcp/server";
import { MAX_BODY_BYTES } from "../http/body";
import { TenantScope } from "../tenants/scope";
import { type McpAccess, mcpAccess } from "./origins";
import { registerAdminTools } from "./tools/admin";
import { registerInferenceTools } from "./tools/inference";
import { registerRegistryTools } from "./tools/registry";
import { registerUsageTools } from "./tools/usage";

export const SERVER_INFO = { name: "mcp-model-gateway", version: "0.1.0" };

export function createServer(scope: TenantScope): McpServer {
  const server = new McpServer(SERVER_INFO, {
    instructions:
      "A gateway to this tenant's AI models. Call list_models to see what is usable now, then chat, complete or embed " +
      "with a model_id. Results say which model answered and how long it took.",
  });
  registerRegistryTools(server, scope);
  registerInferenceTools(server, scope);
  registerUsageTools(server, scope);
  if (scope.role === "admin") registerAdminTools(server, scope);
  return server;
}

/** The tenant scope travels to the factory inside the SDK's AuthInfo. */
export function authInfoFor(scope: TenantScope): AuthInfo {
  return { token: "[tenant key]", clientId: `key:${scope.key.id}`, scopes: [scope.role], extra: { scope } };
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
        return createServer(scope);
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
