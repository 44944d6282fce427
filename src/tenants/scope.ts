/**
 * Everything one request does for one tenant goes through a TenantScope: who
 * the caller is, the tenant's registry as loaded for this request, and the
 * tenant's Durable Object for writes. The tenant comes only from the
 * credential, never from arguments, so another tenant's ids are unreachable.
 */
import type { ApiKeyInfo, Role } from "../tenants/keys";
import { tenantStub, type TenantSnapshot, type WriteResult } from "./stub";
import { GatewayError } from "../errors";
import type { ModelRecord } from "../models/schema";
import { invalidateTenant } from "./cache";
import { type AuditEntry, audited } from "./directory";

export class TenantScope {
  constructor(
    readonly env: Env,
    private readonly waitUntil: (promise: Promise<unknown>) => void,
    readonly tenantId: string,
    /** The tenant incarnation the caller's key belongs to: every write says it, so none lands in a deleted or re-created tenant. */
    readonly generation: string,
    readonly key: ApiKeyInfo,
    readonly snapshot: TenantSnapshot,
  ) {}

  get role(): Role {
    return this.key.role;
  }

  get stub() {
    return tenantStub(this.env, this.tenantId);
  }

  requireAdmin(): void {
    if (this.role !== "admin") throw new GatewayError("forbidden", "This needs a tenant admin key; this key has role user.");
  }

  /** A model of this tenant, or the same "not found" whatever the id (another tenant's ids included). */
  model(id: string): ModelRecord {
    const model = this.snapshot.models.find((m) => m.id === id);
    if (!model) throw new GatewayError("not_found", `Model "${id}" not found.`);
    return model;
  }

  /** Unwrap a Durable Object write and drop cached copies of this tenant (inside `audited`, which records it). */
  committed<T>(result: WriteResult<T>): T {
    if (!result.ok) throw new GatewayError(result.code, result.message);
    invalidateTenant(this.tenantId);
    return result.value;
  }

  /** Make a change only once its audit row (actor: this key) is written; see directory.ts `audited`. */
  audited<T>(
    action: string,
    target: string | undefined,
    detail: Record<string, unknown> | undefined,
    change: () => Promise<T>,
    settle?: (value: T) => Pick<AuditEntry, "target" | "detail">,
  ): Promise<T> {
    return audited(this.env.DB, { tenantId: this.tenantId, actor: `key:${this.key.id}`, action, target, detail }, change, settle);
  }

  /** Drop this isolate's cached copy of the tenant, so the next request reads it afresh. */
  forget(): void {
    invalidateTenant(this.tenantId);
  }

  /** Run health checks now (one model, or all) and drop cached statuses so the next read sees them. */
  async checkHealth(modelId?: string) {
    if (modelId !== undefined) this.model(modelId);
    const result = await this.stub.runChecks(modelId === undefined ? null : [modelId]);
    if (!result.ok) throw new GatewayError("rate_limited", result.message, { retryAfter: result.retryAfter });
    invalidateTenant(this.tenantId);
    return result.value;
  }

  /** A model with its most recent health checks (one extra round trip: history is not cached). */
  async modelWithChecks(id: string) {
    const model = this.model(id);
    return { ...model, recent_checks: await this.stub.checks(id, 20) };
  }

  /** Work that may finish after the response (passive health reports). */
  background(promise: Promise<unknown>): void {
    this.waitUntil(promise.catch((error: unknown) => console.error("background work failed", error instanceof Error ? error.message : error)));
  }
}
