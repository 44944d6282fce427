/**
 * Large MCP tool results kept for a short while, so a tool can answer with a
 * `resource_link` instead of a body hosts would cut (src/mcp/large.ts). Plain
 * functions over the Durable Object's SQL storage, each synchronous, hence
 * atomic in the object.
 *
 * A result is JSON text split into rows of at most RESULT_CHUNK_CHARS (SQLite
 * rows in a Durable Object are capped at 2 MB). It belongs to the key that made
 * it (no other key reads it), lives RESULT_TTL_MS, and a tenant keeps at most
 * MAX_TENANT_RESULT_CHARS in all: storing one drops the expired ones, then the
 * oldest until the new one fits. One larger than MAX_RESULT_CHARS is refused.
 */
import type { WriteResult } from "../tenants/shapes";

export const RESULT_TTL_MS = 60 * 60 * 1000;
export const MAX_RESULT_CHARS = 24_000_000;
export const MAX_TENANT_RESULT_CHARS = 64_000_000;
export const RESULT_CHUNK_CHARS = 1_000_000;

export interface StoredResult {
  id: string;
  key_id: string;
  mime_type: string;
  /** The result as JSON text. */
  text: string;
}

/** The bounds a store keeps; tests pass smaller ones to see them hold. */
export interface ResultLimits {
  maxResult: number;
  maxTotal: number;
}
const LIMITS: ResultLimits = { maxResult: MAX_RESULT_CHARS, maxTotal: MAX_TENANT_RESULT_CHARS };

export function putResult(sql: SqlStorage, row: StoredResult, now: number, limits = LIMITS): WriteResult<{ id: string; expires_at: number }> {
  const size = row.text.length;
  if (size > limits.maxResult) {
    return {
      ok: false,
      code: "invalid_request",
      message: `The result is ${size} characters; at most ${limits.maxResult} are kept. Ask for less in one call.`,
    };
  }
  sql.exec("DELETE FROM result_chunks WHERE id IN (SELECT id FROM results WHERE expires_at <= ?)", now);
  sql.exec("DELETE FROM results WHERE expires_at <= ?", now);
  const used = () => sql.exec<{ total: number | null }>("SELECT SUM(size) AS total FROM results").one().total ?? 0;
  while (used() + size > limits.maxTotal) {
    const oldest = sql.exec<{ id: string }>("SELECT id FROM results ORDER BY created_at, id LIMIT 1").toArray()[0];
    if (!oldest) break;
    dropResult(sql, oldest.id);
  }
  const expires = now + RESULT_TTL_MS;
  sql.exec(
    "INSERT INTO results (id, key_id, mime_type, size, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    row.id,
    row.key_id,
    row.mime_type,
    size,
    now,
    expires,
  );
  for (let part = 0; part * RESULT_CHUNK_CHARS < size || part === 0; part++) {
    sql.exec(
      "INSERT INTO result_chunks (id, part, text) VALUES (?, ?, ?)",
      row.id,
      part,
      row.text.slice(part * RESULT_CHUNK_CHARS, (part + 1) * RESULT_CHUNK_CHARS),
    );
  }
  return { ok: true, value: { id: row.id, expires_at: expires } };
}

/** The result, for the key that made it and before it expires; else null (the same for any other id). */
export function getResult(sql: SqlStorage, id: string, keyId: string, now: number): StoredResult | null {
  const head = sql
    .exec<{ mime_type: string }>("SELECT mime_type FROM results WHERE id = ? AND key_id = ? AND expires_at > ?", id, keyId, now)
    .toArray()[0];
  if (!head) return null;
  const parts = sql.exec<{ text: string }>("SELECT text FROM result_chunks WHERE id = ? ORDER BY part", id).toArray();
  return { id, key_id: keyId, mime_type: head.mime_type, text: parts.map((p) => p.text).join("") };
}

function dropResult(sql: SqlStorage, id: string): void {
  sql.exec("DELETE FROM result_chunks WHERE id = ?", id);
  sql.exec("DELETE FROM results WHERE id = ?", id);
}
