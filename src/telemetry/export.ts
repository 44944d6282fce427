/**
 * When a request is over: whether its tenant exports, whether this trace is
 * sampled, and if so its spans queued for the tenant's collector in the
 * request's `waitUntil` (./exporter.ts). Exported: /v1 routes and MCP tool
 * calls (the requests that do something a tenant would trace).
 */
import { ROOT_CONTEXT } from "@opentelemetry/api";
import { SamplingDecision, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace";
import type { TenantScope } from "../tenants/scope";
import { destinationFor } from "./destination";
import { countDropped, enqueueSpans } from "./exporter";
import type { RequestTrace } from "./request-trace";
import { spansOf } from "./spans";

const samplers = new Map<number, TraceIdRatioBasedSampler>();

/** A caller's `traceparent` decides for its trace; otherwise the tenant's ratio, by trace id (OpenTelemetry's sampler). */
function sampled(trace: RequestTrace, ratio: number): boolean {
  if (trace.parent) return trace.parent.sampled && ratio > 0;
  let sampler = samplers.get(ratio);
  if (!sampler) samplers.set(ratio, (sampler = new TraceIdRatioBasedSampler(ratio)));
  return sampler.shouldSample(ROOT_CONTEXT, trace.traceId).decision === SamplingDecision.RECORD_AND_SAMPLED;
}

function traced(trace: RequestTrace): boolean {
  return trace.route.startsWith("MCP tools/call") || / \/v1\//.test(trace.route);
}

/** The promise to hand to `waitUntil`, or undefined when nothing is exported. */
export function exportRequest(scope: TenantScope | undefined, trace: RequestTrace): Promise<void> | undefined {
  const config = scope?.snapshot.telemetry;
  if (!scope || !config || !traced(trace) || !sampled(trace, config.sampling_ratio)) return undefined;
  const endedAt = Date.now();
  return (async () => {
    try {
      const destination = await destinationFor(scope.env, scope.snapshot, config);
      await enqueueSpans(scope.tenantId, destination, spansOf(trace, endedAt, config.capture_content ? destination.redact : undefined));
    } catch (error) {
      // A config no longer valid (a secret's hosts changed, a secret gone): the spans are dropped, the reason kept for the admin.
      countDropped(scope.tenantId, 1 + trace.attempts.length, error instanceof Error ? error.message : "the export could not be set up");
    }
  })();
}
