/**
 * Status page sign-in, without keeping the API key in the browser:
 *
 * - The session cookie holds `{tenant, key id, expiry}` signed with HMAC-SHA256
 *   under a key derived (HKDF) from the `SECRETS_KEY` Worker secret: never the
 *   API key, good for one hour, checked on every request (signature, expiry,
 *   and that the key still exists: revoking the key ends its sessions). It opens
 *   the status page and nothing else: no other route reads cookies.
 * - Over https it is `__Host-mgw_status` (Secure, Path=/, no Domain: no subdomain
 *   can set or read it); over plain http (local development) `mgw_status` on
 *   /status. HttpOnly and SameSite=Strict either way.
 * - Sign-in is guarded against login CSRF twice: the browser must say the post
 *   is same-origin (`Sec-Fetch-Site`, else `Origin`), and the form must carry the
 *   token the sign-in page set in a SameSite=Strict cookie (double submit). No
 *   scripts needed.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { randomToken, safeEqual } from "../tenants/keys";
import type { AppEnv } from "../http/app-env";
import { publicUrl } from "../oauth/server";

export const SESSION_TTL_S = 3600;
const CSRF_TTL_S = 1800;
const HKDF_INFO = "mcp-model-gateway status session v1";

export interface Session {
  tenantId: string;
  keyId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

const utf8 = new TextEncoder();
let derived: { secret: string; key: Promise<CryptoKey> } | undefined;

function sessionKey(env: Env): Promise<CryptoKey> {
  const secret = env.SECRETS_KEY;
  if (!secret) throw new Error("SECRETS_KEY is not set: status page sessions are signed with a key derived from it.");
  if (derived?.secret !== secret) {
    const key = crypto.subtle
      .importKey("raw", utf8.encode(secret), "HKDF", false, ["deriveKey"])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: utf8.encode(HKDF_INFO) },
          base,
          { name: "HMAC", hash: "SHA-256", length: 256 },
          false,
          ["sign", "verify"],
        ),
      );
    derived = { secret, key };
  }
  return derived.key;
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const unb64url = (text: string) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** A signed session value for a key of a tenant, valid for SESSION_TTL_S from `now` (ms). */
export async function sealSession(env: Env, tenantId: string, keyId: string, now = Date.now()): Promise<string> {
  const payload = b64url(utf8.encode(JSON.stringify({ t: tenantId, k: keyId, e: Math.floor(now / 1000) + SESSION_TTL_S })));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await sessionKey(env), utf8.encode(payload)));
  return `${payload}.${b64url(mac)}`;
}

/** The session in a cookie value, or null when it is malformed, forged, edited or expired. */
export async function openSession(env: Env, value: string, now = Date.now()): Promise<Session | null> {
  const match = /^([A-Za-z0-9_-]{1,512})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return null;
  const [, payload, mac] = match as unknown as [string, string, string];
  let claims: { t?: unknown; k?: unknown; e?: unknown };
  try {
    if (!(await crypto.subtle.verify("HMAC", await sessionKey(env), unb64url(mac), utf8.encode(payload)))) return null;
    claims = JSON.parse(new TextDecoder().decode(unb64url(payload))) as typeof claims;
  } catch {
    return null;
  }
  if (typeof claims.t !== "string" || typeof claims.k !== "string" || typeof claims.e !== "number") return null;
  if (claims.e * 1000 <= now) return null;
  return { tenantId: claims.t, keyId: claims.k, expiresAt: claims.e };
}

/** Cookie names and attributes for this request's scheme. */
function cookies(c: Context<AppEnv>) {
  const https = new URL(c.req.url).protocol === "https:";
  const base = { httpOnly: true, sameSite: "Strict", secure: https, path: https ? "/" : "/status" } as const;
  return {
    session: { name: https ? "__Host-mgw_status" : "mgw_status", options: base },
    csrf: { name: https ? "__Host-mgw_status_csrf" : "mgw_status_csrf", options: base },
  };
}

export function readSessionCookie(c: Context<AppEnv>): string | undefined {
  return getCookie(c, cookies(c).session.name);
}

export async function startSession(c: Context<AppEnv>, tenantId: string, keyId: string): Promise<void> {
  const { session } = cookies(c);
  setCookie(c, session.name, await sealSession(c.env, tenantId, keyId), { ...session.options, maxAge: SESSION_TTL_S });
}

export function endSession(c: Context<AppEnv>): void {
  const { session } = cookies(c);
  deleteCookie(c, session.name, session.options);
}

/** A fresh anti-CSRF token for the sign-in form, also set as a cookie (double submit). */
export function csrfToken(c: Context<AppEnv>): string {
  const { csrf } = cookies(c);
  const token = randomToken(24);
  setCookie(c, csrf.name, token, { ...csrf.options, maxAge: CSRF_TTL_S });
  return token;
}

/**
 * Whether a form post comes from this site's own page. `Sec-Fetch-Site` (set by
 * the browser, never by a page) must say same-origin when sent; without it the
 * `Origin` must be this site's. (The pages send `Referrer-Policy: no-referrer`,
 * under which browsers send `Origin: null` even for their own form posts, so
 * `Sec-Fetch-Site` is the one to trust first.) With `token`, the form's token
 * must also match the cookie the sign-in page set.
 */
export function sameSiteForm(c: Context<AppEnv>, token?: string): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) {
    if (site !== "same-origin" && site !== "none") return false;
  } else {
    const origin = c.req.header("origin");
    const own = new Set([new URL(c.req.url).origin]);
    if (c.env.PUBLIC_URL) own.add(new URL(publicUrl(c.env)).origin);
    if (origin !== undefined && !own.has(origin)) return false;
  }
  if (token === undefined) return true;
  const expected = getCookie(c, cookies(c).csrf.name);
  return Boolean(expected && token && safeEqual(token, expected));
}
