/**
 * Tenant API keys. A key names its tenant (`mgw_<tenant>_<secret>`) so the
 * Worker knows which Durable Object holds its hash without a directory lookup:
 * one storage round trip checks the key and loads the registry together.
 * Only the SHA-256 of a key is stored; keys carry 256 random bits, so a fast
 * hash is enough (there is nothing to brute-force).
 */
import { z } from "zod";

export const Role = z.enum(["admin", "user"]);
export type Role = z.infer<typeof Role>;

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;
export const TenantId = z.string().regex(TENANT_ID_PATTERN, "must match [a-z0-9][a-z0-9-]{0,39} (lowercase letters, digits, '-')");

const KEY_FORMAT = /^mgw_([a-z0-9][a-z0-9-]{0,39})_([A-Za-z0-9_-]{43})$/;

/** What anyone may see of a key: never the key, nor its hash. */
export const ApiKeyInfo = z.object({ id: z.string(), role: Role, name: z.string().nullable(), created_at: z.string() });
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

export function newApiKey(tenantId: string): { id: string; key: string } {
  return { id: `key_${randomToken(9)}`, key: `mgw_${tenantId}_${randomToken(32)}` };
}

/** The tenant a key claims to belong to, or null when it is not a gateway key at all. */
export function tenantOfKey(key: string): string | null {
  return KEY_FORMAT.exec(key)?.[1] ?? null;
}

export async function hashKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function randomToken(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Constant-time comparison for the operator token. */
export function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.byteLength !== y.byteLength) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}
