/**
 * From a credential to a TenantScope: a tenant API key (found by its hash) or
 * the key id an OAuth grant carries. Shared by the auth middleware, the OAuth
 * consent page and the status page; it knows nothing of HTTP headers or OAuth.
 */
import type { Context } from "hono";
import { GatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { checkFailedAuthBudget, recordFailedAuth } from "./auth-throttle";
import { knownKeyHash, loadTenant, rememberKeyHash } from "./cache";
import { TenantClient } from "./client";
import { hashKey, tenantOfKey } from "./keys";
import { TenantScope } from "./scope";

/** The tenant scope for a tenant API key, or null when the key is not valid (unknown, forged or revoked). */
export async function authenticate(c: Context<AppEnv>, token: string): Promise<TenantScope | null> {
  const tenantId = tenantOfKey(token);
  if (!tenantId) return null;
  const known = knownKeyHash(token);
  const hash = known ?? (await hashKey(token));
  const scope = await scopeFor(c, tenantId, { hash });
  if (scope && !known) rememberKeyHash(token, hash);
  return scope;
}

/** The tenant scope for a credential of a known tenant, or null when the tenant does not know it. */
export async function scopeFor(c: Context<AppEnv>, tenantId: string, credential: { hash: string } | { keyId: string }) {
  let asked = false;
  const loaded = await loadTenant(tenantId, credential, () => {
    // Only a credential the cache cannot vouch for gets here: past the bucket, it costs the object nothing.
    checkFailedAuthBudget(tenantId);
    asked = true;
    c.set("storageTrips", (c.get("storageTrips") ?? 0) + 1);
    return TenantClient.snapshot(c.env, tenantId, credential);
  });
  if (!loaded) {
    // A repeat of a credential already refused costs nothing (the cache answered), so only a lookup counts.
    if (asked) recordFailedAuth(tenantId);
    return null;
  }
  await enforceTenantRate(c.env, tenantId);
  return new TenantScope(c.env, (p) => c.executionCtx.waitUntil(p), tenantId, loaded.incarnation, loaded.key, loaded.snapshot);
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

/** The tenant scope for a key of a tenant named by id (a signed status page session), or null when that key is gone. */
export function authenticateKeyId(c: Context<AppEnv>, tenantId: string, keyId: string): Promise<TenantScope | null> {
  return scopeFor(c, tenantId, { keyId });
}
