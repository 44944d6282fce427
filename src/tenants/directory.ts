/**
 * The tenant directory and the audit log, in D1. Only the operator's routes
 * read the directory; serving a tenant's calls never needs it.
 */
import { z } from "zod";

export const Tenant = z.object({ id: z.string(), name: z.string(), created_at: z.string() });
export type Tenant = z.infer<typeof Tenant>;

export async function insertTenant(db: D1Database, id: string, name: string): Promise<Tenant | null> {
  const row = await db
    .prepare("INSERT INTO tenants (id, name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id, name, created_at")
    .bind(id, name)
    .first();
  return row ? Tenant.parse(row) : null;
}

export async function getTenant(db: D1Database, id: string): Promise<Tenant | null> {
  const row = await db.prepare("SELECT id, name, created_at FROM tenants WHERE id = ?").bind(id).first();
  return row ? Tenant.parse(row) : null;
}

export async function listTenants(db: D1Database): Promise<Tenant[]> {
  const { results } = await db.prepare("SELECT id, name, created_at FROM tenants ORDER BY id").all();
  return results.map((r) => Tenant.parse(r));
}

export async function deleteTenant(db: D1Database, id: string): Promise<boolean> {
  const result = await db.prepare("DELETE FROM tenants WHERE id = ?").bind(id).run();
  return result.meta.changes > 0;
}

export interface AuditEntry {
  tenantId: string | null;
  actor: string;
  action: string;
  target?: string;
  /** Never secret values: names, ids, backend types. */
  detail?: Record<string, unknown>;
}

export async function writeAudit(db: D1Database, entry: AuditEntry): Promise<void> {
  await db
    .prepare("INSERT INTO audit_log (tenant_id, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)")
    .bind(entry.tenantId, entry.actor, entry.action, entry.target ?? null, entry.detail ? JSON.stringify(entry.detail) : null)
    .run();
}
