/**
 * Which browsers and hostnames may reach /mcp. Host: the gateway's own public
 * hostname (from PUBLIC_URL), plus loopback names when that is a local URL; a
 * request for any other Host (DNS rebinding, a stray custom domain) is refused.
 * Origin: the same hostnames plus ALLOWED_ORIGINS (comma-separated hostnames of
 * browser apps, e.g. an MCP client's web UI); a `null` or unlisted Origin is
 * refused with 403 by the MCP handler. CORS answers only listed origins, and
 * never with credentials (callers send bearer tokens, not cookies).
 */
import { localhostAllowedHostnames } from "@modelcontextprotocol/server";
import { publicUrl } from "../oauth/server";
import { settings } from "../settings";

export interface McpAccess {
  hostnames: string[];
  originHostnames: string[];
}

const memo = new WeakMap<Env, McpAccess>();

export function mcpAccess(env: Env): McpAccess {
  let access = memo.get(env);
  if (!access) {
    const host = new URL(publicUrl(env)).hostname;
    const loopback = localhostAllowedHostnames();
    const hostnames = loopback.includes(host) ? [...new Set([host, ...loopback])] : [host];
    access = { hostnames, originHostnames: [...new Set([...hostnames, ...settings(env).allowedOrigins])] };
    memo.set(env, access);
  }
  return access;
}

/** The origin to echo in Access-Control-Allow-Origin, or null when the browser app is not allowed. */
export function corsOrigin(origin: string, env: Env): string | null {
  // No Origin header (any client but a browser): nothing to parse, nothing to allow.
  if (!origin) return null;
  try {
    const { hostname, protocol } = new URL(origin);
    if (protocol !== "https:" && protocol !== "http:") return null;
    return mcpAccess(env).originHostnames.includes(hostname) ? origin : null;
  } catch {
    return null;
  }
}
