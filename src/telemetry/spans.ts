/**
 * A request's trace as OpenTelemetry spans on the GenAI semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/gen-ai/): one span for the
 * request (a /v1 route or an MCP tool call), one child per upstream attempt.
 * The spans are `ReadableSpan`s as the OpenTelemetry SDK hands them to an
 * exporter, so OpenTelemetry's own serializers encode them (./exporter.ts).
 *
 * What goes in: ids, model names, counts, durations, the gateway's error
 * codes. Prompt and answer text only when the tenant opted in, redacted of
 * every secret value the export knows.
 */
import { type Attributes, type HrTime, type SpanContext, SpanKind, SpanStatusCode, TraceFlags } from "@opentelemetry/api";
import { millisToHrTime } from "@opentelemetry/core";
import { type Resource, resourceFromAttributes } from "@opentelemetry/resources";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace";
import type { AttemptRecord, RequestTrace } from "./request-trace";

const SCOPE = { name: "mcp-model-gateway", version: "0.1.0" };

/** `gen_ai.provider.name` by backend type: the semantic conventions' well-known names where one fits. */
const PROVIDERS: Record<string, string> = {
  openai_compatible: "openai",
  anthropic: "anthropic",
  workers_ai: "cloudflare.workers_ai",
  ollama: "ollama",
  huggingface: "huggingface",
};
export const providerOf = (backendType: string) => PROVIDERS[backendType] ?? backendType;

const resources = new Map<string, Resource>();
function resourceFor(tenantId: string): Resource {
  let resource = resources.get(tenantId);
  if (!resource) {
    resource = resourceFromAttributes({ "service.name": SCOPE.name, "service.version": SCOPE.version, "gateway.tenant.id": tenantId });
    if (resources.size > 1000) resources.clear();
    resources.set(tenantId, resource);
  }
  return resource;
}

function duration(start: HrTime, end: HrTime): HrTime {
  let seconds = end[0] - start[0];
  let nanos = end[1] - start[1];
  if (nanos < 0) {
    seconds -= 1;
    nanos += 1e9;
  }
  return [seconds, nanos];
}

function span(fields: {
  name: string;
  kind: SpanKind;
  context: SpanContext;
  parent?: SpanContext;
  start: number;
  end: number;
  error?: string;
  attributes: Attributes;
  events?: TimedEvent[];
  resource: Resource;
}): ReadableSpan {
  const startTime = millisToHrTime(fields.start);
  const endTime = millisToHrTime(Math.max(fields.start, fields.end));
  return {
    name: fields.name,
    kind: fields.kind,
    spanContext: () => fields.context,
    ...(fields.parent && { parentSpanContext: fields.parent }),
    startTime,
    endTime,
    duration: duration(startTime, endTime),
    status: fields.error ? { code: SpanStatusCode.ERROR, message: fields.error } : { code: SpanStatusCode.UNSET },
    attributes: fields.attributes,
    links: [],
    events: fields.events ?? [],
    ended: true,
    resource: fields.resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** Attributes set only when they have a value. */
function defined(attributes: Record<string, string | number | boolean | string[] | undefined>): Attributes {
  return Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== undefined)) as Attributes;
}

/** The request's spans, ended at `endedAt`; `redact` cleans captured text (absent: text is not exported). */
export function spansOf(trace: RequestTrace, endedAt: number, redact?: (text: string) => string): ReadableSpan[] {
  const resource = resourceFor(trace.tenantId ?? "unknown");
  const sampled = TraceFlags.SAMPLED;
  const own: SpanContext = { traceId: trace.traceId, spanId: trace.spanId, traceFlags: sampled };
  const parent: SpanContext | undefined = trace.parent && {
    traceId: trace.parent.traceId,
    spanId: trace.parent.spanId,
    traceFlags: sampled,
    isRemote: true,
  };
  const { call } = trace;
  const answered = call?.answeredBy === undefined ? undefined : trace.attempts.findLast((a) => a.modelId === call.answeredBy);
  const failedStatus = trace.status !== undefined && trace.status >= 400;
  const errorType = failedStatus ? (trace.attempts.at(-1)?.errorType ?? String(trace.status)) : answered?.errorType;
  const content = call?.content && redact ? call.content : undefined;
  const request = span({
    name: call ? `${call.operation} ${call.requestModel}` : trace.route,
    kind: SpanKind.SERVER,
    context: own,
    parent,
    start: trace.startedAt,
    end: endedAt,
    error: errorType,
    resource,
    attributes: defined({
      "gen_ai.operation.name": call?.operation,
      "gen_ai.request.model": call?.requestModel,
      "gen_ai.response.model": answered?.responseModel,
      "gen_ai.provider.name": answered ? providerOf(answered.backendType) : undefined,
      "gen_ai.usage.input_tokens": call?.usage?.inputTokens,
      "gen_ai.usage.output_tokens": call?.usage?.outputTokens,
      "gen_ai.usage.cache_read.input_tokens": answered?.cachedTokens,
      "gen_ai.response.finish_reasons": answered?.finishReasons,
      "gen_ai.response.time_to_first_chunk": firstChunkSeconds(trace, answered),
      "gen_ai.input.messages": content && redact!(content.input),
      "gen_ai.output.messages": content?.output === undefined ? undefined : redact!(content.output),
      "error.type": errorType,
      "http.response.status_code": trace.status,
      "gateway.request.id": trace.requestId,
      "gateway.route": trace.route,
      "gen_ai.tool.name": trace.tool,
      "gateway.tenant.id": trace.tenantId,
      "gateway.key.id": trace.keyId,
      "gateway.model.id": call?.requestModel,
      "gateway.answered_by": call?.answeredBy,
      "gateway.rescued": call?.rescued,
      "gateway.backend.type": answered?.backendType ?? call?.backendType,
      "gateway.fallback.index": answered?.fallbackIndex,
      "gateway.attempts": call ? trace.attempts.length : undefined,
      "gateway.cost.usd": call?.usage && call.usage.costNano / 1e9,
      "gateway.usage.estimated": call?.usage?.estimated,
    }),
    events: (call?.skipped ?? []).map((skip) => ({
      name: "gateway.model_skipped",
      time: millisToHrTime(trace.startedAt),
      attributes: { "gateway.model.id": skip.modelId, "gateway.reason": skip.reason },
    })),
  });
  const attempts = trace.attempts.map((attempt) =>
    span({
      name: `${call?.operation ?? "call"} ${attempt.responseModel ?? attempt.modelId}`,
      kind: SpanKind.CLIENT,
      context: { traceId: trace.traceId, spanId: attempt.spanId, traceFlags: sampled },
      parent: own,
      start: attempt.startedAt,
      end: attempt.endedAt ?? endedAt,
      error: attempt.errorType,
      resource,
      attributes: defined({
        "gen_ai.operation.name": call?.operation,
        "gen_ai.request.model": attempt.responseModel ?? attempt.modelId,
        "gen_ai.response.model": attempt.errorType && attempt.errorType !== "stream_broken" ? undefined : attempt.responseModel,
        "gen_ai.provider.name": providerOf(attempt.backendType),
        "gen_ai.usage.input_tokens": attempt.inputTokens,
        "gen_ai.usage.output_tokens": attempt.outputTokens,
        "gen_ai.usage.cache_read.input_tokens": attempt.cachedTokens,
        "gen_ai.response.finish_reasons": attempt.finishReasons,
        "gen_ai.response.time_to_first_chunk": attempt.firstPieceMs === undefined ? undefined : attempt.firstPieceMs / 1000,
        "error.type": attempt.errorType,
        "gateway.model.id": attempt.modelId,
        "gateway.backend.type": attempt.backendType,
        "gateway.fallback.index": attempt.fallbackIndex,
        "gateway.breaker.trial": attempt.breakerTrial,
      }),
      events: attempt.breakerTrial ? [{ name: "gateway.breaker.trial", time: millisToHrTime(attempt.startedAt) }] : [],
    }),
  );
  return [request, ...attempts];
}

/** Time to first token as the caller saw it: from the request's start to the answering attempt's first piece. */
function firstChunkSeconds(trace: RequestTrace, answered: AttemptRecord | undefined): number | undefined {
  if (answered?.firstPieceMs === undefined) return undefined;
  return (answered.startedAt + answered.firstPieceMs - trace.startedAt) / 1000;
}
