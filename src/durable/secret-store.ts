/**
 * The tenant's own secrets, in its Durable Object's `secrets` table (migration
 * 3). Only ciphertexts are stored: values are sealed in the Worker
 * (`src/secrets/`) and opened where a call needs them (the Worker for inference,
 * the object's own health probes for a probe). Each function is synchronous,
 * hence atomic in the object.
 */
import type { z } from "zod";
import { findReferences, type SecretGrant } from "../config/secrets";
import type { ModelRecord } from "../models/schema";
import type { SealedSecret } from "../secrets/crypto";
import type { WriteResult } from "../tenants/shapes";
import { all, SealedRow, SecretInfoRow } from "./rows";

/** Bounds the snapshot every call loads (each ciphertext is up to ~8 KiB). */
export const MAX_SECRETS = 100;

/** What anyone may see of a secret: never the value, nor its ciphertext. */
export type SecretInfo = z.infer<typeof SecretInfoRow>;

export function listSecrets(sql: SqlStorage): SecretInfo[] {
  return all(sql.exec("SELECT name, hosts, updated_at FROM secrets ORDER BY name"), SecretInfoRow);
}

/**
 * The secrets as the Worker resolves them: sealed, each tagged with this
 * object's own tenant id (the AAD), so a row copied from another tenant's
 * object carries this tenant's id and fails to decrypt.
 */
export function sealedSecrets(sql: SqlStorage, tenantId: string): SecretGrant[] {
  return all(sql.exec("SELECT name, ciphertext, iv, key_id, hosts FROM secrets ORDER BY name"), SealedRow).map((r) => ({
    name: r.name,
    hosts: r.hosts,
    sealed: { ciphertext: r.ciphertext, iv: r.iv, key_id: r.key_id, tenant_id: tenantId },
  }));
}

/** Store or replace a secret (the value was sealed by the Worker for this tenant and name). */
export function putSecret(sql: SqlStorage, input: { name: string; hosts: string[]; sealed: SealedSecret }, at: string): WriteResult<SecretInfo> {
  const exists = sql.exec("SELECT 1 FROM secrets WHERE name = ?", input.name).toArray().length > 0;
  const count = sql.exec<{ n: number }>("SELECT count(*) AS n FROM secrets").one().n;
  if (!exists && count >= MAX_SECRETS) {
    return { ok: false, code: "conflict", message: `A tenant holds at most ${MAX_SECRETS} secrets; delete one first.` };
  }
  sql.exec(
    `INSERT INTO secrets (name, ciphertext, iv, key_id, hosts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, iv = excluded.iv, key_id = excluded.key_id,
       hosts = excluded.hosts, updated_at = excluded.updated_at`,
    input.name,
    input.sealed.ciphertext,
    input.sealed.iv,
    input.sealed.key_id,
    JSON.stringify(input.hosts),
    at,
    at,
  );
  return { ok: true, value: { name: input.name, hosts: input.hosts, updated_at: at } };
}

/** Delete a secret, unless a model still references it (a model would then silently lose, or change, its credential). */
export function deleteSecret(sql: SqlStorage, name: string, models: readonly ModelRecord[]): WriteResult<{ name: string }> {
  if (sql.exec("SELECT 1 FROM secrets WHERE name = ?", name).toArray().length === 0) {
    return { ok: false, code: "not_found", message: `Secret "${name}" not found.` };
  }
  const users = models.filter((m) => findReferences(m.config).some((r) => r.name === name)).map((m) => m.id);
  if (users.length > 0) {
    return {
      ok: false,
      code: "conflict",
      message: `Secret ${name} is used by model(s) ${users.join(", ")}; change or remove them first.`,
    };
  }
  sql.exec("DELETE FROM secrets WHERE name = ?", name);
  return { ok: true, value: { name } };
}

/**
 * Rotation's write: replace each ciphertext only if it is still the one the
 * Worker re-encrypted (same IV: every encryption has a fresh one), so a
 * secret stored again meanwhile is never overwritten with its old value.
 * Returns how many were replaced.
 */
export function resealSecrets(sql: SqlStorage, updates: readonly { name: string; previous_iv: ArrayBuffer; sealed: SealedSecret }[]): number {
  let written = 0;
  for (const u of updates) {
    written += sql.exec(
      "UPDATE secrets SET ciphertext = ?, iv = ?, key_id = ? WHERE name = ? AND iv = ?",
      u.sealed.ciphertext,
      u.sealed.iv,
      u.sealed.key_id,
      u.name,
      u.previous_iv,
    ).rowsWritten;
  }
  return written;
}
