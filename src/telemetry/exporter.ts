/**
 * Sending spans to tenants' collectors, per isolate, off the request path.
 *
 * Spans wait in a queue per destination, bounded (`MAX_QUEUED_SPANS`: beyond
 * it new spans are dropped and counted), and go out in one OTLP/HTTP request
 * per batch, encoded by OpenTelemetry's own serializers (protobuf or JSON).
 * As in the usage batcher (src/usage/batcher.ts), every send runs in the
 * `waitUntil` of a request: the request that finds no send pending for its
 * destination waits `BATCH_DELAY_MS` and sends what is queued then, its own
 * spans and later ones alike; the others only queue. One attempt per batch,
 * cut at `EXPORT_TIMEOUT_MS`; a batch that fails (an error status, a timeout,
 * no connection) is dropped and counted, never retried on the request path.
 * A dead or slow collector therefore costs a call nothing but its spans.
 */
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import type { Destination } from "./destination";

export const MAX_QUEUED_SPANS = 2048;
export const MAX_BATCH_SPANS = 512;
export const BATCH_DELAY_MS = 250;
export const EXPORT_TIMEOUT_MS = 5000;

/** What this isolate did with a tenant's spans since it started. */
export interface ExportCounters {
  exported_spans: number;
  dropped_spans: number;
  failed_exports: number;
  last_error: string | null;
}

interface Queue {
  tenantId: string;
  destination: Destination;
  spans: ReadableSpan[];
}

const queues = new Map<string, Queue>();
const waiting = new Set<string>();
const counters = new Map<string, ExportCounters>();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function exportCounters(tenantId: string): ExportCounters {
  let found = counters.get(tenantId);
  if (!found) counters.set(tenantId, (found = { exported_spans: 0, dropped_spans: 0, failed_exports: 0, last_error: null }));
  return found;
}

/** Count spans that never reached a queue (the export could not be set up: `why` says why, without a secret). */
export function countDropped(tenantId: string, spans: number, why: string): void {
  const counted = exportCounters(tenantId);
  counted.dropped_spans += spans;
  counted.last_error = why;
}

/** Queue a request's spans; the promise is for the request's `waitUntil`. */
export async function enqueueSpans(tenantId: string, destination: Destination, spans: ReadableSpan[]): Promise<void> {
  const key = `${tenantId} ${destination.url} ${destination.protocol} ${JSON.stringify(destination.headers)}`;
  let queue = queues.get(key);
  if (!queue) queues.set(key, (queue = { tenantId, destination, spans: [] }));
  const room = MAX_QUEUED_SPANS - queue.spans.length;
  if (room < spans.length) countDropped(tenantId, spans.length - Math.max(0, room), "the export queue was full (the collector is slow or down)");
  queue.spans.push(...spans.slice(0, Math.max(0, room)));
  if (queue.spans.length < MAX_BATCH_SPANS) {
    if (waiting.has(key)) return; // the request waiting on this queue sends it
    waiting.add(key);
    try {
      await sleep(BATCH_DELAY_MS);
    } finally {
      waiting.delete(key);
    }
  }
  while (queue.spans.length > 0) await send(queue, queue.spans.splice(0, MAX_BATCH_SPANS));
  if (queue.spans.length === 0 && queues.get(key) === queue && !waiting.has(key)) queues.delete(key);
}

async function send(queue: Queue, spans: ReadableSpan[]): Promise<void> {
  const counted = exportCounters(queue.tenantId);
  const { destination } = queue;
  const json = destination.protocol === "http/json";
  const body = (json ? JsonTraceSerializer : ProtobufTraceSerializer).serializeRequest(spans);
  try {
    if (!body) throw new Error("the spans could not be encoded");
    const response = await fetch(destination.url, {
      method: "POST",
      headers: { ...destination.headers, "content-type": json ? "application/json" : "application/x-protobuf" },
      body,
      // A redirect could take the headers (and their secrets) to another host.
      redirect: "manual",
      signal: AbortSignal.timeout(EXPORT_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`the collector answered HTTP ${response.status}`);
    counted.exported_spans += spans.length;
  } catch (error) {
    counted.failed_exports += 1;
    const why =
      error instanceof Error && error.name === "TimeoutError"
        ? `no answer within ${EXPORT_TIMEOUT_MS} ms`
        : error instanceof Error
          ? error.message
          : "failed";
    countDropped(queue.tenantId, spans.length, destination.redact(why));
  }
}
