/**
 * The `Server-Timing` header every response carries: what the gateway itself
 * took apart from the upstream, and the storage round trips it made.
 *
 *   gateway;dur=3.1, upstream;dur=812.4, storage;desc="round trips";dur=1
 *
 * Measured when the headers go out. A streamed response's headers go out at
 * its first piece, so there `upstream` is the time to the first piece (over
 * all attempts) and `gateway` is everything else up to then. `storage` is a
 * count, not milliseconds (Server-Timing has no other field for a number).
 */
import type { RequestTrace } from "./request-trace";

const ms = (value: number) => Math.max(0, Math.round(value * 10) / 10);

export function serverTiming(trace: RequestTrace, storageTrips: number): string {
  const total = trace.elapsedMs();
  const upstream = Math.min(total, trace.upstreamMs());
  return `gateway;dur=${ms(total - upstream)}, upstream;dur=${ms(upstream)}, storage;desc="round trips";dur=${storageTrips}`;
}

/** Add a header to a response, copying it when its headers are immutable (Response.redirect, the OAuth library's). */
export function withHeader(response: Response, name: string, value: string): Response {
  try {
    response.headers.append(name, value);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.append(name, value);
    return copy;
  }
}
