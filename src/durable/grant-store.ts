/**
 * The grants part of a tenant's registry: which of the Worker's own secrets
 * (set by the operator, never stored here) the tenant may reference, and for
 * which hosts. Plain functions over the Durable Object's SQL storage, each
 * synchronous, hence atomic in the object.
 */
import type { SecretGrant } from "../config/secrets";
import type { WriteResult } from "../tenants/shapes";
import { all, GrantRow } from "./rows";

export function listGrants(sql: SqlStorage): SecretGrant[] {
  return all(sql.exec("SELECT name, hosts FROM grants ORDER BY name"), GrantRow);
}

/** Grant a Worker secret, or change the hosts it may be sent to. */
export function putGrant(sql: SqlStorage, grant: SecretGrant, at: string): WriteResult<SecretGrant> {
  sql.exec(
    "INSERT INTO grants (name, hosts, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET hosts = excluded.hosts, updated_at = excluded.updated_at",
    grant.name,
    JSON.stringify(grant.hosts),
    at,
  );
  return { ok: true, value: grant };
}

export function deleteGrant(sql: SqlStorage, name: string): WriteResult<{ name: string }> {
  if (sql.exec("DELETE FROM grants WHERE name = ?", name).rowsWritten === 0) {
    return { ok: false, code: "not_found", message: `Grant "${name}" not found.` };
  }
  return { ok: true, value: { name } };
}
