/**
 * Authentication as small Hono middleware factories:
 * - `operatorAuth()` accepts only the operator token (Worker secret ADMIN_TOKEN);
 * - `tenantAuth()` accepts a tenant API key and puts a TenantScope on the context
 *   (for the Anthropic Messages routes also as `x-api-key`, in Anthropic's error shape);
 * - `requireRole("admin")` refuses user keys with 403.
 * Missing or bad credentials get 401 with a WWW-Authenticate header that points
 * MCP clients at the protected-resource metadata (RFC 9728).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { GatewayError, httpErrorResponse } from "../errors";
import type { AppEnv } from "../http/app-env";
import { authenticate, scopeFor } from "../tenants/authenticate";
import type { TenantScope } from "../tenants/scope";
import { MCP_SCOPE } from "../oauth/server";
import { settings } from "../settings";
import { validateAccessToken } from "../oauth/tokens";
import { safeEqual, tenantOfKey, type Role } from "../tenants/keys";

export const RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/mcp";

function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1] ?? null;
}

/** 401 with the RFC 9728 challenge that sends MCP clients to the protected-resource metadata. */
function unauthenticated(
  c: Context<AppEnv>,
  message: string,
  error?: "invalid_token",
  show: (error: GatewayError) => Response = httpErrorResponse,
): Response {
  const response = show(new GatewayError("unauthenticated", message));
  const metadata = `${settings(c.env).publicUrl ?? new URL(c.req.url).origin}${RESOURCE_METADATA_PATH}`;
  const parts = [`realm="mcp-model-gateway"`, `resource_metadata="${metadata}"`, `scope="${MCP_SCOPE}"`];
  if (error) parts.push(`error="${error}"`);
  response.headers.set("www-authenticate", `Bearer ${parts.join(", ")}`);
  return response;
}

export function operatorAuth() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const expected = settings(c.env).adminToken;
    if (!expected) {
      throw new GatewayError("internal", "The operator token is not configured (set the ADMIN_TOKEN Worker secret).");
    }
    const token = bearer(c.req.header("authorization"));
    if (!token) return unauthenticated(c, "Send the operator token as 'Authorization: Bearer <ADMIN_TOKEN>'.");
    if (!safeEqual(token, expected)) return unauthenticated(c, "The operator token is not valid.", "invalid_token");
    await next();
  });
}

export const NOT_A_TENANT_KEY =
  "That bearer is not a tenant API key (mgw_<tenant>_…): /v1 and /api take tenant API keys; OAuth access tokens are for /mcp only.";

export interface TenantAuthOptions {
  /**
   * Also take the key from `x-api-key` (what the Anthropic SDKs and Claude Code
   * send). Both headers at once must carry the same key.
   */
  apiKeyHeader?: boolean;
  /** How a 401 is shown (default: the gateway's own error shape). */
  show?: (error: GatewayError) => Response;
}

export function tenantAuth(options: TenantAuthOptions = {}) {
  const { apiKeyHeader = false, show = httpErrorResponse } = options;
  const how = apiKeyHeader ? "'x-api-key: <key>' or 'Authorization: Bearer <key>'" : "'Authorization: Bearer <key>'";
  return createMiddleware<AppEnv>(async (c, next) => {
    const fromBearer = bearer(c.req.header("authorization"));
    const fromHeader = apiKeyHeader ? (c.req.header("x-api-key")?.trim() ?? null) || null : null;
    if (fromBearer && fromHeader && !safeEqual(fromBearer, fromHeader)) {
      return unauthenticated(c, "Two different API keys were sent ('x-api-key' and 'Authorization'); send one.", "invalid_token", show);
    }
    const token = fromBearer ?? fromHeader;
    if (!token) return unauthenticated(c, `Send a tenant API key as ${how}.`, undefined, show);
    // Not shaped like a key: most often an OAuth access token, sent where only /mcp takes one.
    if (!tenantOfKey(token)) return unauthenticated(c, NOT_A_TENANT_KEY, "invalid_token", show);
    const scope = await authenticate(c, token);
    if (!scope) return unauthenticated(c, "The API key is not valid (unknown or revoked).", "invalid_token", show);
    c.set("scope", scope);
    await next();
  });
}

/**
 * /mcp accepts a tenant API key or an OAuth access token issued by this
 * gateway for its /mcp URL. Either way the tenant and role come from the key:
 * a token carries the id of the key that consented, and stops working when
 * that key is revoked.
 */
export function mcpAuth() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) return unauthenticated(c, "Sign in with OAuth, or send a tenant API key as 'Authorization: Bearer <key>'.");
    let scope: TenantScope | null;
    if (tenantOfKey(token)) {
      scope = await authenticate(c, token);
    } else {
      const grant = await validateAccessToken(c.env, token, () => c.set("storageTrips", (c.get("storageTrips") ?? 0) + 1));
      scope = grant && (await scopeFor(c, grant.tenantId, { keyId: grant.keyId }));
    }
    if (!scope) return unauthenticated(c, "The access token or API key is not valid (unknown, expired or revoked).", "invalid_token");
    c.set("scope", scope);
    await next();
  });
}

export function requireRole(role: Role) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (role === "admin") c.get("scope").requireAdmin();
    await next();
  });
}
