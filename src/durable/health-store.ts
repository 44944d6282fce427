/**
 * The health part of a tenant's registry: recording an outcome (which moves the
 * model's status through the hysteresis in src/health/status.ts) and reading
 * the history back. Plain functions over the Durable Object's SQL storage, so
 * the Durable Object class stays a thin list of operations.
 */
import { type CheckSource, type HealthCheck, type HealthOutcome, INTERMITTENT_WINDOW, nextStatus } from "../health/status";
import { PROBE_LEAD_MS } from "../inference/breaker";
import type { Capability } from "../models/schema";
import { z } from "zod";
import { readBreaker, recordBreakerResult } from "./breaker-store";
import type { FailureStreaks } from "./failure-streaks";
import { all, CheckRow, first, StatusRow } from "./rows";

/** How many results are kept per model. */
export const CHECKS_KEPT = 50;

/**
 * Record one outcome for a model and move its status and its circuit breaker
 * (src/inference/breaker.ts); null when the model no longer exists. A failed
 * real call names the capability it used (`capability`). A check that spent no
 * tokens passing after failed real calls is recorded but moves nothing: only a
 * success of the kind that failed clears them. What a capability probe found
 * about the model's features is stored with the model in the same write.
 *
 * `streaks` (./failure-streaks.ts) follows who failed the model's calls: a
 * streak of real calls from one key alone stays `degraded` at the third
 * failure and asks for a confirming check instead of moving to `error`.
 * `keyId`: the key a real call was made with (null: the operator).
 */
export function recordOutcome(
  storage: DurableObjectStorage,
  modelId: string,
  outcome: HealthOutcome,
  source: CheckSource,
  at: string,
  capability?: Capability,
  streaks?: FailureStreaks,
  keyId: string | null = null,
): HealthCheck | null {
  const sql = storage.sql;
  return storage.transactionSync(() => {
    const model = first(
      sql.exec("SELECT status, status_detail, consecutive_failures, feature_checks, config FROM models WHERE id = ?", modelId),
      StatusRow,
    );
    if (!model) return null;
    // A call's success while nothing is wrong changes nothing: nothing is written (isolates report these, rate-limited).
    if (source === "call" && outcome.ok && model.status === "available" && model.consecutive_failures === 0) {
      streaks?.note(modelId, true, keyId);
      return { at, source, ok: true, status: model.status, latency_ms: outcome.latency_ms, detail: outcome.detail };
    }
    const recent = sql
      .exec<{ ok: number }>("SELECT ok FROM health_checks WHERE model_id = ? ORDER BY id DESC LIMIT ?", modelId, INTERMITTENT_WINDOW)
      .toArray()
      .map((r) => r.ok === 1);
    const failedCapability = readBreaker(sql, modelId).failed_capability;
    const held = outcome.ok && outcome.probe === "metadata" && failedCapability !== null;
    if (held) {
      outcome = {
        ...outcome,
        detail: `${outcome.detail ? `${outcome.detail}; ` : ""}a check that spends no tokens passed, but ${failedCapability} calls failed: the status waits for a ${failedCapability} call or check to succeed`,
      };
    }
    if (!held) streaks?.note(modelId, outcome.ok, source === "call" ? keyId : undefined);
    let next = held ? model : nextStatus(model, outcome, recent, model.config.health_check?.slow_ms);
    if (streaks && next.status === "error" && model.status !== "error" && !streaks.confirmed(modelId)) {
      next = {
        ...next,
        status: "degraded",
        status_detail: `${next.consecutive_failures} failures in a row, all from one API key: a check confirms before error (${outcome.detail ?? "call failed"})`,
      };
      streaks.askConfirmation(modelId);
    }
    const breaker = recordBreakerResult(sql, modelId, model.config, {
      before: model.status,
      after: next.status,
      ok: outcome.ok,
      ...(!outcome.ok && source === "call" && capability && { failedCapability: capability }),
      clears: !held,
      check: source !== "call",
      now: Date.now(),
    });
    // While the breaker is open, the object probes the model just before each cooldown ends (breaker.ts).
    if (breaker.open_until > Date.now()) {
      sql.exec("UPDATE models SET next_check_at = ? WHERE id = ?", Math.max(Date.now(), breaker.open_until - PROBE_LEAD_MS), modelId);
    }
    // A real call's latency includes generation, and a failed check's is time-to-failure:
    // only successful checks set the model's latency figure.
    const checkLatency = source !== "call" && outcome.ok ? outcome.latency_ms : null;
    sql.exec(
      `UPDATE models SET status = ?, status_detail = ?, consecutive_failures = ?,
         last_checked_at = CASE WHEN ? = 'call' THEN last_checked_at ELSE ? END,
         latency_ms = COALESCE(?, latency_ms), feature_checks = ?
       WHERE id = ?`,
      next.status,
      next.status_detail,
      next.consecutive_failures,
      source,
      at,
      checkLatency,
      // A capability probe's findings replace the earlier ones of the features it could tell; the rest stand.
      JSON.stringify({ ...model.feature_checks, ...outcome.feature_checks }),
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
  return all(
    sql.exec(
      "SELECT at, source, ok, status, latency_ms, detail FROM health_checks WHERE model_id = ? ORDER BY id DESC LIMIT ?",
      modelId,
      Math.min(limit, CHECKS_KEPT),
    ),
    CheckRow,
  );
}

/** The newest checks of every model, newest first, in one query (for the status page). */
export function recentChecksByModel(sql: SqlStorage, limit: number): Record<string, HealthCheck[]> {
  const rows = all(
    sql.exec(
      `SELECT model_id, at, source, ok, status, latency_ms, detail FROM (
         SELECT *, row_number() OVER (PARTITION BY model_id ORDER BY id DESC) AS n FROM health_checks
       ) WHERE n <= ? ORDER BY model_id, id DESC`,
      Math.min(limit, CHECKS_KEPT),
    ),
    CheckRow.extend({ model_id: z.string() }),
  );
  const byModel: Record<string, HealthCheck[]> = {};
  for (const { model_id, ...check } of rows) (byModel[model_id] ??= []).push(check);
  return byModel;
}
