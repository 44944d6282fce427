/**
 * The grants part of a tenant's registry: which of the Worker's own secrets
 * (set by the operator, never stored here) the tenant may reference, and for
 * which hosts; and which service bindings (backend Workers) its `worker`
 * models may call (`kind` 'binding', no hosts). Plain functions over the Durable Object's SQL storage, each
 * synchronous, hence atomic in the object.
 */
import type { SecretGrant } from "../config/secrets";
import type { WriteResult } from "../tenants/shapes";
import { all, GrantRow } from "./rows";

export function listGrants(sql: SqlStorage): SecretGrant[] {
  return all(sql.exec("SELECT name, hosts, kind FROM grants ORDER BY name"), GrantRow);
}

/** Grant a Worker secret (or change the hosts it may be sent to), or a service binding. */
export function putGrant(sql: SqlStorage, grant: SecretGrant, at: string): WriteResult<SecretGrant> {
  const hosts = grant.binding ? [] : grant.hosts;
  sql.exec(
    "INSERT INTO grants (name, hosts, kind, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET hosts = excluded.hosts, kind = excluded.kind, updated_at = excluded.updated_at",
    grant.name,
    JSON.stringify(hosts),
    grant.binding ? "binding" : "secret",
    at,
  );
  return { ok: true, value: grant.binding ? { name: grant.name, hosts, binding: true } : { name: grant.name, hosts } };
}

export function deleteGrant(sql: SqlStorage, name: string): WriteResult<{ name: string }> {
  if (sql.exec("DELETE FROM grants WHERE name = ?", name).rowsWritten === 0) {
    return { ok: false, code: "not_found", message: `Grant "${name}" not found.` };
  }
  return { ok: true, value: { name } };
}
