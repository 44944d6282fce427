/**
 * What the inference core (src/inference/run.ts) notes on the request's trace:
 * the call, each upstream attempt (its model, its first piece, its tokens,
 * its failure), and the models skipped on the way. Outside a request (no
 * trace) every function here does nothing.
 */
import type { CallOptions } from "../backends/types";
import type { CallOutput, InferenceCall } from "../inference/call";
import type { RescueHow } from "../inference/rescue";
import type { ModelRecord } from "../models/schema";
import { type AttemptRecord, currentTrace } from "./request-trace";

/** The GenAI operation name of a capability (OpenTelemetry's `gen_ai.operation.name` values). */
const OPERATIONS: Record<string, string> = { chat: "chat", completion: "text_completion", embedding: "embeddings", classification: "classify" };

/** The request's call starts: the first call of a request is the one its trace describes. */
export function traceCall(call: InferenceCall): void {
  const trace = currentTrace();
  if (!trace || trace.call) return;
  trace.tenantId ??= call.scope.tenantId;
  trace.keyId ??= call.scope.key.id;
  trace.call = {
    operation: OPERATIONS[call.input.capability] ?? call.input.capability,
    requestModel: call.model.id,
    backendType: call.model.backend_type,
    skipped: [],
    // Text only for a tenant that opted in; redacted when exported (./spans.ts), never logged.
    ...(call.scope.snapshot.telemetry?.capture_content && { content: { input: JSON.stringify(inputText(call.input)) } }),
  };
}

function inputText(input: InferenceCall["input"]): unknown {
  switch (input.capability) {
    case "chat":
      return input.request.messages;
    case "completion":
      return input.request.prompt;
    case "embedding":
      return input.request.input;
    case "classification":
      return input.request.text;
  }
}

/** A model on the route was not tried (blocked, or its breaker open). */
export function traceSkipped(model: ModelRecord, reason: string): void {
  currentTrace()?.call?.skipped.push({ modelId: model.id, reason });
}

/** The answer: which model gave it, and how when it rescued a broken stream (and its text, for a tenant that captures content). */
export function traceAnswered(modelId: string, result: CallOutput, rescued?: RescueHow): void {
  const call = currentTrace()?.call;
  if (!call) return;
  call.answeredBy = modelId;
  if (rescued) call.rescued = rescued;
  if (call.content && (result.capability === "chat" || result.capability === "completion")) call.content.output = result.text;
}

/** What the meter counted for the call (the numbers get_usage reports). */
export function traceUsage(inputTokens: number, outputTokens: number, costNano: number, estimated: boolean): void {
  const call = currentTrace()?.call;
  if (call && !call.usage) call.usage = { inputTokens, outputTokens, costNano, estimated };
}

export interface AttemptTrace {
  /** The backend's options, watched for the attempt's first streamed piece. */
  watch(options: CallOptions): CallOptions;
  succeeded(result: CallOutput): void;
  failed(errorType: string): void;
}

const NOTHING: AttemptTrace = { watch: (options) => options, succeeded: () => {}, failed: () => {} };

/** One upstream attempt starts: `fallbackIndex` 0 is the model asked for. */
export function traceAttempt(model: ModelRecord, fallbackIndex: number, breakerTrial: boolean): AttemptTrace {
  const trace = currentTrace();
  if (!trace) return NOTHING;
  const upstreamModel = (model.config as { model_name?: unknown }).model_name;
  const attempt: AttemptRecord = trace.attemptStarted({
    modelId: model.id,
    backendType: model.backend_type,
    fallbackIndex,
    ...(breakerTrial && { breakerTrial }),
    ...(typeof upstreamModel === "string" && { responseModel: upstreamModel }),
  });
  const firstPiece = () => (attempt.firstPieceMs ??= Date.now() - attempt.startedAt);
  return {
    watch(options) {
      const { onText, onToolCall } = options;
      return {
        ...options,
        ...(onText && { onText: (delta: string) => (firstPiece(), onText(delta)) }),
        ...(onToolCall && { onToolCall: (delta: Parameters<typeof onToolCall>[0]) => (firstPiece(), onToolCall(delta)) }),
      };
    },
    succeeded(result) {
      trace.attemptEnded(attempt);
      const usage = result.usage as Record<string, unknown> | undefined;
      const count = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : undefined);
      attempt.inputTokens = count(usage?.prompt_tokens);
      if (result.capability === "chat" || result.capability === "completion") {
        attempt.outputTokens = count(result.usage.completion_tokens);
        attempt.finishReasons = [result.finish_reason];
        if (result.error !== undefined) attempt.errorType = "stream_broken";
      }
      attempt.cachedTokens = count(usage?.cached_tokens);
    },
    failed(errorType) {
      trace.attemptEnded(attempt);
      attempt.errorType = errorType;
    },
  };
}
