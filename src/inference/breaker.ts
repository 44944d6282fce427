/**
 * Each model's circuit breaker.
 *
 *   closed     calls go through; failures count toward `error` (src/health/status.ts)
 *   open       the model is in `error`: calls skip it (to a fallback, or fail fast)
 *              for a cooldown of `circuit_breaker.cooldown_s` (default 2 s),
 *              doubled at each failed probe or trial, up to `max_cooldown_s`
 *              (default 8 s). Meanwhile the tenant's object probes the model
 *              itself, with one tiny call of the capability that failed, half a
 *              second before each cooldown ends (src/durable/breaker-store.ts
 *              schedules it): a passing probe closes the breaker, a failing one
 *              re-opens it for the next cooldown. No caller waits on the dead
 *              upstream meanwhile.
 *   half-open  the cooldown is over and no probe has answered yet: one real call
 *              is let through as a trial, with one attempt (no retries: a failed
 *              trial falls over at once). Its success closes the breaker; its
 *              failure re-opens it for the next, longer cooldown.
 *
 * The state lives in the tenant's Durable Object (src/durable/breaker-store.ts),
 * which alone grants trials, so every isolate converges on it: an isolate asks
 * only when its cached registry shows the model in `error` and it does not
 * already know the breaker to be open, and then remembers the answer until the
 * cooldown it was told ends. Checks move the breaker too (a passing check
 * closes it), but a check that spends no tokens never clears failures of real
 * calls: a model whose calls failed is checked with one tiny call of the
 * capability that failed.
 */
import type { CommonConfig } from "../config/common";
import type { Capability, ModelRecord, ModelStatus } from "../models/schema";
import type { TenantScope } from "../tenants/scope";

export interface BreakerState {
  /** Epoch ms until which calls skip the model; 0 when closed. */
  open_until: number;
  /** Times it opened since it last closed (the cooldown doubles with each). */
  openings: number;
  /** Epoch ms until which a granted trial call holds the half-open breaker. */
  trial_until: number;
  /** The capability of the last failed real call, until a success of the model clears it. */
  failed_capability: Capability | null;
}

export const CLOSED: BreakerState = { open_until: 0, openings: 0, trial_until: 0, failed_capability: null };

/** Default cooldowns (seconds): short, since probes, not callers, find out when the upstream heals. */
export const DEFAULT_COOLDOWN_S = 2;
export const DEFAULT_MAX_COOLDOWN_S = 8;
/** How long before a cooldown ends the object probes, so the probe's answer is in when isolates ask again. */
export const PROBE_LEAD_MS = 500;

/** What the object answers an isolate that would call a model in `error`. */
export type Admission = { state: "closed" } | { state: "trial" } | { state: "open"; until: number };

export function breakerSettings(config: Pick<CommonConfig, "circuit_breaker">) {
  return {
    cooldown_s: config.circuit_breaker?.cooldown_s ?? DEFAULT_COOLDOWN_S,
    max_cooldown_s: config.circuit_breaker?.max_cooldown_s ?? DEFAULT_MAX_COOLDOWN_S,
  };
}

/** The cooldown after the `openings`-th opening in a row. */
export function cooldownMs(config: Pick<CommonConfig, "circuit_breaker">, openings: number): number {
  const { cooldown_s, max_cooldown_s } = breakerSettings(config);
  return Math.min(max_cooldown_s, cooldown_s * 2 ** Math.max(0, openings - 1)) * 1000;
}

/** How long one trial call holds the half-open breaker before another may be tried. */
export function trialLeaseMs(config: Pick<CommonConfig, "timeout">): number {
  return Math.min(60_000, config.timeout * 1000 + 1000);
}

export interface Result {
  /** The model's status before and after the result (src/health/status.ts). */
  before: ModelStatus;
  after: ModelStatus;
  ok: boolean;
  /** Set for a failed real call: the capability it used. */
  failedCapability?: Capability;
  /** Whether a success may clear failures of real calls (a check that spent no tokens may not). */
  clears: boolean;
  /** The result is a check's (the object's own probe), not a real call's. */
  check: boolean;
  now: number;
}

/** The breaker after one recorded result. */
export function afterResult(state: BreakerState, config: Pick<CommonConfig, "circuit_breaker">, result: Result): BreakerState {
  const next = { ...state };
  if (!result.ok && result.failedCapability) next.failed_capability = result.failedCapability;
  if (result.ok && result.clears) next.failed_capability = null;
  const open = (openings: number): BreakerState => ({
    ...next,
    openings,
    open_until: result.now + cooldownMs(config, openings),
    trial_until: 0,
  });
  if (result.after === "error" && result.before !== "error") return open(1);
  // A failed check (the recovery probe), or a failure once the cooldown is over (a trial), re-opens it for longer;
  // real calls that were already on their way when it opened change nothing.
  if (result.after === "error" && !result.ok && (result.check || result.now >= state.open_until)) return open(state.openings + 1);
  if (result.after !== "error" && result.before === "error") return { ...next, openings: 0, open_until: 0, trial_until: 0 };
  return next;
}

/** Whether a call may go to a model in `error` now, decided where the state lives. */
export function decideTrial(state: BreakerState, config: Pick<CommonConfig, "timeout">, now: number): { answer: Admission; state: BreakerState } {
  if (state.open_until > now) return { answer: { state: "open", until: state.open_until }, state };
  if (state.trial_until > now) return { answer: { state: "open", until: state.trial_until }, state };
  return { answer: { state: "trial" }, state: { ...state, trial_until: now + trialLeaseMs(config) } };
}

// --- the isolate's side ------------------------------------------------------

/** Breakers this isolate knows to be open, until when (epoch ms). */
const knownOpen = new Map<string, number>();
const MAX_KNOWN = 5_000;

/**
 * May this call go to `model`, which the cached registry shows in `error`?
 * Yes when the object grants a trial (`trial`: one attempt, no retries), or
 * says the model is no longer in `error` (the cached registry is then dropped). No, with until when, while
 * the breaker is open or another call holds the trial.
 */
export async function passBreaker(
  scope: TenantScope,
  model: ModelRecord,
): Promise<{ admitted: true; trial: boolean } | { admitted: false; until: number }> {
  const key = `${scope.tenantId}/${scope.incarnation}/${model.id}`;
  const now = Date.now();
  const known = knownOpen.get(key);
  if (known !== undefined && known > now) return { admitted: false, until: known };
  let answer: Admission;
  try {
    answer = await scope.tenant.breakerTrial(model.id);
  } catch (error) {
    console.error("circuit breaker: the tenant's object did not answer", error instanceof Error ? error.message : error);
    answer = { state: "open", until: now + 1000 };
  }
  if (answer.state === "open") {
    knownOpen.delete(key);
    if (knownOpen.size >= MAX_KNOWN) knownOpen.delete(knownOpen.keys().next().value!);
    knownOpen.set(key, answer.until);
    return { admitted: false, until: answer.until };
  }
  knownOpen.delete(key);
  return { admitted: true, trial: answer.state === "trial" };
}
