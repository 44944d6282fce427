/**
 * The gateway Worker: routes, and the Durable Object class it exports.
 *
 *   GET  /health                                 liveness, no auth
 *   /mcp                                         MCP (tenant API key or OAuth access token)
 *   /api/v1/tenants/...                          operator API (ADMIN_TOKEN)
 *   /api/v1/models, /api/v1/keys                 tenant admin API (tenant API key)
 *   /v1/models, /v1/chat/completions, ...        OpenAI-compatible API (tenant API key)
 *   /v1/messages, /v1/messages/count_tokens      Anthropic Messages API (tenant API key, also as x-api-key)
 *   /status                                      HTML status page of a tenant (sign in with a tenant key)
 *   /.well-known/oauth-protected-resource[/mcp]  RFC 9728 metadata for MCP clients (both forms)
 *   /authorize, /oauth/*, /.well-known/oauth-authorization-server   OAuth 2.1 for MCP clients
 */
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { operatorRoutes } from "./admin/operator";
import { tenantRoutes } from "./admin/tenant";
import { anthropicRoutes } from "./anthropic/routes";
import { mcpAuth, RESOURCE_METADATA_PATH } from "./auth/middleware";
import { GatewayError, httpErrorResponse, toGatewayError } from "./errors";
import { watchdog } from "./health/watchdog";
import type { AppEnv } from "./http/app-env";
import { capBodies } from "./http/body";
import { corsOrigin } from "./mcp/origins";
import { SERVER_INFO, serveMcp } from "./mcp/server";
import { consentRoutes } from "./oauth/consent";
import { MCP_SCOPE, oauth } from "./oauth/server";
import { openAIRoutes } from "./openai/routes";
import { responsesRoutes } from "./responses/routes";
import { statusRoutes } from "./status/page";
import { observe } from "./telemetry/middleware";

export { TenantRegistry } from "./durable/tenant-registry";

const app = new Hono<AppEnv>();

// Every request's trace: Server-Timing (the gateway's own time, the upstream's, storage round trips).
app.use(observe());

// Every request body, on every route and before authentication, is capped while it is read.
app.use(capBodies());

app.get("/health", (c) => c.json({ status: "ok", name: SERVER_INFO.name, version: SERVER_INFO.version }));

// RFC 9728: where MCP clients learn how to get a token for /mcp. The 401's
// challenge names the path-suffixed form; some clients probe the root form
// first, so it answers the same document (/mcp is the one OAuth resource).
const protectedResource = (c: Context<AppEnv>) => {
  const { resource, issuer } = oauth(c.env);
  return c.json({
    resource,
    authorization_servers: [issuer],
    scopes_supported: [MCP_SCOPE],
    bearer_methods_supported: ["header"],
    resource_name: "MCP model gateway",
  });
};
app.get(RESOURCE_METADATA_PATH, protectedResource);
app.get("/.well-known/oauth-protected-resource", protectedResource);

// The OAuth authorization server: consent page (ours), metadata, token, revocation, registration (the library's).
app.route("/authorize", consentRoutes);
// (Hono types its execution context on its own; it is the Workers one.)
const authorizationServer = (c: Context<AppEnv>) => oauth(c.env).server.fetch(c.req.raw, c.env, c.executionCtx as ExecutionContext);
app.all("/oauth/*", authorizationServer);
app.get("/.well-known/oauth-authorization-server", authorizationServer);

app.use(
  "/mcp",
  cors({
    origin: (origin, c) => corsOrigin(origin, c.env),
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowHeaders: ["Content-Type", "Accept", "Authorization", "Mcp-Protocol-Version", "Mcp-Session-Id", "Mcp-Method", "Mcp-Name", "Last-Event-ID"],
    exposeHeaders: ["Mcp-Session-Id", "WWW-Authenticate"],
    maxAge: 600,
  }),
);
app.all("/mcp", mcpAuth(), serveMcp);

// The Messages and Responses routes first: the OpenAI routes' auth (Bearer only) covers all of /v1 after them.
app.route("/v1", anthropicRoutes);
app.route("/v1", responsesRoutes);
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
    // Checks run from each tenant's own alarm; the cron only re-arms tenants whose alarm is overdue.
    const summary = await watchdog(env, Math.max(controller.scheduledTime, Date.now()));
    console.log("health sweep", JSON.stringify(summary));
  },
} satisfies ExportedHandler<Env>;
