/**
 * Checking an OAuth access token presented at /mcp: issued by this gateway,
 * for this gateway's /mcp URL (audience), unexpired, with the `mcp` scope.
 * Valid answers are kept in the isolate for a few seconds, so a busy client's
 * calls need no KV read; a revoked token stops working within that time.
 */
import { z } from "zod";
import { hashKey } from "../tenants/keys";
import { MCP_SCOPE, oauth } from "./server";

const CACHE_MS = 10_000;
const MAX_ENTRIES = 5_000;
const cache = new Map<string, { grant: Grant; until: number }>();

const Grant = z.object({ tenantId: z.string(), keyId: z.string() });
type Grant = z.infer<typeof Grant>;

export async function validateAccessToken(env: Env, token: string, onRoundTrip: () => void): Promise<Grant | null> {
  const id = await hashKey(token);
  const now = Date.now();
  const hit = cache.get(id);
  if (hit && hit.until > now) return hit.grant;

  const { server, resource } = oauth(env);
  onRoundTrip();
  const result = await server.validateToken(resource, token, env);
  if (!result || result.audience !== resource || !result.scope.includes(MCP_SCOPE)) return null;
  if (result.expiresAt * 1000 <= now) return null;
  const grant = Grant.safeParse(result.props);
  if (!grant.success) return null;
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(id, { grant: grant.data, until: Math.min(now + CACHE_MS, result.expiresAt * 1000) });
  return grant.data;
}
