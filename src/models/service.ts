/**
 * Registry operations shared by the admin HTTP API and the MCP admin tools:
 * validate in the Worker (request shape, backend config, URLs, secret
 * references), then write once to the tenant's Durable Object, which checks
 * what spans records (duplicate ids, fallbacks) in the same atomic step.
 */
import { checkModelConfig, declaredByBackend } from "../backends/model-config";
import type { Declared } from "../backends/types";
import { assertNoLiteralSecrets } from "../config/secrets";
import { GatewayError } from "../errors";
import { parseOrThrow } from "../http/validation";
import type { TenantScope } from "../tenants/scope";
import {
  type Capability,
  type Feature,
  type LoadBalance,
  ModelRecord,
  ModelRegistrationRequest,
  type ModelStatus,
  ModelUpdateRequest,
  slugify,
} from "./schema";

export interface ModelFilter {
  capability?: Capability;
  status?: ModelStatus;
}

export function listModels(scope: TenantScope, filter: ModelFilter = {}): ModelRecord[] {
  return scope.snapshot.models.filter(
    (m) => (!filter.capability || m.capabilities.includes(filter.capability)) && (!filter.status || m.status === filter.status),
  );
}

export async function registerModel(scope: TenantScope, input: unknown): Promise<ModelRecord> {
  scope.requireAdmin();
  refuseModelFieldsInConfig(input);
  const request = parseOrThrow(ModelRegistrationRequest, input);
  const id = request.id ?? slugify(request.name);
  if (!id) throw new GatewayError("invalid_request", "id: cannot derive an id from name; give an id.");
  const now = new Date().toISOString();
  const declared = await declaredByBackend(scope.env, scope.snapshot.grants, request.backend_type, request.config);
  const record = buildRecord(scope, declared, {
    id,
    name: request.name,
    description: request.description ?? null,
    backend_type: request.backend_type,
    config: request.config,
    capabilities: request.capabilities,
    features: request.features,
    fallbacks: request.fallbacks ?? [],
    aliases: request.aliases ?? [],
    load_balance: request.load_balance ?? null,
    created_at: now,
    updated_at: now,
  });
  const registered = await scope.audited("model.register", record.id, { backend_type: record.backend_type }, () => scope.tenant.insertModel(record));
  return firstCheck(scope, registered);
}

export async function updateModel(scope: TenantScope, id: string, input: unknown): Promise<ModelRecord> {
  scope.requireAdmin();
  refuseModelFieldsInConfig(input);
  const patch = parseOrThrow(ModelUpdateRequest, input);
  // Merge into the stored version (not the cached one), and write only if it is still that version.
  const current = await scope.tenant.getModel(id);
  if (!current) throw new GatewayError("not_found", `Model "${id}" not found.`);
  const backendChanged = patch.backend_type !== undefined && patch.backend_type !== current.backend_type;
  const config = patch.config ? mergeConfig(backendChanged ? {} : current.config, patch.config) : current.config;
  // Features not given follow the model: the declared ones kept, unless another backend or model now answers (then its defaults).
  const otherModel = backendChanged || config.model_name !== current.config.model_name;
  const keepFeatures = patch.features === undefined && !otherModel;
  const backendType = patch.backend_type ?? current.backend_type;
  const declared = await declaredByBackend(scope.env, scope.snapshot.grants, backendType, config);
  const record = buildRecord(scope, declared, {
    ...current,
    name: patch.name ?? current.name,
    description: patch.description === undefined ? current.description : patch.description,
    backend_type: patch.backend_type ?? current.backend_type,
    config,
    capabilities: patch.capabilities ?? (backendChanged ? undefined : current.capabilities),
    features: patch.features ?? (otherModel ? undefined : current.features),
    fallbacks: patch.fallbacks ?? current.fallbacks,
    aliases: patch.aliases ?? current.aliases,
    load_balance: patch.load_balance === undefined ? current.load_balance : patch.load_balance,
    updated_at: laterThan(current.updated_at),
  });
  const updated = await scope.audited("model.update", id, { fields: Object.keys(patch) }, () =>
    scope.tenant.replaceModel(record, current.updated_at, keepFeatures),
  );
  return updated.status === "initializing" ? firstCheck(scope, updated) : updated;
}

/**
 * A new model, or one whose config or backend changed, is probed once before the
 * answer (within its timeout, at most 10 s), which then carries its first real
 * status. It is stored whatever the probe says: a failed probe is not a failed write.
 */
async function firstCheck(scope: TenantScope, model: ModelRecord): Promise<ModelRecord> {
  try {
    const checked = await scope.tenant.probeModel(model.id);
    return checked ?? model;
  } catch (error) {
    console.error("first check failed to run", error instanceof Error ? error.message : error);
    return model;
  }
}

export async function removeModel(scope: TenantScope, id: string): Promise<{ id: string; removed: true }> {
  scope.requireAdmin();
  await scope.audited("model.remove", id, undefined, () => scope.tenant.deleteModel(id));
  return { id, removed: true };
}

/** Only an admin sets or clears maintenance; health checks never overwrite it. */
export async function setMaintenance(scope: TenantScope, id: string, status: "maintenance" | "available"): Promise<ModelRecord> {
  scope.requireAdmin();
  return scope.audited("model.status", id, { status }, () => scope.tenant.setStatus(id, status));
}

interface Draft {
  id: string;
  name: string;
  description: string | null;
  backend_type: string;
  config: Record<string, unknown>;
  capabilities: Capability[] | undefined;
  features: Feature[] | undefined;
  fallbacks: string[];
  aliases: string[];
  load_balance: LoadBalance | null;
  created_at: string;
  updated_at: string;
}

/**
 * Most bytes one model's config may take as JSON. The registry travels with
 * every cold request of its tenant, so each model's share is bounded (and the
 * whole registry too: durable/model-store.ts); real configs take a few hundred.
 */
export const MAX_CONFIG_BYTES = 16 * 1024;

/**
 * Validate a draft against its backend type and this tenant's grants; the result is what gets stored.
 * `declared`: what the backend itself says it serves (a `worker` backend), which then bounds the draft.
 */
function buildRecord(scope: TenantScope, declared: Declared | undefined, draft: Draft): ModelRecord {
  const size = new TextEncoder().encode(JSON.stringify(draft.config)).byteLength;
  if (size > MAX_CONFIG_BYTES) {
    throw new GatewayError(
      "invalid_request",
      `config: at most ${MAX_CONFIG_BYTES} bytes as JSON (this one is ${size}); shorten its headers or URLs.`,
    );
  }
  assertNoLiteralSecrets(draft.config);
  const { type, factory, config } = checkModelConfig(scope.env, scope.snapshot.grants, draft.backend_type, draft.config);

  checkPool(scope, draft.id, draft.load_balance);
  const capabilities = draft.capabilities ?? declared?.capabilities ?? factory.defaultCapabilities(config);
  const serves = declared?.capabilities ?? factory.supports;
  const unsupported = capabilities.filter((c) => !serves.includes(c));
  if (unsupported.length > 0) {
    throw new GatewayError(
      "invalid_request",
      declared
        ? `capabilities: the backend Worker of this model does not declare ${unsupported.join(", ")} (it declares ${serves.join(", ")}).`
        : `capabilities: backend type ${type} cannot serve ${unsupported.join(", ")} (it serves ${serves.join(", ")}).`,
    );
  }
  const undeclared = (draft.features ?? []).filter((f) => declared && !declared.features.includes(f));
  if (declared && undeclared.length > 0) {
    throw new GatewayError(
      "invalid_request",
      `features: the backend Worker of this model does not declare ${undeclared.join(", ")} (it declares ${declared.features.join(", ") || "none"}).`,
    );
  }
  return ModelRecord.parse({
    id: draft.id,
    name: draft.name,
    description: draft.description,
    backend_type: type,
    config,
    capabilities: [...new Set(capabilities)],
    features: [...new Set(draft.features ?? (capabilities.includes("chat") ? (declared?.features ?? factory.defaultFeatures(config)) : []))],
    fallbacks: [...new Set(draft.fallbacks)],
    aliases: [...new Set(draft.aliases)],
    load_balance: draft.load_balance,
    feature_checks: {},
    status: "initializing",
    status_detail: null,
    last_checked_at: null,
    latency_ms: null,
    created_at: draft.created_at,
    updated_at: draft.updated_at,
  });
}

/**
 * Fields of the model that an older version (or a reader of it) may put in
 * `config`: each gets a 400 that says where it belongs, not the backend's
 * "unknown field". A `null` there is a removal (updates merge config), so it passes.
 */
const MODEL_FIELDS = { load_balance: "fallbacks" } as const;

function refuseModelFieldsInConfig(input: unknown): void {
  const config = (input as { config?: unknown } | null)?.config;
  if (typeof config !== "object" || config === null) return;
  for (const [field, beside] of Object.entries(MODEL_FIELDS)) {
    if ((config as Record<string, unknown>)[field] != null) {
      throw new GatewayError(
        "invalid_request",
        `config.${field}: ${field} is a field of the model, beside ${beside}, not of its config; move it out of config.`,
      );
    }
  }
}

/**
 * `load_balance`: every target is registered (or the model itself), and pools
 * do not nest, so no route can loop: a target may not have its own
 * `load_balance`, and a model that is another pool's target may not get one.
 * Checked against the registry this request read; the tenant's object checks
 * again that each target exists as it writes (durable/model-store.ts), and
 * refuses to remove a model while a pool names it.
 */
function checkPool(scope: TenantScope, id: string, balance: LoadBalance | null): void {
  if (!balance) return;
  const models = scope.snapshot.models;
  for (const [i, target] of balance.targets.entries()) {
    if (target.model_id === id) continue;
    const found = models.find((m) => m.id === target.model_id);
    const field = `load_balance.targets[${i}].model_id`;
    if (!found) throw new GatewayError("invalid_request", `${field}: model "${target.model_id}" is not registered; register it first.`);
    if (found.load_balance) {
      throw new GatewayError("invalid_request", `${field}: model "${target.model_id}" has its own load_balance; pools do not nest (no cycles).`);
    }
  }
  const user = models.find((m) => m.id !== id && m.load_balance?.targets.some((t) => t.model_id === id));
  if (user) {
    throw new GatewayError("invalid_request", `load_balance: this model is a target of "${user.id}"'s load_balance; pools do not nest (no cycles).`);
  }
}

function mergeConfig(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** A timestamp strictly after `previous`, so every write has its own version. */
function laterThan(previous: string): string {
  const now = Date.now();
  const last = Date.parse(previous);
  return new Date(Math.max(now, last + 1)).toISOString();
}
