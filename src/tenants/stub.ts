/**
 * The Worker's side of a tenant's Durable Object: how to reach it, and the
 * shapes its methods answer with. Kept apart from the object's class (imported
 * here as a type only), so Worker modules that talk to the object do not pull
 * in its storage code, and the object does not depend on who calls it.
 */
import type { TenantRegistry } from "../durable/tenant-registry";
import type { ErrorCode } from "../errors";
import type { SecretGrant } from "../config/secrets";
import type { HealthCheck } from "../health/status";
import type { ModelRecord } from "../models/schema";
import type { BudgetSet } from "../usage/budget";
import type { ApiKeyInfo } from "./keys";

/** What the Worker needs to serve a request: the caller's key and the tenant's registry. */
export interface TenantSnapshot {
  tenantId: string | null;
  /** This incarnation of the tenant; writes made for it are refused once it is deleted (or re-created). */
  generation: string | null;
  key: ApiKeyInfo | null;
  models: ModelRecord[];
  /**
   * Every secret name the tenant may reference, with its hosts: its own secrets
   * (sealed; opened only where a call or a probe needs them) and, for other names, the Worker
   * secrets the operator granted. One entry per name.
   */
  grants: SecretGrant[];
  /** The tenant's budgets (its own and its keys'): whether a call needs admission at all. Absent for an unknown key. */
  budgets?: BudgetSet;
}

/** A registry write: the value written, or why nothing was (the object changes nothing then). */
export type WriteResult<T = ModelRecord> =
  { ok: true; value: T } | { ok: false; code: Extract<ErrorCode, "not_found" | "conflict" | "invalid_request">; message: string };

/** An on-demand health check: the fresh results, or when the tenant's bound lets it run. */
export type CheckResult = { ok: true; value: (HealthCheck & { model_id: string })[] } | { ok: false; message: string; retryAfter: number };

/**
 * The object's public methods as the Worker calls them. RPC carries these plain
 * objects by structured clone, but the generated stub type cannot express
 * `Record<string, unknown>` (model config), so the stub is typed from the
 * class's own method signatures here, in one place.
 */
type Remote<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never };
export type TenantStub = Remote<
  Pick<
    TenantRegistry,
    | "open"
    | "isOpen"
    | "destroy"
    | "snapshot"
    | "models"
    | "getModel"
    | "insertModel"
    | "replaceModel"
    | "deleteModel"
    | "setStatus"
    | "createKey"
    | "listKeys"
    | "deleteKey"
    | "grants"
    | "putGrant"
    | "deleteGrant"
    | "secrets"
    | "sealedSecrets"
    | "putSecret"
    | "deleteSecret"
    | "resealSecrets"
    | "recordCall"
    | "breakerTrial"
    | "checks"
    | "checksByModel"
    | "runChecks"
    | "probeModel"
    | "watchdog"
    | "recordUsage"
    | "admitUsage"
    | "usage"
    | "usageOverview"
    | "setBudget"
  >
>;

export function tenantStub(env: Env, tenantId: string): TenantStub {
  return env.TENANTS.getByName(tenantId) as unknown as TenantStub;
}
