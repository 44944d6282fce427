/**
 * What one request did, gathered while it runs: its ids, the route (or MCP
 * tool) it took, the call it made and each upstream attempt of it. The
 * Server-Timing header (./server-timing.ts), the request's log line
 * (./request-log.ts) and its spans (./spans.ts) are all read from it, so they
 * say the same thing.
 *
 * It travels with the request through `AsyncLocalStorage` (nodejs_compat), so
 * the inference core notes its attempts without every signature on the way
 * carrying it; outside a request (health checks run from alarms) there is none
 * and nothing is noted.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { type ParentContext, parseTraceparent, randomSpanId, randomTraceId } from "./ids";

/** One upstream attempt of the request's call. */
export interface AttemptRecord {
  spanId: string;
  modelId: string;
  backendType: string;
  /** 0: the model asked for; 1 and up: its fallbacks in route order. */
  fallbackIndex: number;
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt?: number;
  /** Milliseconds from the attempt's start to its first streamed piece, when it streamed. */
  firstPieceMs?: number;
  /** The gateway's error code when the attempt failed. */
  errorType?: string;
  responseModel?: string;
  finishReasons?: string[];
  inputTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
  /** The breaker let this attempt through as its trial call. */
  breakerTrial?: boolean;
}

/** The call the request made (the first, when a request makes more than one). */
export interface CallRecord {
  operation: string;
  requestModel: string;
  /** The model that answered, when one did. */
  answeredBy?: string;
  /** How it finished a stream another model broke off after text reached the caller (src/inference/rescue.ts). */
  rescued?: "prefill" | "regenerated";
  backendType: string;
  /** Models skipped before any attempt (blocked, breaker open): what and why, in words. */
  skipped: { modelId: string; reason: string }[];
  /** What was counted for the call (src/usage/meter.ts): the numbers get_usage reports. */
  usage?: { inputTokens: number; outputTokens: number; costNano: number; estimated: boolean };
  /** The request's text and the answer's, kept only while the tenant opted in to exporting it (and redacted). */
  content?: { input: string; output?: string };
}

export class RequestTrace {
  readonly requestId = crypto.randomUUID();
  traceId: string;
  readonly spanId = randomSpanId();
  /** The caller's span this request's span is a child of (from `traceparent` or MCP `_meta.traceparent`). */
  parent?: ParentContext;
  readonly startedAt = Date.now();
  readonly started = performance.now();
  route: string;
  tenantId?: string;
  keyId?: string;
  tool?: string;
  status?: number;
  call?: CallRecord;
  readonly attempts: AttemptRecord[] = [];
  /** Milliseconds spent waiting on finished attempts; `upstreamMs()` adds the one in progress. */
  private upstreamDone = 0;
  private inFlight?: number;

  constructor(method: string, path: string, traceparent: string | null) {
    this.route = `${method} ${path}`;
    this.parent = parseTraceparent(traceparent);
    this.traceId = this.parent?.traceId ?? randomTraceId();
  }

  /** MCP's `_meta.traceparent` names the caller's span when the HTTP header did not. */
  joinCaller(traceparent: unknown): void {
    if (this.parent || this.call) return;
    const parent = parseTraceparent(typeof traceparent === "string" ? traceparent : null);
    if (!parent) return;
    this.parent = parent;
    this.traceId = parent.traceId;
  }

  attemptStarted(record: Omit<AttemptRecord, "spanId" | "startedAt">): AttemptRecord {
    const attempt: AttemptRecord = { ...record, spanId: randomSpanId(), startedAt: Date.now() };
    this.attempts.push(attempt);
    this.inFlight = performance.now();
    return attempt;
  }

  attemptEnded(attempt: AttemptRecord): void {
    attempt.endedAt = Date.now();
    if (this.inFlight !== undefined) this.upstreamDone += performance.now() - this.inFlight;
    this.inFlight = undefined;
  }

  /** Time spent waiting on upstreams so far: finished attempts, and the one in progress up to now. */
  upstreamMs(): number {
    return this.upstreamDone + (this.inFlight === undefined ? 0 : performance.now() - this.inFlight);
  }

  elapsedMs(): number {
    return performance.now() - this.started;
  }
}

const current = new AsyncLocalStorage<RequestTrace>();

/** Run a request's handling with its trace. */
export function withTrace<T>(trace: RequestTrace, run: () => T): T {
  return current.run(trace, run);
}

/** The trace of the request running now, if any. */
export function currentTrace(): RequestTrace | undefined {
  return current.getStore();
}
