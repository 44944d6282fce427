/**
 * Everything one request does for one tenant goes through a TenantScope: who
 * the caller is, the tenant's registry as loaded for this request, and the
 * tenant's Durable Object for writes. The tenant comes only from the
 * credential, never from arguments, so another tenant's ids are unreachable.
 */
import type { ApiKeyInfo, Role } from "../tenants/keys";
import { GatewayError } from "../errors";
import type { ModelRecord } from "../models/schema";
import { TenantClient } from "./client";
import { type AuditEntry, audited } from "./directory";
import type { TenantSnapshot } from "./shapes";

export class TenantScope {
  /** The tenant's Durable Object, written to as this key (./client.ts). */
  readonly tenant: TenantClient;

  constructor(
    readonly env: Env,
    private readonly waitUntil: (promise: Promise<unknown>) => void,
    readonly tenantId: string,
    /** The tenant incarnation the caller's key belongs to: every write says it, so none lands in a deleted or re-created tenant. */
    readonly incarnation: string,
    readonly key: ApiKeyInfo,
    readonly snapshot: TenantSnapshot,
  ) {
    this.tenant = new TenantClient(env, tenantId, { incarnation, keyId: key.id });
  }

  get role(): Role {
    return this.key.role;
  }

  requireAdmin(): void {
    if (this.role !== "admin") throw new GatewayError("forbidden", "This needs a tenant admin key; this key has role user.");
  }

  /**
   * A model of this tenant by id or alias (the record, so results name the real id),
   * or the same "not found" whatever the name (another tenant's ids and aliases included).
   */
  model(id: string): ModelRecord {
    const model = this.snapshot.models.find((m) => m.id === id) ?? this.snapshot.models.find((m) => m.aliases.includes(id));
    if (!model)
      throw new GatewayError(
        "not_found",
        unknownModel(
          id,
          this.snapshot.models.map((m) => m.id),
        ),
      );
    return model;
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

  /** Run health checks now (one model, or all). */
  async checkHealth(modelId?: string) {
    if (modelId !== undefined) this.model(modelId);
    return this.tenant.runChecks(modelId === undefined ? null : [modelId]);
  }

  /** A model with its most recent health checks (one extra round trip: history is not cached). */
  async modelWithChecks(id: string) {
    const model = this.model(id);
    return { ...model, recent_checks: await this.tenant.checks(id, 20) };
  }

  /** Work that may finish after the response (passive health reports, usage batches). */
  background(promise: Promise<unknown>): void {
    this.waitUntil(promise.catch((error: unknown) => console.error("background work failed", error instanceof Error ? error.message : error)));
  }
}

/** Most model ids an unknown-model message lists. */
export const MODEL_SUGGESTIONS = 10;

/**
 * "Model "x" not found." plus the ids the caller could use: this tenant's own
 * (the snapshot is the caller's), in order of id, at most MODEL_SUGGESTIONS of
 * them. The list does not depend on the id asked for, so another tenant's id
 * gets exactly the answer an id that exists nowhere gets.
 */
export function unknownModel(id: string, ids: readonly string[]): string {
  const notFound = `Model "${id}" not found.`;
  if (ids.length === 0) return `${notFound} This tenant has no models yet (register one with POST /api/v1/models).`;
  const listed = [...ids]
    .sort()
    .slice(0, MODEL_SUGGESTIONS)
    .map((candidate) => `"${candidate}"`)
    .join(", ");
  return ids.length <= MODEL_SUGGESTIONS
    ? `${notFound} Models of this tenant: ${listed}.`
    : `${notFound} The first ${MODEL_SUGGESTIONS} of this tenant's ${ids.length} models: ${listed} (list_models or GET /v1/models lists them all).`;
}
