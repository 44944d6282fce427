/**
 * The schedule part of a tenant's registry: reading each model's next check
 * time and moving it when a check starts. Plain functions over the Durable
 * Object's SQL storage; the rules are in src/health/schedule.ts.
 */
import { intervalMs, type Scheduled } from "../health/schedule";
import { all, ScheduleRow } from "./rows";

/** Time a registration or config change leaves for its own probe before the alarm would check the model anyway. */
export const FIRST_CHECK_GRACE_MS = 30_000;

export function scheduleRows(sql: SqlStorage): Scheduled[] {
  return all(sql.exec("SELECT id, status, config, next_check_at FROM models ORDER BY id"), ScheduleRow);
}

/** Checks of these models start now: each is next due one interval from now. */
export function markStarted(sql: SqlStorage, models: readonly Scheduled[], defaultIntervalS: number, now: number): void {
  for (const model of models) sql.exec("UPDATE models SET next_check_at = ? WHERE id = ?", now + intervalMs(model, defaultIntervalS), model.id);
}

/** A model just written: its first check is the probe the write runs; the alarm checks it a little later if that never happens. */
export function awaitFirstCheck(sql: SqlStorage, id: string, now: number): void {
  sql.exec("UPDATE models SET next_check_at = ? WHERE id = ?", now + FIRST_CHECK_GRACE_MS, id);
}
