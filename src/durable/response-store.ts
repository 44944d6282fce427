/**
 * Stored Responses API answers (`store: true`, OpenAI's default): the response
 * object as answered and the conversation up to and including it (the chat
 * messages a `previous_response_id` continues). Plain functions over the
 * Durable Object's SQL storage, each synchronous, hence atomic in the object.
 *
 * Bounded: a response is kept RESPONSE_TTL_MS (30 days) and a tenant keeps at
 * most MAX_RESPONSES (1000); storing one drops the expired ones and then the
 * oldest past the cap. A row larger than MAX_RESPONSE_BYTES is not kept
 * (SQLite rows in a Durable Object are capped at 2 MB).
 */
import type { WriteResult } from "../tenants/shapes";

export const RESPONSE_TTL_MS = 30 * 24 * 60 * 60 * 1000;
export const MAX_RESPONSES = 1000;
export const MAX_RESPONSE_BYTES = 1_500_000;

export interface StoredResponse {
  id: string;
  created_at: number;
  /** The response object as JSON text. */
  response: string;
  /** The conversation (chat messages) up to and including this answer, as JSON text. */
  conversation: string;
}

export function putResponse(sql: SqlStorage, row: StoredResponse, now: number): WriteResult<{ id: string; stored: boolean }> {
  if (row.response.length + row.conversation.length > MAX_RESPONSE_BYTES) return { ok: true, value: { id: row.id, stored: false } };
  sql.exec("DELETE FROM responses WHERE expires_at <= ?", now);
  sql.exec(
    "INSERT OR REPLACE INTO responses (id, created_at, expires_at, response, conversation) VALUES (?, ?, ?, ?, ?)",
    row.id,
    row.created_at,
    now + RESPONSE_TTL_MS,
    row.response,
    row.conversation,
  );
  sql.exec("DELETE FROM responses WHERE id NOT IN (SELECT id FROM responses ORDER BY created_at DESC, id DESC LIMIT ?)", MAX_RESPONSES);
  return { ok: true, value: { id: row.id, stored: true } };
}

export function getResponse(sql: SqlStorage, id: string, now: number): StoredResponse | null {
  const row = sql
    .exec<{ id: string; created_at: number; response: string; conversation: string }>(
      "SELECT id, created_at, response, conversation FROM responses WHERE id = ? AND expires_at > ?",
      id,
      now,
    )
    .toArray()[0];
  return row ? { id: row.id, created_at: row.created_at, response: row.response, conversation: row.conversation } : null;
}

export function deleteResponse(sql: SqlStorage, id: string): WriteResult<{ id: string }> {
  if (sql.exec("DELETE FROM responses WHERE id = ?", id).rowsWritten === 0) {
    return { ok: false, code: "not_found", message: `Response "${id}" not found.` };
  }
  return { ok: true, value: { id } };
}
