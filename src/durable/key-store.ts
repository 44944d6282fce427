/**
 * The API keys part of a tenant's registry: the `api_keys` table holds each
 * key's SHA-256 hash, never the key (the Worker hashes it, src/tenants/keys.ts).
 * Plain functions over the Durable Object's SQL storage, each synchronous,
 * hence atomic in the object.
 */
import type { ApiKeyInfo } from "../tenants/keys";
import type { WriteResult } from "../tenants/shapes";
import { all, first, KeyRow } from "./rows";
import { setBudget } from "./budget-store";

/** Most API keys one tenant may hold at once. */
export const MAX_KEYS = 100;

/** The key whose hash is given (API keys) or whose id is given (OAuth grants made with that key); one indexed read. */
export function findKey(sql: SqlStorage, value: string, by: "hash" | "id"): ApiKeyInfo | null {
  const column = by === "id" ? "id" : "hash";
  return first(sql.exec(`SELECT id, role, name, created_at FROM api_keys WHERE ${column} = ?`, value), KeyRow);
}

export function hasKey(sql: SqlStorage, id: string): boolean {
  return sql.exec("SELECT 1 FROM api_keys WHERE id = ?", id).toArray().length > 0;
}

export function listKeys(sql: SqlStorage): ApiKeyInfo[] {
  return all(sql.exec("SELECT id, role, name, created_at FROM api_keys ORDER BY created_at, id"), KeyRow);
}

export function createKey(sql: SqlStorage, key: ApiKeyInfo & { hash: string }): WriteResult<ApiKeyInfo> {
  if (sql.exec<{ n: number }>("SELECT count(*) AS n FROM api_keys").one().n >= MAX_KEYS) {
    return { ok: false, code: "conflict", message: `A tenant holds at most ${MAX_KEYS} API keys; revoke one first.` };
  }
  sql.exec("INSERT INTO api_keys (id, hash, role, name, created_at) VALUES (?, ?, ?, ?, ?)", key.id, key.hash, key.role, key.name, key.created_at);
  return { ok: true, value: { id: key.id, role: key.role, name: key.name, created_at: key.created_at } };
}

/** Revoke a key; its budget goes with it. */
export function deleteKey(sql: SqlStorage, id: string, at: string): WriteResult<{ id: string }> {
  if (sql.exec("DELETE FROM api_keys WHERE id = ?", id).rowsWritten === 0) {
    return { ok: false, code: "not_found", message: `Key "${id}" not found.` };
  }
  setBudget(sql, id, null, at);
  return { ok: true, value: { id } };
}
