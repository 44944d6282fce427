/**
 * How often an isolate tells the tenant's object that a model it sees
 * `available` answered: at most once per model every `SUCCESS_REPORT_MS`.
 * Enough to break a streak of failures one key makes (src/durable/failure-streaks.ts)
 * while other keys' calls succeed, at a cost bounded per isolate and model
 * whatever the traffic; reports go after the response (the caller never waits).
 */
import type { TenantScope } from "../tenants/scope";

export const SUCCESS_REPORT_MS = 5_000;
/** Most models remembered at once; the oldest is forgotten first (it may then report once more). */
const MAX_TRACKED = 5_000;

const lastReport = new Map<string, number>();

/** Whether a success of `modelId` should be reported now (and, if so, it counts as reported). */
export function successDue(scope: TenantScope, modelId: string, now = Date.now()): boolean {
  const key = `${scope.tenantId}/${scope.incarnation}/${modelId}`;
  const last = lastReport.get(key);
  if (last !== undefined && now - last < SUCCESS_REPORT_MS) return false;
  lastReport.delete(key);
  if (lastReport.size >= MAX_TRACKED) lastReport.delete(lastReport.keys().next().value!);
  lastReport.set(key, now);
  return true;
}
