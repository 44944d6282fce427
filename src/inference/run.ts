/**
 * Running one inference call for a tenant: find the model, check it can serve
 * the capability and is usable, resolve its secret references for its own
 * hosts only, call the backend in this Worker, and make sure no secret value
 * survives into an error message.
 */
import type {
  CallOptions,
  ChatRequest,
  ClassificationRequest,
  CompletionRequest,
  EmbeddingRequest,
  ModelBackend,
} from "../backends/types";
import { checkModelConfig } from "../config/model-config";
import { findReferences, redact, resolveReferences } from "../config/secrets";
import { GatewayError, toGatewayError } from "../errors";
import type { Capability, ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";

export interface Answered {
  model_id: string;
  latency_ms: number;
}

export function chat(scope: TenantScope, modelId: string, request: ChatRequest, options?: CallOptions) {
  return call(scope, modelId, "chat", (b) => need(b.chat, "chat").call(b, request, options));
}

export function complete(scope: TenantScope, modelId: string, request: CompletionRequest, options?: CallOptions) {
  return call(scope, modelId, "completion", (b) => need(b.complete, "completion").call(b, request, options));
}

export function embed(scope: TenantScope, modelId: string, request: EmbeddingRequest, options?: CallOptions) {
  return call(scope, modelId, "embedding", (b) => need(b.embed, "embedding").call(b, request, options));
}

export async function classify(scope: TenantScope, modelId: string, request: ClassificationRequest, options?: CallOptions) {
  const result = await call(scope, modelId, "classification", (b) => need(b.classify, "classification").call(b, request, options));
  return { ...result, labels: [...result.labels].sort((a, b) => b.score - a.score) };
}

async function call<T>(
  scope: TenantScope,
  modelId: string,
  capability: Capability,
  invoke: (backend: ModelBackend) => Promise<T>,
): Promise<T & Answered> {
  const model = scope.model(modelId);
  assertUsable(model, capability);
  const { backend, secrets } = instantiate(scope, model);
  const started = Date.now();
  try {
    const result = await invoke(backend);
    return { ...result, model_id: model.id, latency_ms: Date.now() - started };
  } catch (error) {
    const failure = toGatewayError(error);
    if (failure.code === "internal") console.error("backend call failed", model.backend_type, redact(String(error), secrets));
    throw new GatewayError(failure.code, redact(failure.message, secrets), { retryAfter: failure.retryAfter });
  }
}

function need<M>(method: M | undefined, capability: Capability): M {
  if (!method) throw new GatewayError("unsupported_capability", `This backend type cannot serve ${capability}.`);
  return method;
}

function assertUsable(model: ModelRecord, capability: Capability): void {
  if (!model.capabilities.includes(capability)) {
    throw new GatewayError(
      "unsupported_capability",
      `Model "${model.id}" does not support ${capability}; it supports ${model.capabilities.join(", ")}. Pick a model with list_models({capability: "${capability}"}).`,
    );
  }
  if (model.status === "maintenance") {
    throw new GatewayError("model_unavailable", `Model "${model.id}" is in maintenance (set by an admin); try another model.`);
  }
}

/** Build the backend with secrets resolved, checking again that each may go to this model's hosts. */
function instantiate(scope: TenantScope, model: ModelRecord): { backend: ModelBackend; secrets: string[] } {
  const { factory, config: stored } = checkModelConfig(scope.env, scope.snapshot.grants, model.backend_type, model.config);
  const bindings = scope.env as unknown as Record<string, unknown>;
  const lookup = (name: string) => (typeof bindings[name] === "string" ? (bindings[name] as string) : undefined);
  const resolved = resolveReferences(stored, lookup);
  const secrets = findReferences(stored).flatMap(({ name }) => lookup(name) ?? []);
  return { backend: factory.create(resolved, { fetch: (input, init) => fetch(input, init), env: scope.env }), secrets };
}
