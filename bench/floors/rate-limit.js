/**
 * The gateway's per-request rate limit, for the rate-limited floors: when the
 * Worker has a `RATE_LIMIT` binding (forward-rl.toml, mcp-rl.toml), one
 * `limit({ key })` call with a fixed key, as src/tenants/authenticate.ts calls
 * TENANT_RATE_LIMIT with the tenant id; a refusal is a 429 (the bench raises the
 * limit so none happens, and would stop on one). Without the binding, nothing.
 */
export async function rateLimited(env) {
  if (!env.RATE_LIMIT) return undefined;
  const { success } = await env.RATE_LIMIT.limit({ key: "bench" });
  return success ? undefined : new Response("rate limited", { status: 429 });
}
