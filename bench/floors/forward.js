/**
 * Floor for `/v1`: the thinnest Worker that forwards a chat completion to the
 * upstream. No auth, no registry, no validation: one `fetch` out, the upstream's
 * answer (JSON or SSE) streamed back as is. What any gateway on Workers costs at
 * least, on the same `wrangler dev`.
 *
 * With a `RATE_LIMIT` binding (forward-rl.toml), it first calls it once per
 * request with a fixed key, as the gateway calls its per-tenant rate limit:
 * the floor of a Worker that rate-limits.
 */
import { rateLimited } from "./rate-limit.js";

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/health") return Response.json({ status: "ok" });
    // `/paced/v1/…` goes to the token-paced upstream (streaming's time to first token), `/v1/…` to the instant one.
    const paced = pathname.startsWith("/paced/");
    const path = paced ? pathname.slice("/paced".length) : pathname;
    if (request.method !== "POST" || !path.startsWith("/v1/")) return new Response("Not Found", { status: 404 });
    const refused = await rateLimited(env);
    if (refused) return refused;
    return fetch(`${paced ? env.PACED_URL : env.UPSTREAM_URL}${path.slice(3)}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${env.UPSTREAM_KEY}` },
      body: request.body,
    });
  },
};
