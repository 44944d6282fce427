/**
 * The health part of a tenant's registry: recording an outcome (which moves the
 * model's status through the hysteresis in src/health/status.ts) and reading
 * the history back. Plain functions over the Durable Object's SQL storage, so
 * the Durable Object class stays a thin list of operations.
 */
import { nextStatus, INTERMITTENT_WINDOW, type HealthOutcome } from "../health/status";
import type { ModelStatus } from "../models/schema";

/** How many results are kept per model. */
export const CHECKS_KEPT = 50;

export type CheckSource = "scheduled" | "manual" | "call";

export interface HealthCheck {
  at: string;
  source: CheckSource;
  ok: boolean;
  status: ModelStatus;
  latency_ms: number | null;
  detail: string | null;
}

interface CheckRow extends Record<string, SqlStorageValue> {
  at: string;
  source: string;
  ok: number;
  status: string;
  latency_ms: number | null;
  detail: string | null;
}

/** Record one outcome for a model and move its status; null when the model no longer exists. */
export function recordOutcome(
  storage: DurableObjectStorage,
  modelId: string,
  outcome: HealthOutcome,
  source: CheckSource,
  at: string,
): HealthCheck | null {
  const sql = storage.sql;
  return storage.transactionSync(() => {
    const model = sql
      .exec<{ status: string; status_detail: string | null; consecutive_failures: number; config: string }>(
        "SELECT status, status_detail, consecutive_failures, config FROM models WHERE id = ?",
        modelId,
      )
      .toArray()[0];
    if (!model) return null;
    const recent = sql
      .exec<{ ok: number }>("SELECT ok FROM health_checks WHERE model_id = ? ORDER BY id DESC LIMIT ?", modelId, INTERMITTENT_WINDOW)
      .toArray()
      .map((r) => r.ok === 1);
    const slowMs = (JSON.parse(model.config) as { health_check?: { slow_ms?: number } }).health_check?.slow_ms;
    const next = nextStatus(
      { status: model.status as ModelStatus, status_detail: model.status_detail, consecutive_failures: model.consecutive_failures },
      outcome,
      recent,
      slowMs,
    );
    // A real call's latency includes generation, and a failed check's is time-to-failure:
    // only successful checks set the model's latency figure.
    const checkLatency = source !== "call" && outcome.ok ? outcome.latency_ms : null;
    sql.exec(
      `UPDATE models SET status = ?, status_detail = ?, consecutive_failures = ?,
         last_checked_at = CASE WHEN ? = 'call' THEN last_checked_at ELSE ? END,
         latency_ms = COALESCE(?, latency_ms)
       WHERE id = ?`,
      next.status,
      next.status_detail,
      next.consecutive_failures,
      source,
      at,
      checkLatency,
      modelId,
    );
    sql.exec(
      "INSERT INTO health_checks (model_id, at, source, ok, status, latency_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
      modelId,
      at,
      source,
      outcome.ok ? 1 : 0,
      next.status,
      outcome.latency_ms,
      outcome.detail,
    );
    sql.exec(
      "DELETE FROM health_checks WHERE model_id = ? AND id <= (SELECT id FROM health_checks WHERE model_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
      modelId,
      modelId,
      CHECKS_KEPT,
    );
    return { at, source, ok: outcome.ok, status: next.status, latency_ms: outcome.latency_ms, detail: outcome.detail };
  });
}

/** The newest checks of a model, newest first. */
export function recentChecks(sql: SqlStorage, modelId: string, limit = 20): HealthCheck[] {
  return sql
    .exec<CheckRow>(
      "SELECT at, source, ok, status, latency_ms, detail FROM health_checks WHERE model_id = ? ORDER BY id DESC LIMIT ?",
      modelId,
      Math.min(limit, CHECKS_KEPT),
    )
    .toArray()
    .map(toCheck);
}

function toCheck(r: CheckRow): HealthCheck {
  return { at: r.at, source: r.source as CheckSource, ok: r.ok === 1, status: r.status as ModelStatus, latency_ms: r.latency_ms, detail: r.detail };
}

/** The newest checks of every model, newest first, in one query (for the status page). */
export function recentChecksByModel(sql: SqlStorage, limit: number): Record<string, HealthCheck[]> {
  const rows = sql
    .exec<CheckRow & { model_id: string }>(
      `SELECT model_id, at, source, ok, status, latency_ms, detail FROM (
         SELECT *, row_number() OVER (PARTITION BY model_id ORDER BY id DESC) AS n FROM health_checks
       ) WHERE n <= ? ORDER BY model_id, id DESC`,
      Math.min(limit, CHECKS_KEPT),
    )
    .toArray();
  const byModel: Record<string, HealthCheck[]> = {};
  for (const r of rows) (byModel[r.model_id] ??= []).push(toCheck(r));
  return byModel;
}
