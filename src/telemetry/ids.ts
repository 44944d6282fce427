/**
 * W3C Trace Context ids: reading a caller's `traceparent` and making new ids.
 * https://www.w3.org/TR/trace-context/#traceparent-header
 */

export interface ParentContext {
  traceId: string;
  spanId: string;
  /** The caller sampled its span (flag 01). */
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** A valid `traceparent`, or undefined (a malformed one starts a new trace, as the spec says). */
export function parseTraceparent(value: string | null | undefined): ParentContext | undefined {
  const match = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!match) return undefined;
  const [, version, traceId, spanId, flags] = match as unknown as [string, string, string, string, string];
  if (version === "ff" || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

function randomHex(bytes: number): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const randomTraceId = () => randomHex(16);
export const randomSpanId = () => randomHex(8);
