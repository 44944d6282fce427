/**
 * Authentication as small Hono middleware factories:
 * - `operatorAuth()` accepts only the operator token (Worker secret ADMIN_TOKEN);
 * - `tenantAuth()` accepts a tenant API key and puts a TenantScope on the context;
 * - `requireRole("admin")` refuses user keys with 403.
 * Missing or bad credentials get 401 with a WWW-Authenticate header that points
 * MCP clients at the protected-resource metadata (RFC 9728).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { GatewayError, httpErrorResponse } from "../errors";
import type { AppEnv } from "../http/app-env";
import { loadTenant } from "../tenants/cache";
import { TenantScope } from "../tenants/scope";
import { hashKey, safeEqual, tenantOfKey, type Role } from "./keys";

export const RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/mcp";

function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1] ?? null;
}

function unauthenticated(url: string, message: string): Response {
  const response = httpErrorResponse(new GatewayError("unauthenticated", message));
  const metadata = new URL(RESOURCE_METADATA_PATH, url).toString();
  response.headers.set("www-authenticate", `Bearer realm="mcp-model-gateway", resource_metadata="${metadata}"`);
  return response;
}

export function operatorAuth() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const expected = c.env.ADMIN_TOKEN;
    if (!expected) {
      throw new GatewayError("internal", "The operator token is not configured (set the ADMIN_TOKEN Worker secret).");
    }
    const token = bearer(c.req.header("authorization"));
    if (!token) return unauthenticated(c.req.url, "Send the operator token as 'Authorization: Bearer <ADMIN_TOKEN>'.");
    if (!safeEqual(token, expected)) return unauthenticated(c.req.url, "The operator token is not valid.");
    await next();
  });
}

export function tenantAuth() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) return unauthenticated(c.req.url, "Send a tenant API key as 'Authorization: Bearer <key>'.");
    const scope = await authenticate(c, token);
    if (!scope) return unauthenticated(c.req.url, "The API key is not valid (unknown or revoked).");
    c.set("scope", scope);
    await next();
  });
}

/** The tenant scope for a tenant API key, or null when the key is not valid (unknown, forged or revoked). */
export async function authenticate(c: Context<AppEnv>, token: string): Promise<TenantScope | null> {
  const tenantId = tenantOfKey(token);
  if (!tenantId) return null;
  const loaded = await loadTenant(c.env, tenantId, await hashKey(token), () => {
    c.set("storageTrips", (c.get("storageTrips") ?? 0) + 1);
  });
  return loaded && new TenantScope(c.env, (p) => c.executionCtx.waitUntil(p), tenantId, loaded.key, loaded.snapshot);
}

export function requireRole(role: Role) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (role === "admin") c.get("scope").requireAdmin();
    await next();
  });
}
