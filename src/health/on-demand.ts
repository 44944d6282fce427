/**
 * The bound on health checks anyone asks for (`check_health`, the admin
 * route): each one reaches hosts the tenant chose, once per model, so a key
 * that calls it in a loop would make the gateway a request amplifier. Each
 * tenant has a bucket of model probes: a full check of the largest registry
 * fits in it at once, and it refills at `ON_DEMAND_PER_MINUTE`. The bucket
 * lives in the tenant's Durable Object, the one place every such check of the
 * tenant passes through; it starts full when the object wakes (an object is
 * only evicted after it has been idle, so that never opens a flood).
 * Scheduled checks and registration probes are not counted: the schedule and
 * the admin's writes bound those.
 */
import { takeToken } from "../util/token-bucket";

/** Model probes one tenant may ask for at once (the most models a tenant may hold). */
export const ON_DEMAND_BURST = 200;
/** Model probes per minute the bucket refills with. */
export const ON_DEMAND_PER_MINUTE = 40;

export type OnDemandAdmission = { ok: true } | { ok: false; message: string; retryAfter: number };

/** Admit an on-demand check of `models` models for `tenantId`, or say when it may run. */
export function admitOnDemandCheck(tenantId: string, models: number, now = Date.now()): OnDemandAdmission {
  if (models === 0) return { ok: true };
  const taken = takeToken(`health:${tenantId}`, ON_DEMAND_PER_MINUTE, now, { count: Math.min(models, ON_DEMAND_BURST), burst: ON_DEMAND_BURST });
  if (taken.ok) return taken;
  return {
    ok: false,
    retryAfter: taken.retryAfter,
    message: `On-demand health checks are limited to ${ON_DEMAND_BURST} model probes at once and ${ON_DEMAND_PER_MINUTE} a minute per tenant; this one needs ${models}. Try again in ${taken.retryAfter} s.`,
  };
}
