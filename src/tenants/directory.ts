/**
 * The tenant directory and the audit log, in D1. Only the operator's routes
 * read the directory; serving a tenant's calls never needs it.
 */
import { z } from "zod";
import { ERROR_STATUS, GatewayError } from "../errors";

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

/**
 * Run an admin change only once its audit row is written, so no change stands
 * without one. The row is written first as `pending` (if that fails, nothing is
 * changed and the caller gets 503 `audit_unavailable`), then marked `done` with
 * what the change produced (`settle`: a new key's id). A change refused with a
 * 4xx (conflict, not found) changed nothing and its row is removed; one that
 * failed otherwise is kept as `failed`, since part of it may stand. If that
 * last write fails the row stays `pending`: the change may have happened, and
 * the log says so.
 *
 * Why not after the change: a change whose audit write then fails would stand
 * unaudited. Why not in the tenant's Durable Object: the operator's changes
 * (tenants, grants) are not all there, and one D1 write before the change is
 * simpler than an outbox shipped later. Admin actions are rare; the extra
 * round trip is cheap.
 */
export async function audited<T>(
  db: D1Database,
  entry: AuditEntry,
  change: () => Promise<T>,
  settle?: (value: T) => Pick<AuditEntry, "target" | "detail">,
): Promise<T> {
  let id: number;
  try {
    const row = await db
      .prepare("INSERT INTO audit_log (tenant_id, actor, action, target, detail, outcome) VALUES (?, ?, ?, ?, ?, 'pending') RETURNING id")
      .bind(entry.tenantId, entry.actor, entry.action, entry.target ?? null, entry.detail ? JSON.stringify(entry.detail) : null)
      .first<{ id: number }>();
    if (!row) throw new Error("no row id returned");
    id = row.id;
  } catch (error) {
    console.error("audit write failed", entry.action, error instanceof Error ? error.message : error);
    throw new GatewayError("audit_unavailable", `Nothing was changed: the audit log could not be written (${entry.action}). Retry shortly.`, {
      retryAfter: 5,
    });
  }
  let value: T;
  try {
    value = await change();
  } catch (error) {
    const refused = error instanceof GatewayError && ERROR_STATUS[error.code] < 500;
    await finishAudit(db, id, refused ? "refused" : "failed");
    throw error;
  }
  const settled = settle?.(value);
  await finishAudit(db, id, "done", settled?.target ?? entry.target, settled?.detail ?? entry.detail);
  return value;
}

async function finishAudit(db: D1Database, id: number, outcome: "done" | "failed" | "refused", target?: string, detail?: Record<string, unknown>) {
  try {
    if (outcome === "refused") {
      await db.prepare("DELETE FROM audit_log WHERE id = ?").bind(id).run();
      return;
    }
    await db
      .prepare("UPDATE audit_log SET outcome = ?, target = coalesce(?, target), detail = coalesce(?, detail) WHERE id = ?")
      .bind(outcome, target ?? null, detail ? JSON.stringify(detail) : null, id)
      .run();
  } catch (error) {
    // The row stays 'pending': the change may have happened, and the log says so.
    console.error("audit outcome write failed", id, error instanceof Error ? error.message : error);
  }
}
