/**
 * The isolate's cache of key checks and tenant registries. A warm call needs no
 * storage round trip; a cold one needs exactly one (the Durable Object returns
 * the key and the registry together). Entries live for `TTL_MS` at most, and a
 * write through this isolate drops its tenant's entries at once; other
 * isolates see a write within `TTL_MS`.
 */
import { type ApiKeyInfo, tenantOfKey } from "../tenants/keys";
import type { TenantSnapshot } from "./shapes";

export const TTL_MS = 10_000;
/**
 * How long a credential that matched nothing is refused without asking the
 * tenant's object again. Keys and key ids are random, so one that matched
 * nothing cannot start matching later; the short life only bounds memory.
 */
export const REJECTED_TTL_MS = 5_000;
const MAX_ENTRIES = 5_000;

interface Entry<T> {
  value: T;
  at: number;
}

/** A key as it was found, with the incarnation of the tenant it was found in. */
const keys = new Map<string, Entry<{ tenantId: string; incarnation: string; key: ApiKeyInfo }>>();
const snapshots = new Map<string, Entry<TenantSnapshot & { incarnation: string }>>();
const rejected = new Map<string, Entry<true>>();

function fresh<T>(entry: Entry<T> | undefined, now: number): T | undefined {
  return entry && now - entry.at < TTL_MS ? entry.value : undefined;
}

function put<T>(map: Map<string, Entry<T>>, id: string, value: T, now: number) {
  map.delete(id);
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value!);
  map.set(id, { value, at: now });
}

/**
 * The caller's key and its tenant's registry: from the cache, or with one round
 * trip. An API key is found by its hash; an OAuth grant names the key that
 * consented by id (so revoking the key ends its grants too).
 */
export async function loadTenant(
  tenantId: string,
  credential: { hash: string } | { keyId: string },
  /** The one round trip, through the tenant client (./client.ts). */
  read: () => Promise<TenantSnapshot>,
): Promise<{ key: ApiKeyInfo; incarnation: string; snapshot: TenantSnapshot } | null> {
  const now = Date.now();
  const cacheKey = "hash" in credential ? `${tenantId}:${credential.hash}` : `id:${tenantId}:${credential.keyId}`;
  const key = fresh(keys.get(cacheKey), now);
  const cached = fresh(snapshots.get(tenantId), now);
  // A key found in one incarnation never vouches for another: after a delete and re-create, both are read again.
  if (key && key.tenantId === tenantId && cached && key.incarnation === cached.incarnation) {
    return { key: key.key, incarnation: cached.incarnation, snapshot: cached };
  }
  if (rejected.has(cacheKey) && now - rejected.get(cacheKey)!.at < REJECTED_TTL_MS) return null;

  const loaded = await read();
  const { key: found, incarnation } = loaded;
  if (!found || !incarnation || loaded.tenantId !== tenantId) {
    put(rejected, cacheKey, true, now);
    return null;
  }
  // The cached object itself is handed out, cold or warm: per-snapshot caches (inference/instances.ts) key on it.
  const snapshot = { ...loaded, incarnation };
  put(keys, cacheKey, { tenantId, incarnation, key: found }, now);
  put(snapshots, tenantId, snapshot, now);
  return { key: found, incarnation, snapshot };
}

/**
 * The hashes of keys that authenticated here lately, by the key itself, so a
 * warm request skips the SHA-256. A hash is a pure function of its key, so this
 * never decides anything: whether the key is still valid is the `keys` entry's
 * business (dropped on revocation, like any write). Only keys that matched are
 * kept (random strings cannot fill it), in memory only, never logged, for
 * `TTL_MS` from when they were first seen.
 */
const keyHashes = new Map<string, Entry<string>>();

/** The hash of a key that authenticated within `TTL_MS`, if any. */
export function knownKeyHash(token: string): string | undefined {
  return fresh(keyHashes.get(token), Date.now());
}

/** Remember the hash of a key that just authenticated. */
export function rememberKeyHash(token: string, hash: string): void {
  put(keyHashes, token, hash, Date.now());
}

/** After a write: forget the tenant's registry and every key of it this isolate knows. */
export function invalidateTenant(tenantId: string): void {
  snapshots.delete(tenantId);
  for (const id of rejected.keys()) if (id.startsWith(`${tenantId}:`) || id.startsWith(`id:${tenantId}:`)) rejected.delete(id);
  for (const [hash, entry] of keys) if (entry.value.tenantId === tenantId) keys.delete(hash);
  for (const token of keyHashes.keys()) if (tenantOfKey(token) === tenantId) keyHashes.delete(token);
}
