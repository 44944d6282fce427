/**
 * The circuit breaker part of a tenant's registry: each model's breaker in
 * the `breakers` table (no row: closed, nothing pending), moved by the rules
 * of src/inference/breaker.ts. Plain functions over the Durable Object's SQL
 * storage; the object is the one place that grants trial calls, so isolates
 * converge on it.
 */
import { z } from "zod";
import { commonConfig } from "../config/common";
import { type Admission, afterResult, type BreakerState, CLOSED, decideTrial, type Result } from "../inference/breaker";
import { Capability } from "../models/schema";
import { first } from "./rows";

const BreakerRow = z.object({
  open_until: z.number(),
  openings: z.number(),
  trial_until: z.number(),
  failed_capability: Capability.nullable(),
});

export function readBreaker(sql: SqlStorage, modelId: string): BreakerState {
  return (
    first(sql.exec("SELECT open_until, openings, trial_until, failed_capability FROM breakers WHERE model_id = ?", modelId), BreakerRow) ?? CLOSED
  );
}

function writeBreaker(sql: SqlStorage, modelId: string, state: BreakerState): void {
  if (state.openings === 0 && state.open_until === 0 && state.trial_until === 0 && state.failed_capability === null) {
    sql.exec("DELETE FROM breakers WHERE model_id = ?", modelId);
    return;
  }
  sql.exec(
    `INSERT INTO breakers (model_id, open_until, openings, trial_until, failed_capability) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (model_id) DO UPDATE SET open_until = excluded.open_until, openings = excluded.openings,
       trial_until = excluded.trial_until, failed_capability = excluded.failed_capability`,
    modelId,
    state.open_until,
    state.openings,
    state.trial_until,
    state.failed_capability,
  );
}

/** Move a model's breaker after a recorded result (called inside the recording transaction). */
export function recordBreakerResult(sql: SqlStorage, modelId: string, config: Record<string, unknown>, result: Result): BreakerState {
  const next = afterResult(readBreaker(sql, modelId), commonConfig(config), result);
  writeBreaker(sql, modelId, next);
  return next;
}

/** Grant a trial call to a model in `error` whose cooldown is over, to one caller at a time. */
export function grantTrial(storage: DurableObjectStorage, modelId: string, now: number): Admission {
  const sql = storage.sql;
  return storage.transactionSync(() => {
    const row = sql.exec<{ status: string; config: string }>("SELECT status, config FROM models WHERE id = ?", modelId).toArray()[0];
    // Gone: refuse for as long as an isolate may cache the registry that still lists it.
    if (!row) return { state: "open", until: now + 10_000 };
    if (row.status !== "error") return { state: "closed" };
    const { answer, state } = decideTrial(readBreaker(sql, modelId), commonConfig(JSON.parse(row.config) as Record<string, unknown>), now);
    writeBreaker(sql, modelId, state);
    return answer;
  });
}

/** A model's config changed, it was removed, or an admin set its status: its breaker starts afresh. */
export function resetBreaker(sql: SqlStorage, modelId: string): void {
  sql.exec("DELETE FROM breakers WHERE model_id = ?", modelId);
}

/** The capability each model's failed calls used, for models whose failures are not yet cleared. */
export function failedCapabilities(sql: SqlStorage): Map<string, Capability> {
  const rows = sql.exec<{ model_id: string; failed_capability: string }>(
    "SELECT model_id, failed_capability FROM breakers WHERE failed_capability IS NOT NULL",
  );
  const map = new Map<string, Capability>();
  for (const row of rows) {
    const parsed = Capability.safeParse(row.failed_capability);
    if (parsed.success) map.set(row.model_id, parsed.data);
  }
  return map;
}
