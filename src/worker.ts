/**
 * The gateway Worker: routes, and the Durable Object class it exports.
 *
 *   GET  /health                                 liveness, no auth
 *   /mcp                                         MCP (tenant API key)
 *   /api/v1/tenants/...                          operator API (ADMIN_TOKEN)
 *   /api/v1/models, /api/v1/keys                 tenant admin API (tenant API key)
 *   /v1/models, /v1/chat/completions, ...        OpenAI-compatible API (tenant API key)
 *   /status                                      HTML status page of a tenant (sign in with a tenant key)
 *   /.well-known/oauth-protected-resource/mcp    RFC 9728 metadata for MCP clients
 */
import { Hono } from "hono";
import { operatorRoutes } from "./admin/operator";
import { tenantRoutes } from "./admin/tenant";
import { RESOURCE_METADATA_PATH, tenantAuth } from "./auth/middleware";
import { GatewayError, httpErrorResponse, toGatewayError } from "./errors";
import { sweep } from "./health/sweep";
import type { AppEnv } from "./http/app-env";
import { authInfoFor, mcpHandler, SERVER_INFO } from "./mcp/server";
import { openAIRoutes } from "./openai/routes";
import { statusRoutes } from "./status/page";

export { TenantRegistry } from "./durable/tenant-registry";

const app = new Hono<AppEnv>();

// Report storage round trips, so the "at most one before the upstream" rule can be seen.
app.use(async (c, next) => {
  c.set("storageTrips", 0);
  await next();
  c.res.headers.append("server-timing", `storage;desc="round trips";dur=${c.get("storageTrips")}`);
});

app.get("/health", (c) => c.json({ status: "ok", name: SERVER_INFO.name, version: SERVER_INFO.version }));

app.get(RESOURCE_METADATA_PATH, (c) => {
  const origin = new URL(c.req.url).origin;
  return c.json({
    resource: `${origin}/mcp`,
    bearer_methods_supported: ["header"],
    resource_name: "MCP model gateway",
    resource_documentation: `${origin}/health`,
  });
});

app.all("/mcp", tenantAuth(), (c) => mcpHandler.fetch(c.req.raw, { authInfo: authInfoFor(c.var.scope) }));

app.route("/v1", openAIRoutes);
app.route("/status", statusRoutes);
app.route("/api/v1/tenants", operatorRoutes);
app.route("/api/v1", tenantRoutes);

app.notFound((c) => httpErrorResponse(new GatewayError("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`)));

app.onError((error) => {
  const failure = toGatewayError(error);
  if (failure.code === "internal") console.error("unhandled error", error instanceof Error ? error.stack : error);
  return httpErrorResponse(failure);
});

export default {
  fetch: app.fetch,
  async scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext) {
    const summary = await sweep(env, controller.scheduledTime);
    console.log("health sweep", JSON.stringify(summary));
  },
} satisfies ExportedHandler<Env>;
