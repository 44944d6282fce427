/**
 * Running one inference call (./call.ts) for a tenant: meter it, plan the
 * route (the model, then its fallbacks), and on each step resolve the model's
 * secret references for its own hosts only, call the backend in this Worker,
 * and make sure no secret value survives into what comes back.
 *
 * Failover: until the first token has reached the caller, any failure (an
 * error, a reset, a first-byte or first-token timeout, an upstream rate limit,
 * a request too long for the model) passes the call to the next fallback;
 * once text has reached the caller, a stream that breaks is only finished by
 * another model where the answer is provably whole (./rescue.ts). Only a request the upstream finds
 * invalid or refuses under its content policy is final. A model in `error` is
 * skipped while its circuit breaker is open (the tenant's object probes it
 * meanwhile), and gets one trial call, of one attempt, when a cooldown ends
 * before a probe has answered (`./breaker.ts`). A timed-out attempt is not retried on the
 * same model when a fallback can take the call.
 *
 * Passive health counts only what the upstream caused: not the caller going
 * away, not an upstream 429 (a quota), not the timeouts or cut streams of a
 * request the caller made huge (`InferenceCall.huge`), and of timeouts only a
 * streamed call's first-token timeout (a non-streamed call's overall timeout
 * cannot tell a long answer from a dead upstream). Successes are reported
 * too, at most one per model every few seconds from an isolate
 * (./success-reports.ts), so one key's failures are not "in a row" while
 * other calls succeed.
 */
import { type ErrorCode, GatewayError, toGatewayError } from "../errors";
import type { ModelRecord } from "../models/schema";
import { estimateTokens, timedOutCharge } from "../usage/cost";
import { type Meter, openMeter } from "../usage/meter";
import { passBreaker } from "./breaker";
import { type CallInput, type CallOutput, type CallResult, demandOf, type InferenceCall, invoke } from "./call";
import { batchCount, embedBatchSize } from "./embed-batch";
import { instanceFor } from "./instances";
import { takeToken } from "../util/token-bucket";
import { type Blocked, describeBlocked, planRoute, rateKey, rateLimit, type RouteStep } from "./route";
import { rescuePlans } from "./rescue";
import { CallStream, type Join } from "./stream";
import { traceAnswered, traceAttempt, traceCall, traceSkipped } from "../telemetry/call-trace";
import { successDue } from "./success-reports";
import { averageFirstToken, noteFirstToken, seedAverages } from "./load-balance";

/**
 * Run a call: admit it against budgets (nothing is sent when it does not fit),
 * try the route, and count it once, against the model that answered (or the
 * one asked for, when it failed), off the response path.
 */
export async function runCall<I extends CallInput>(call: InferenceCall<I>): Promise<CallResult<I["capability"]>> {
  traceCall(call);
  const meter = await openMeter(call);
  const stream = new CallStream(call.sink);
  try {
    const result = await route(meter.bounded ? withMaxTokens(call) : call, stream, meter);
    meter.answered(result);
    // The backend for `call.input` answered it: the result's capability is the input's.
    return result as CallResult<I["capability"]>;
  } catch (error) {
    meter.failed(stream.reached);
    throw error;
  }
}

/**
 * Under a budget the worst case held is `max_tokens` (or DEFAULT_MAX_TOKENS):
 * the upstream is told so, or it could generate past what the budget admitted.
 */
function withMaxTokens<I extends CallInput>(call: InferenceCall<I>): InferenceCall<I> {
  const input: CallInput = call.input;
  if ((input.capability !== "chat" && input.capability !== "completion") || input.request.max_tokens !== undefined) return call;
  const max_tokens = call.demand.completion_tokens;
  // A Responses body passed through as written says it too (a Messages body always has max_tokens).
  const native =
    input.capability === "chat" && input.native?.request.format === "responses" && input.native.request.body.max_output_tokens === undefined
      ? { ...input.native, request: { ...input.native.request, body: { ...input.native.request.body, max_output_tokens: max_tokens } } }
      : input.capability === "chat"
        ? input.native
        : undefined;
  const bounded = { ...input, request: { ...input.request, max_tokens }, ...(native && { native }) };
  return { ...call, input: bounded as I };
}

/** Failures no other model would answer differently: the call ends with them. */
const FINAL = new Set<ErrorCode>(["invalid_request", "content_filtered", "internal"]);

async function route(call: InferenceCall, stream: CallStream, meter: Meter): Promise<CallResult> {
  const { scope, model: requested, input, needs, signal } = call;
  const attempts: { model_id: string; error: string }[] = [];
  let last: GatewayError | undefined;
  const steps = planRoute(scope, requested, input.capability, needs, input);
  for (const [index, step] of steps.entries()) {
    const { model } = step;
    const passed = step.blocked?.reason === "down" ? await throughBreaker(call, model, step.blocked) : step.blocked;
    const blocked = passed === "trial" ? undefined : passed;
    if (blocked) {
      last = blockedError(model.id, blocked);
      traceSkipped(model, last.message);
      attempts.push({ model_id: model.id, error: last.message });
      continue;
    }
    const started = Date.now();
    try {
      const result = await attempt(
        call,
        model,
        stream,
        steps.slice(index + 1).some((s) => !s.blocked),
        meter,
        { fallbackIndex: index, breakerTrial: passed === "trial" },
      );
      traceAnswered(model.id, result);
      noteFirstToken(scope, model.id, (stream.firstAt ?? Date.now()) - started);
      const broken = brokenStream(result);
      if (broken !== undefined && stream.started && !stream.notText && !signal?.aborted) {
        const rescued = await rescue(call, stream, meter, { model, result, error: broken, started }, steps.slice(index + 1), attempts);
        if (rescued) return rescued;
      }
      const fallback = attempts.length > 0 ? { requested: requested.id, attempts } : undefined;
      return { ...result, model_id: model.id, latency_ms: Date.now() - started, ...(fallback && { fallback }) } as CallResult;
    } catch (error) {
      const failure = toGatewayError(error);
      // The caller went away (nobody to answer), text already reached it, or no other model would answer otherwise.
      if (signal?.aborted || stream.started || FINAL.has(failure.code)) throw failure;
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

/**
 * A stream that broke after text reached the caller: the first rescue that
 * works (./rescue.ts) finishes it; else undefined, and the broken result
 * stands (the caller gets its format's error, with every byte it had). A
 * rescue that fails, a refused prefill included, is never the caller's error.
 * What the broken attempt (and each failed rescue) generated is charged to the
 * call; the answer's usage is the rescuing call's.
 */
async function rescue(
  call: InferenceCall,
  stream: CallStream,
  meter: Meter,
  broken: { model: ModelRecord; result: CallOutput; error: string; started: number },
  later: readonly RouteStep[],
  attempts: { model_id: string; error: string }[],
): Promise<CallResult | undefined> {
  const plans = rescuePlans(call, broken.model, stream.text, later);
  if (plans.length === 0) return undefined;
  // Only generations break mid-stream, so only they are charged here.
  const spentBy = (modelId: string, output: CallOutput) => {
    if (output.capability !== "chat" && output.capability !== "completion") return;
    meter.charge(modelId, {
      prompt_tokens: output.usage.prompt_tokens ?? call.demand.prompt_tokens,
      completion_tokens: output.usage.completion_tokens ?? estimateTokens(output.text),
    });
  };
  spentBy(broken.model.id, broken.result);
  const tried = [...attempts, { model_id: broken.model.id, error: `${broken.error} (after ${stream.text.length} characters reached the caller)` }];
  for (const [i, plan] of plans.entries()) {
    // Under a budget, a rescue is one more attempt: its worst case must fit what is left, as the call's did.
    if (!(await meter.widen(plan.model.id, demandOf(plan.input)))) {
      tried.push({ model_id: plan.model.id, error: `${plan.how}: not tried, the budget has no room left for it` });
      continue;
    }
    const had = stream.text.length;
    const traced = { fallbackIndex: tried.length, breakerTrial: false };
    try {
      const result = await attempt({ ...call, input: plan.input }, plan.model, stream, i < plans.length - 1, meter, traced, plan.join);
      if (!plan.join.matched) {
        // Nothing of it reached the caller: it differed, or ended (or broke) before matching all the caller has.
        spentBy(plan.model.id, result);
        tried.push({ model_id: plan.model.id, error: plan.join.mismatched ? "regenerated a different answer" : "regenerated a shorter answer" });
        continue;
      }
      traceAnswered(plan.model.id, result, plan.how);
      const fallback = { requested: call.model.id, attempts: tried, rescued: plan.how };
      // What reached the caller is the whole answer (a continuation's result holds only its own part).
      return { ...result, text: stream.text, model_id: plan.model.id, latency_ms: Date.now() - broken.started, fallback } as CallResult;
    } catch (error) {
      const failure = toGatewayError(error);
      tried.push({ model_id: plan.model.id, error: `${plan.how}: ${failure.message}` });
      // The caller went away, or (never expected: backends return a broken stream rather than throw) text was added.
      if (call.signal?.aborted || stream.text.length !== had) return undefined;
    }
  }
  return undefined;
}

/**
 * A model in `error`: a `"trial"` when its breaker grants one (one attempt, no retries), through when it has closed
 * meanwhile, else still blocked, saying until when.
 */
async function throughBreaker(
  call: InferenceCall,
  model: ModelRecord,
  blocked: Blocked & { reason: "down" },
): Promise<Blocked | "trial" | undefined> {
  const passed = await passBreaker(call.scope, model);
  if (passed.admitted) return passed.trial ? "trial" : undefined;
  const wait = Math.max(1, Math.ceil((passed.until - Date.now()) / 1000));
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
function upstreamCaused(failure: GatewayError, call: InferenceCall): boolean {
  if (call.signal?.aborted) return false; // the caller went away
  // Only a streamed call's first-token timeout of a request that is not huge: no byte within the limit.
  if (failure.code === "upstream_timeout" && (call.huge || !call.sink)) return false;
  return HEALTH_FAILURES.has(failure.code);
}

/**
 * Passive health: a failed call counts against the model (naming the
 * capability it used), and a success brings a model that is not yet (or no
 * longer) `available` back, closing its breaker. Reported after the response,
 * so it costs the caller nothing; successes of a model the isolate sees
 * `available` are reported at most once per model every few seconds (they
 * break another key's streak of failures; the object writes nothing for a
 * model with none).
 */
function report(call: InferenceCall, model: ModelRecord, ok: boolean, latencyMs: number, detail: string | null) {
  if (ok && model.status === "available" && !successDue(call.scope, model.id)) return;
  // A success seen `available` only breaks a streak: its latency (generation included) must not make the model "slow".
  const outcome = { ok, latency_ms: ok && model.status !== "available" ? latencyMs : null, detail };
  const { scope } = call;
  const reported = scope.tenant.recordCall(
    model.id,
    model.status,
    outcome,
    ok ? undefined : call.input.capability,
    averageFirstToken(scope, model.id),
  );
  scope.background(reported.then((answer) => seedAverages(scope, answer.first_token_ms)));
}

/** The text of a stream that broke after it started, if this result is one. */
function brokenStream(result: CallOutput): string | undefined {
  return result.capability === "chat" || result.capability === "completion" ? result.error : undefined;
}

/** One model: take a rate token, build the backend with secrets resolved, call it, redact everything that comes back. */
async function attempt(
  call: InferenceCall,
  model: ModelRecord,
  stream: CallStream,
  fallbackAvailable: boolean,
  meter: Meter,
  traced: { fallbackIndex: number; breakerTrial: boolean },
  join?: Join,
) {
  const { scope, signal } = call;
  const limit = rateLimit(model);
  if (limit !== undefined) {
    // One token per upstream request: a large embedding call is several (capped at the bucket's size, all it can hold).
    const count = Math.min(limit, requestsOf(call.input, model));
    const token = takeToken(rateKey(scope, model), limit, Date.now(), { count });
    if (!token.ok) {
      throw new GatewayError("rate_limited", `Model "${model.id}" is at its rate limit of ${limit}/min; retry after ${token.retryAfter} s.`, {
        retryAfter: token.retryAfter,
      });
    }
  }
  const { backend, redact } = await instanceFor(scope.env, scope.snapshot, model);
  // A timed-out attempt may have generated (and been billed) all the while: the call is charged for it.
  const maxTokens = "max_tokens" in call.input.request ? call.input.request.max_tokens : undefined;
  const onTimedOut = (timedOut: { elapsedMs: number; streamed: boolean }) => meter.charge(model.id, timedOutCharge(call.demand, maxTokens, timedOut));
  // A breaker's trial has one attempt, whatever the model's max_retries.
  const piped = stream.attempt({ signal, fallbackAvailable, onTimedOut, ...(traced.breakerTrial && { oneAttempt: true }) }, redact, join);
  const span = traceAttempt(model, traced.fallbackIndex, traced.breakerTrial);
  const started = Date.now();
  try {
    const result = await invoke(backend, call.input, span.watch(piped.options), embedBatchSize(model.backend_type));
    span.succeeded(result);
    await piped.flush();
    // A stream that broke after it started still answers (with the partial text), and counts against the model
    // unless the caller went away or made the request huge.
    const raw = brokenStream(result);
    const broken = raw === undefined ? null : redact(raw);
    // A regeneration the gateway cut off because it differed (./rescue.ts) says nothing about the upstream.
    if (broken === null) report(call, model, true, Date.now() - started, null);
    else if (!signal?.aborted && !call.huge && !join?.mismatched) report(call, model, false, Date.now() - started, broken);
    return { ...redact.result(result), ...(broken !== null && { error: broken }) };
  } catch (error) {
    const failure = toGatewayError(error);
    if (failure.code === "internal") console.error("backend call failed", model.backend_type, redact(String(error)));
    const shown = new GatewayError(failure.code, redact(failure.message), { retryAfter: failure.retryAfter });
    span.failed(shown.code);
    if (upstreamCaused(shown, call)) report(call, model, false, Date.now() - started, shown.message);
    throw shown;
  }
}

/** How many upstream requests a call makes on this model: an embedding call's batches, else one. */
function requestsOf(input: CallInput, model: ModelRecord): number {
  return input.capability === "embedding" ? batchCount(input.request.input.length, embedBatchSize(model.backend_type)) : 1;
}
