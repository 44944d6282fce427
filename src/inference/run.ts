/**
 * Running one inference call for a tenant: plan the route (the model, then its
 * fallbacks), and on each step resolve the model's secret references for its
 * own hosts only, call the backend in this Worker, and make sure no secret value
 * survives into an error message. A fallback is tried when a model is down, out
 * of rate budget, or fails before its first token; never once text has reached
 * the caller.
 */
import type { CallOptions, ChatRequest, ClassificationRequest, CompletionRequest, EmbeddingRequest, ModelBackend } from "../backends/types";
import { GatewayError, toGatewayError } from "../errors";
import type { Capability, ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import { type Need, requiredFeatures } from "./features";
import { instanceFor } from "./instances";
import { takeToken } from "./rate-limit";
import { type Blocked, describeBlocked, planRoute, rateKey, rateLimit } from "./route";
import { type Demand, generationDemand, inputDemand } from "../usage/cost";
import { openMeter } from "../usage/meter";

export interface Answered {
  /** The model that answered: the one asked for, or one of its fallbacks. */
  model_id: string;
  latency_ms: number;
  /** Set when a fallback answered: the models tried before it and why each failed. */
  fallback?: { requested: string; attempts: { model_id: string; error: string }[] };
}

type Invoke<T> = (backend: ModelBackend, options: CallOptions | undefined) => Promise<T>;

export function chat(scope: TenantScope, modelId: string, request: ChatRequest, options?: CallOptions) {
  // The prompt estimate covers what is sent: messages, tool definitions and the response format.
  const demand = generationDemand([request.messages, request.tools ?? null, request.response_format ?? null], request.max_tokens);
  return metered(scope, modelId, demand, options, (o) =>
    call(scope, modelId, "chat", o, (b, o) => need(b.chat, "chat").call(b, request, o), requiredFeatures(request)),
  );
}

export function complete(scope: TenantScope, modelId: string, request: CompletionRequest, options?: CallOptions) {
  const demand = generationDemand(request.prompt, request.max_tokens);
  return metered(scope, modelId, demand, options, (o) =>
    call(scope, modelId, "completion", o, (b, o) => need(b.complete, "completion").call(b, request, o)),
  );
}

export function embed(scope: TenantScope, modelId: string, request: EmbeddingRequest, options?: CallOptions) {
  return metered(scope, modelId, inputDemand(request.input), options, (o) =>
    call(scope, modelId, "embedding", o, (b, o) => need(b.embed, "embedding").call(b, request, o)),
  );
}

export async function classify(scope: TenantScope, modelId: string, request: ClassificationRequest, options?: CallOptions) {
  const result = await metered(scope, modelId, inputDemand([request.text, ...(request.labels ?? [])]), options, (o) =>
    call(scope, modelId, "classification", o, (b, o) => need(b.classify, "classification").call(b, request, o)),
  );
  return { ...result, labels: [...result.labels].sort((a, b) => b.score - a.score) };
}

/**
 * Usage and budgets (src/usage/meter.ts), around the whole call, fallbacks included:
 * before routing, admit the worst case when a budget applies (one round trip to the
 * tenant's object; none without a budget); after, count the call once against the
 * model that answered (or the one asked for, when it failed), off the response path.
 */
async function metered<T extends object>(
  scope: TenantScope,
  modelId: string,
  demand: Demand,
  options: CallOptions | undefined,
  run: (options: CallOptions | undefined) => Promise<T & Answered>,
): Promise<T & Answered> {
  const meter = await openMeter(scope, modelId, demand);
  try {
    const result = await run(meter.options(options));
    meter.answered(result);
    return result;
  } catch (error) {
    meter.failed();
    throw error;
  }
}

async function call<T extends object>(
  scope: TenantScope,
  modelId: string,
  capability: Capability,
  options: CallOptions | undefined,
  invoke: Invoke<T>,
  needs: readonly Need[] = [],
): Promise<T & Answered> {
  const requested = scope.model(modelId);
  if (!requested.capabilities.includes(capability)) {
    throw new GatewayError(
      "unsupported_capability",
      `Model "${requested.id}" does not support ${capability}; it supports ${requested.capabilities.join(", ")}. Pick a model with list_models({capability: "${capability}"}).`,
    );
  }
  const attempts: { model_id: string; error: string }[] = [];
  let last: GatewayError | undefined;
  for (const { model, blocked } of planRoute(scope, requested, capability, needs)) {
    if (blocked) {
      last = blockedError(model.id, blocked);
      attempts.push({ model_id: model.id, error: last.message });
      continue;
    }
    let streamed = false;
    const tracked: CallOptions | undefined = options?.onText
      ? {
          ...options,
          onText: (delta) => {
            streamed = true;
            return options.onText?.(delta);
          },
          onToolCall: (delta) => {
            streamed = true;
            return options.onToolCall?.(delta);
          },
        }
      : options;
    const started = Date.now();
    try {
      const result = await attempt(scope, model, tracked, invoke);
      const fallback = attempts.length > 0 ? { requested: requested.id, attempts } : undefined;
      return { ...result, model_id: model.id, latency_ms: Date.now() - started, ...(fallback && { fallback }) };
    } catch (error) {
      const failure = toGatewayError(error);
      // Text already reached the caller, or the request itself is at fault: another model will not help.
      if (streamed || failure.code === "invalid_request" || failure.code === "internal") throw failure;
      last = failure;
      attempts.push({ model_id: model.id, error: failure.message });
    }
  }
  if (!last) throw new GatewayError("model_unavailable", `No model could take this call.`);
  if (attempts.length <= 1) throw last;
  throw new GatewayError(
    last.code,
    `Model "${requested.id}" and its fallbacks failed: ${attempts.map((a) => `${a.model_id}: ${a.error}`).join(" | ")}`,
    { retryAfter: last.retryAfter },
  );
}

function blockedError(modelId: string, blocked: Blocked): GatewayError {
  const reason = describeBlocked(blocked);
  switch (blocked.reason) {
    case "rate_limited":
      return new GatewayError("rate_limited", `Model "${modelId}": ${reason}.`, { retryAfter: 1 });
    case "capability":
      return new GatewayError("model_unavailable", `Model "${modelId}" ${reason}; try another model.`);
    case "feature":
      return new GatewayError(
        "unsupported_feature",
        `Model "${modelId}" ${reason}; use a model whose features include ${blocked.feature} (list_models shows them), or leave that out.`,
      );
    default:
      return new GatewayError("model_unavailable", `Model "${modelId}" is ${reason}; try another model.`);
  }
}

/** Upstream failures that say something about the model's health (not about the request). */
const HEALTH_FAILURES = new Set(["upstream_error", "upstream_timeout", "model_unavailable", "rate_limited"]);

/**
 * Passive health: a failed call counts against the model, and a success brings
 * a model that is not yet (or no longer) `available` back. Reported after the
 * response, so it costs the caller nothing; calls to healthy models write nothing.
 */
function report(scope: TenantScope, model: ModelRecord, ok: boolean, latencyMs: number, detail: string | null) {
  if (ok && model.status === "available") return;
  const recorded = scope.stub.recordCall(scope.generation, model.id, { ok, latency_ms: ok ? latencyMs : null, detail }, new Date().toISOString());
  // A changed status must be seen by the next call from this isolate (a model now in error is skipped at once).
  scope.background(recorded.then((check) => check && check.status !== model.status && scope.forget()));
}

/** One model: take a rate token, build the backend with secrets resolved, call it, redact everything that comes back. */
async function attempt<T extends object>(scope: TenantScope, model: ModelRecord, options: CallOptions | undefined, invoke: Invoke<T>): Promise<T> {
  const limit = rateLimit(model);
  if (limit !== undefined) {
    const token = takeToken(rateKey(scope, model), limit);
    if (!token.ok) {
      throw new GatewayError("rate_limited", `Model "${model.id}" is at its rate limit of ${limit}/min; retry after ${token.retryAfter} s.`, {
        retryAfter: token.retryAfter,
      });
    }
  }
  const { backend, redact } = await instanceFor(scope.env, scope.snapshot, model);
  const stream = redact.stream(options);
  const started = Date.now();
  try {
    const result = await invoke(backend, stream.options);
    await stream.flush();
    // A stream that broke after it started still answers (with the partial text), but counts against the model.
    const broken = "error" in result && typeof result.error === "string" ? redact(result.error) : null;
    report(scope, model, broken === null, Date.now() - started, broken);
    return { ...redact.result(result), ...(broken !== null && { error: broken }) };
  } catch (error) {
    const failure = toGatewayError(error);
    if (failure.code === "internal") console.error("backend call failed", model.backend_type, redact(String(error)));
    const shown = new GatewayError(failure.code, redact(failure.message), { retryAfter: failure.retryAfter });
    if (HEALTH_FAILURES.has(shown.code)) report(scope, model, false, Date.now() - started, shown.message);
    throw shown;
  }
}

function need<M>(method: M | undefined, capability: Capability): M {
  if (!method) throw new GatewayError("unsupported_capability", `This backend type cannot serve ${capability}.`);
  return method;
}
