/**
 * When a tenant's models are checked: pure functions over the models' schedule,
 * used by the tenant's Durable Object to pick the checks an alarm runs and to
 * arm the next alarm, and to tell the directory (D1) when the cron watchdog
 * should look at the tenant if its alarm has not run by then.
 *
 *   each model is due `interval` after its last check started (a model never
 *   checked is due at once); `interval` is the model's `health_check.interval_s`,
 *   else the operator's HEALTH_CHECK_INTERVAL_S;
 *   an interval of 0 means "at every fired cron": such a model arms no alarm
 *   (except a model in `error` with a check set for later: its circuit breaker's probe);
 *   models in maintenance are never due.
 */
import { commonConfig } from "../config/common";
import type { ModelStatus } from "../models/schema";

/** A model as the schedule sees it. */
export interface Scheduled {
  id: string;
  status: ModelStatus;
  config: Record<string, unknown>;
  /** ms since the epoch; null: never scheduled (due now). */
  next_check_at: number | null;
}

/** Models due within this much of an alarm run with it, so near neighbours share one alarm. */
export const DUE_SLACK_MS = 1_000;
/** At most this many checks per alarm run (its own subrequest budget); the rest run in the next one, at once. */
export const MAX_CHECKS_PER_RUN = 100;
/**
 * How long past its alarm time a tenant may stay silent before the watchdog re-arms it:
 * longer than an alarm run takes (MAX_CHECKS_PER_RUN checks, 4 at a time, 15 s each at
 * worst, is 6.25 minutes; a few models take seconds), shorter than the cron's patience.
 */
export const WATCHDOG_GRACE_MS = 2 * 60_000;

export function intervalMs(model: Pick<Scheduled, "config">, defaultIntervalS: number): number {
  return (commonConfig(model.config).health_check?.interval_s ?? defaultIntervalS) * 1000;
}

/** The models an alarm (or a cron's nudge) should check at `now`, oldest first, capped. */
export function dueModels<T extends Scheduled>(models: readonly T[], now: number): T[] {
  return models
    .filter((m) => m.status !== "maintenance" && (m.next_check_at ?? 0) <= now + DUE_SLACK_MS)
    .sort((a, b) => (a.next_check_at ?? 0) - (b.next_check_at ?? 0))
    .slice(0, MAX_CHECKS_PER_RUN);
}

export interface Plan {
  /** When to run the alarm next (ms), or null for no alarm. */
  alarmAt: number | null;
  /** What the directory should hold: when the watchdog should look at this tenant, or null (nothing to check). */
  overdueAt: number | null;
}

/** The next alarm, and when this tenant counts as overdue for the cron watchdog. */
export function plan(models: readonly Scheduled[], defaultIntervalS: number, now: number): Plan {
  let alarmAt: number | null = null;
  let everyCron = false;
  for (const model of models) {
    if (model.status === "maintenance") continue;
    // A model checked at every cron still gets an alarm for its open circuit breaker's probe.
    const breakerProbe = model.status === "error" && model.next_check_at !== null && model.next_check_at > now;
    if (intervalMs(model, defaultIntervalS) === 0 && !breakerProbe) {
      everyCron = true;
      continue;
    }
    const due = Math.max(model.next_check_at ?? now, now);
    if (alarmAt === null || due < alarmAt) alarmAt = due;
  }
  const overdueAt = everyCron ? now : alarmAt === null ? null : alarmAt + WATCHDOG_GRACE_MS;
  return { alarmAt, overdueAt };
}
