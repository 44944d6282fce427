/**
 * One JSON line per request for Workers Logs, with the same ids as the
 * request's spans: who (tenant, key id), what (route or MCP tool, model,
 * backend), how it went (status, attempts, durations, tokens, cost). Never
 * the key, never prompt or answer text: the line is built from ids, counts
 * and the gateway's error codes only.
 */
import type { RequestTrace } from "./request-trace";

const round = (ms: number) => Math.round(ms * 10) / 10;

export function requestLogLine(trace: RequestTrace, storageTrips: number): Record<string, unknown> {
  const { call } = trace;
  const total = trace.elapsedMs();
  const upstream = Math.min(total, trace.upstreamMs());
  return {
    message: "request",
    request_id: trace.requestId,
    trace_id: trace.traceId,
    span_id: trace.spanId,
    ...(trace.parent && { parent_span_id: trace.parent.spanId }),
    tenant_id: trace.tenantId ?? null,
    key_id: trace.keyId ?? null,
    route: trace.route,
    ...(trace.tool && { tool: trace.tool }),
    status: trace.status ?? null,
    duration_ms: round(total),
    gateway_ms: round(total - upstream),
    upstream_ms: round(upstream),
    storage_round_trips: storageTrips,
    ...(call && {
      operation: call.operation,
      model_id: call.requestModel,
      backend_type: call.backendType,
      answered_by: call.answeredBy ?? null,
      ...(call.rescued && { rescued: call.rescued }),
      ...(call.usage && {
        input_tokens: call.usage.inputTokens,
        output_tokens: call.usage.outputTokens,
        tokens_estimated: call.usage.estimated,
        cost_nano_usd: call.usage.costNano,
      }),
      skipped: call.skipped.map((s) => s.modelId),
      attempts: trace.attempts.map((a) => ({
        model_id: a.modelId,
        backend_type: a.backendType,
        fallback_index: a.fallbackIndex,
        duration_ms: a.endedAt === undefined ? null : a.endedAt - a.startedAt,
        ...(a.firstPieceMs !== undefined && { first_piece_ms: a.firstPieceMs }),
        ...(a.errorType && { error_type: a.errorType }),
      })),
    }),
  };
}
