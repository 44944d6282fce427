/**
 * Checking an OAuth access token presented at /mcp: issued by this gateway,
 * for this gateway's /mcp URL (audience), unexpired, with the `mcp` scope.
 * Answers are kept in the isolate for a few seconds, so a busy client's calls
 * need no KV read (a revoked token stops working within that time), and a bad
 * token sent in a loop costs one KV read per few seconds, not one per request.
 */
import { z } from "zod";
import { hashKey } from "../tenants/keys";
import { MCP_SCOPE, oauth } from "./server";

const CACHE_MS = 10_000;
/**
 * A token that was not valid is refused from the isolate for this long without
 * another KV read. Short, because a token issued a moment ago in another
 * location may not have reached this one's KV yet.
 */
const REJECTED_MS = 5_000;
const MAX_ENTRIES = 5_000;
const cache = new Map<string, { grant: Grant | null; until: number }>();

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
  const grant = Grant.safeParse(result?.props);
  if (!result || result.audience !== resource || !result.scope.includes(MCP_SCOPE) || result.expiresAt * 1000 <= now || !grant.success) {
    remember(id, null, now + REJECTED_MS);
    return null;
  }
  remember(id, grant.data, Math.min(now + CACHE_MS, result.expiresAt * 1000));
  return grant.data;
}

function remember(id: string, grant: Grant | null, until: number) {
  cache.delete(id);
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(id, { grant, until });
}
