/**
 * The shapes a tenant's Durable Object answers with, shared by the object
 * (src/durable/tenant-registry.ts) and the Worker's one door to it
 * (./client.ts), so neither depends on the other's code.
 */
import type { ErrorCode } from "../errors";
import type { SecretGrant } from "../config/secrets";
import type { HealthCheck } from "../health/status";
import type { ModelRecord } from "../models/schema";
import type { TelemetryExport } from "../telemetry/config";
import type { BudgetSet } from "../usage/budget";
import type { ApiKeyInfo } from "./keys";

/** What the Worker needs to serve a request: the caller's key and the tenant's registry. */
export interface TenantSnapshot {
  tenantId: string | null;
  /** This incarnation of the tenant; writes made for it are refused once it is deleted (or re-created). */
  incarnation: string | null;
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
  /** The tenant's OpenTelemetry export, when it set one (src/telemetry/config.ts). */
  telemetry?: TelemetryExport | null;
}

/** A registry write: the value written, or why nothing was (the object changes nothing then). */
export type WriteResult<T = ModelRecord> =
  { ok: true; value: T } | { ok: false; code: Extract<ErrorCode, "not_found" | "conflict" | "invalid_request" | "forbidden">; message: string };

/** An on-demand health check: the fresh results, or when the tenant's bound lets it run. */
export type CheckResult = { ok: true; value: (HealthCheck & { model_id: string })[] } | { ok: false; message: string; retryAfter: number };
