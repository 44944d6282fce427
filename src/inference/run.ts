/**
 * Running one inference call for a tenant: plan the route (the model, then its
 * fallbacks), and on each step resolve the model's secret references for its
 * own hosts only, call the backend in this Worker, and make sure no secret value
 * survives into an error message.
 *
 * Failover: until the first token has reached the caller, any failure (an
 * error, a reset, a first-byte or first-token timeout, an upstream rate limit,
 * a request too long for the model) passes the call to the next fallback;
 * never once text has reached the caller. Only a request the upstream finds
 * invalid or refuses under its content policy is final. A model in `error` is
 * skipped while its circuit breaker is open, and gets one trial call when the
 * cooldown is over (`./breaker.ts`). A timed-out attempt is not retried on the
 * same model when a fallback can take the call.
 *
 * Passive health counts only what the upstream caused: not the caller going
 * away, not an upstream 429 (a quota), not the timeouts or cut streams of a
 * request the caller made huge (`isHuge`).
 */
import type {
  CallOptions,
  ChatRequest,
  ClassificationRequest,
  CompletionRequest,
  EmbeddingRequest,
  ModelBackend,
  ToolCallDelta,
} from "../backends/types";
import { type ErrorCode, GatewayError, toGatewayError } from "../errors";
import type { Capability, ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import { passBreaker } from "./breaker";
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

/** What the run needs to know of a call besides its model: the capability, and whether the caller made it huge. */
interface CallKind {
  capability: Capability;
  huge: boolean;
}

/** Above either, a request is huge: its timeouts and cut streams say nothing about the upstream's health. */
export const HUGE_INPUT_TOKENS = 8_000;
export const HUGE_MAX_TOKENS = 4_096;

/** Input estimated at 4 characters a token (the usual English ratio); images and other parts count by their encoded size. */
export function isHuge(inputChars: number, maxTokens: number | undefined): boolean {
  return inputChars / 4 > HUGE_INPUT_TOKENS || (maxTokens ?? 0) > HUGE_MAX_TOKENS;
}

export function chat(scope: TenantScope, modelId: string, request: ChatRequest, options?: CallOptions) {
  // The prompt estimate covers what is sent: messages, tool definitions and the response format.
  const demand = generationDemand([request.messages, request.tools ?? null, request.response_format ?? null], request.max_tokens);
  const kind = { capability: "chat" as const, huge: isHuge(JSON.stringify(request.messages).length, request.max_tokens) };
  return metered(scope, modelId, demand, options, (o) =>
    call(scope, modelId, kind, o, (b, o) => need(b.chat, "chat").call(b, request, o), requiredFeatures(request)),
  );
}

export function complete(scope: TenantScope, modelId: string, request: CompletionRequest, options?: CallOptions) {
  const demand = generationDemand(request.prompt, request.max_tokens);
  const kind = { capability: "completion" as const, huge: isHuge(request.prompt.length, request.max_tokens) };
  return metered(scope, modelId, demand, options, (o) => call(scope, modelId, kind, o, (b, o) => need(b.complete, "completion").call(b, request, o)));
}

export function embed(scope: TenantScope, modelId: string, request: EmbeddingRequest, options?: CallOptions) {
  const kind = {
    capability: "embedding" as const,
    huge: isHuge(
      request.input.reduce((n, s) => n + s.length, 0),
      undefined,
    ),
  };
  return metered(scope, modelId, inputDemand(request.input), options, (o) =>
    call(scope, modelId, kind, o, (b, o) => need(b.embed, "embedding").call(b, request, o)),
  );
}

export async function classify(scope: TenantScope, modelId: string, request: ClassificationRequest, options?: CallOptions) {
  const kind = { capability: "classification" as const, huge: isHuge(request.text.length, undefined) };
  const result = await metered(scope, modelId, inputDemand([request.text, ...(request.labels ?? [])]), options, (o) =>
    call(scope, modelId, kind, o, (b, o) => need(b.classify, "classification").call(b, request, o)),
  );
  return { ...result, labels: [...result.labels].sort((a, b) => b.score - a.score) };
}

/** Failures no other model would answer differently: the call ends with them. */
const FINAL = new Set<ErrorCode>(["invalid_request", "content_filtered", "internal"]);

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
  kind: CallKind,
  options: CallOptions | undefined,
  invoke: Invoke<T>,
  needs: readonly Need[] = [],
): Promise<T & Answered> {
  const { capability } = kind;
  const requested = scope.model(modelId);
  if (!requested.capabilities.includes(capability)) {
    throw new GatewayError(
      "unsupported_capability",
      `Model "${requested.id}" does not support ${capability}; it supports ${requested.capabilities.join(", ")}. Pick a model with list_models({capability: "${capability}"}).`,
    );
  }
  const attempts: { model_id: string; error: string }[] = [];
  let last: GatewayError | undefined;
  const route = planRoute(scope, requested, capability, needs);
  for (const [index, step] of route.entries()) {
    const { model } = step;
    const blocked = step.blocked?.reason === "down" ? await throughBreaker(scope, model, step.blocked) : step.blocked;
    if (blocked) {
      last = blockedError(model.id, blocked);
      attempts.push({ model_id: model.id, error: last.message });
      continue;
    }
    let streamed = false;
    const tracked: CallOptions = {
      ...options,
      fallbackAvailable: route.slice(index + 1).some((s) => !s.blocked),
      ...(options?.onText && {
        onText: (delta: string) => {
          streamed = true;
          return options.onText?.(delta);
        },
        onToolCall: (delta: ToolCallDelta) => {
          streamed = true;
          return options.onToolCall?.(delta);
        },
      }),
    };
    const started = Date.now();
    try {
      const result = await attempt(scope, model, tracked, invoke, kind);
      const fallback = attempts.length > 0 ? { requested: requested.id, attempts } : undefined;
      return { ...result, model_id: model.id, latency_ms: Date.now() - started, ...(fallback && { fallback }) };
    } catch (error) {
      const failure = toGatewayError(error);
      // The caller went away (nobody to answer), text already reached it, or no other model would answer otherwise.
      if (options?.signal?.aborted || streamed || FINAL.has(failure.code)) throw failure;
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

/** A model in `error`: through when its breaker grants a trial (or has closed meanwhile), else still blocked, saying until when. */
async function throughBreaker(scope: TenantScope, model: ModelRecord, blocked: Blocked & { reason: "down" }): Promise<Blocked | undefined> {
  const admitted = await passBreaker(scope, model);
  if (admitted.admitted) return undefined;
  const wait = Math.max(1, Math.ceil((admitted.until - Date.now()) / 1000));
  return { ...blocked, detail: `${blocked.detail} (circuit open: the next trial call in ${wait} s)` };
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

/**
 * Upstream failures that say something about the model's health. Not an upstream
 * 429 (a quota: the fallbacks take the call, the model is not down), nor
 * anything about the request itself.
 */
const HEALTH_FAILURES = new Set<ErrorCode>(["upstream_error", "upstream_timeout", "model_unavailable"]);

/** Whether a failure counts against the model: the upstream caused it, not the caller. */
function upstreamCaused(failure: GatewayError, kind: CallKind, options: CallOptions | undefined): boolean {
  if (options?.signal?.aborted) return false; // the caller went away
  if (failure.code === "upstream_timeout" && kind.huge) return false; // the caller asked for a long job
  return HEALTH_FAILURES.has(failure.code);
}

/**
 * Passive health: a failed call counts against the model (naming the
 * capability it used), and a success brings a model that is not yet (or no
 * longer) `available` back, closing its breaker. Reported after the response,
 * so it costs the caller nothing; calls to healthy models write nothing.
 */
function report(scope: TenantScope, model: ModelRecord, kind: CallKind, ok: boolean, latencyMs: number, detail: string | null) {
  if (ok && model.status === "available") return;
  const outcome = { ok, latency_ms: ok ? latencyMs : null, detail };
  scope.background(scope.tenant.recordCall(model.id, model.status, outcome, ok ? undefined : kind.capability));
}

/** One model: take a rate token, build the backend with secrets resolved, call it, redact everything that comes back. */
async function attempt<T extends object>(
  scope: TenantScope,
  model: ModelRecord,
  options: CallOptions,
  invoke: Invoke<T>,
  kind: CallKind,
): Promise<T> {
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
    // A stream that broke after it started still answers (with the partial text), and counts against the model
    // unless the caller went away or made the request huge.
    const broken = "error" in result && typeof result.error === "string" ? redact(result.error) : null;
    if (broken === null) report(scope, model, kind, true, Date.now() - started, null);
    else if (!options.signal?.aborted && !kind.huge) report(scope, model, kind, false, Date.now() - started, broken);
    return { ...redact.result(result), ...(broken !== null && { error: broken }) };
  } catch (error) {
    const failure = toGatewayError(error);
    if (failure.code === "internal") console.error("backend call failed", model.backend_type, redact(String(error)));
    const shown = new GatewayError(failure.code, redact(failure.message), { retryAfter: failure.retryAfter });
    if (upstreamCaused(shown, kind, options)) report(scope, model, kind, false, Date.now() - started, shown.message);
    throw shown;
  }
}

function need<M>(method: M | undefined, capability: Capability): M {
  if (!method) throw new GatewayError("unsupported_capability", `This backend type cannot serve ${capability}.`);
  return method;
}
