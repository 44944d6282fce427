/**
 * How a model's status follows its health results: the state machine with
 * hysteresis, kept pure so it can be read and tested on its own.
 *
 *   success, fast, steady          -> available (also straight out of `error`: the outage is over)
 *   success but slow (> slow_ms)   -> degraded ("slow")
 *   success, but the last 10 results hold 2+ separate runs of failures -> degraded ("intermittent":
 *     it keeps failing and recovering; one blip or one outage that ended is not flapping)
 *   failure, fewer than 3 in a row -> degraded (one 429 or timeout is not an outage)
 *   3 failures in a row            -> error   (calls then skip it at once, or go to fallbacks)
 *   maintenance                    -> stays maintenance: only an admin sets or clears it
 *
 * Failed real calls count as failures too (passive health); a check succeeding
 * brings a model in `error` back.
 */
import { z } from "zod";
import { type FeatureChecks, ModelStatus } from "../models/schema";

export const FAILURES_FOR_ERROR = 3;
export const INTERMITTENT_WINDOW = 10;
/** Separate runs of failures in the window that make a model "intermittent". */
export const INTERMITTENT_RUNS = 2;
export const DEFAULT_SLOW_MS = 5_000;

export interface HealthOutcome {
  ok: boolean;
  latency_ms: number | null;
  detail: string | null;
  /** What a check did: `metadata` spent no tokens (a model list, tags, presence), `generation` was a real call. */
  probe?: "metadata" | "generation";
  /** What a capability probe found, per feature it could tell (stored with the model; see src/health/capabilities.ts). */
  feature_checks?: FeatureChecks;
}

export const CheckSource = z.enum(["scheduled", "manual", "call"]).describe("A scheduled check, one run on demand, or a real call");
export type CheckSource = z.infer<typeof CheckSource>;

/** One recorded result: an outcome, where it came from, and the status it left the model in. */
export const HealthCheck = z.object({
  at: z.string(),
  source: CheckSource,
  ok: z.boolean(),
  status: ModelStatus,
  latency_ms: z.number().nullable(),
  detail: z.string().nullable(),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

export interface StatusState {
  status: ModelStatus;
  status_detail: string | null;
  consecutive_failures: number;
}

/** `recent` is the model's previous outcomes, newest first (before this one). */
export function nextStatus(current: StatusState, outcome: HealthOutcome, recent: readonly boolean[], slowMs = DEFAULT_SLOW_MS): StatusState {
  if (current.status === "maintenance") {
    return { ...current, consecutive_failures: outcome.ok ? 0 : current.consecutive_failures + 1 };
  }
  if (!outcome.ok) {
    const failures = current.consecutive_failures + 1;
    const detail = outcome.detail ?? "check failed";
    return failures >= FAILURES_FOR_ERROR
      ? { status: "error", status_detail: `${failures} failures in a row: ${detail}`, consecutive_failures: failures }
      : { status: "degraded", status_detail: `failure ${failures} of ${FAILURES_FOR_ERROR} before error: ${detail}`, consecutive_failures: failures };
  }
  const window = [true, ...recent].slice(0, INTERMITTENT_WINDOW);
  const failed = window.filter((ok) => !ok).length;
  const runs = window.filter((ok, i) => !ok && window[i - 1] !== false).length;
  if (outcome.latency_ms !== null && outcome.latency_ms > slowMs) {
    return {
      status: "degraded",
      status_detail: `slow: ${(outcome.latency_ms / 1000).toFixed(1)} s (over ${slowMs / 1000} s)`,
      consecutive_failures: 0,
    };
  }
  if (runs >= INTERMITTENT_RUNS && current.status !== "error") {
    return { status: "degraded", status_detail: `intermittent: ${failed} of the last ${window.length} results failed`, consecutive_failures: 0 };
  }
  return { status: "available", status_detail: null, consecutive_failures: 0 };
}
