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
import { MCP_SCOPE, publicUrl } from "../oauth/server";
import { validateAccessToken } from "../oauth/tokens";
import { hashKey, safeEqual, tenantOfKey, type Role } from "./keys";

export const RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/mcp";

function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1] ?? null;
}

/** 401 with the RFC 9728 challenge that sends MCP clients to the protected-resource metadata. */
function unauthenticated(c: Context<AppEnv>, message: string, error?: "invalid_token"): Response {
  const response = httpErrorResponse(new GatewayError("unauthenticated", message));
  const metadata = `${c.env.PUBLIC_URL ? publicUrl(c.env) : new URL(c.req.url).origin}${RESOURCE_METADATA_PATH}`;
  const parts = [`realm="mcp-model-gateway"`, `resource_metadata="${metadata}"`, `scope="${MCP_SCOPE}"`];
  if (error) parts.push(`error="${error}"`);
  response.headers.set("www-authenticate", `Bearer ${parts.join(", ")}`);
  return response;
}

export function operatorAuth() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const expected = c.env.ADMIN_TOKEN;
    if (!expected) {
      throw new GatewayError("internal", "The operator token is not configured (set the ADMIN_TOKEN Worker secret).");
    }
    const token = bearer(c.req.header("authorization"));
    if (!token) return unauthenticated(c, "Send the operator token as 'Authorization: Bearer <ADMIN_TOKEN>'.");
    if (!safeEqual(token, expected)) return unauthenticated(c, "The operator token is not valid.", "invalid_token");
    await next();
  });
}

export function tenantAuth() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) return unauthenticated(c, "Send a tenant API key as 'Authorization: Bearer <key>'.");
    const scope = await authenticate(c, token);
    if (!scope) return unauthenticated(c, "The API key is not valid (unknown or revoked).", "invalid_token");
    c.set("scope", scope);
    await next();
  });
}

/** The tenant scope for a tenant API key, or null when the key is not valid (unknown, forged or revoked). */
export async function authenticate(c: Context<AppEnv>, token: string): Promise<TenantScope | null> {
  const tenantId = tenantOfKey(token);
  if (!tenantId) return null;
  return scopeFor(c, tenantId, { hash: await hashKey(token) });
}

/** The tenant scope for a key of a tenant named by id (a signed status page session), or null when that key is gone. */
export function authenticateKeyId(c: Context<AppEnv>, tenantId: string, keyId: string): Promise<TenantScope | null> {
  return scopeFor(c, tenantId, { keyId });
}

async function scopeFor(c: Context<AppEnv>, tenantId: string, credential: { hash: string } | { keyId: string }) {
  const loaded = await loadTenant(c.env, tenantId, credential, () => {
    c.set("storageTrips", (c.get("storageTrips") ?? 0) + 1);
  });
  if (!loaded) return null;
  await enforceTenantRate(c.env, tenantId);
  return new TenantScope(c.env, (p) => c.executionCtx.waitUntil(p), tenantId, loaded.key, loaded.snapshot);
}

/**
 * Per-tenant request rate, with the Workers Rate Limiting binding (counted at
 * the edge location, no storage round trip). Only authenticated requests count,
 * so nobody can spend a tenant's budget without its credentials.
 */
async function enforceTenantRate(env: Env, tenantId: string): Promise<void> {
  const { success } = await env.TENANT_RATE_LIMIT.limit({ key: tenantId });
  if (!success) {
    throw new GatewayError("rate_limited", "This tenant is over its request rate limit; retry in a minute.", { retryAfter: 60 });
  }
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
