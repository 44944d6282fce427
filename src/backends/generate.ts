/**
 * "Stream or one answer", written once: a generation streams when the caller
 * takes text as it arrives (`onText`), else it is one whole answer. Backends
 * describe their upstream's two ways; this picks one.
 *
 * A stream is retried (or left for a fallback) until its first token: opening
 * it and reading up to that token is one attempt of the shared retry loop,
 * timed by `first_token_timeout`. From the first token on, it is never retried.
 */
import { forCall, jsonPost, openStream, upstreamJson, type UpstreamPolicy } from "./http";
import { retrying, type RetryPolicy } from "./retry";
import { collectStream, type EventStream, type StreamPiece, untilFirstToken } from "./stream";
import type { CallOptions, Generation } from "./types";

export interface GenerationWays {
  /** Open the upstream's stream: one attempt, given up when `signal` aborts. */
  connect(signal: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** The whole answer at once, read into a Generation. */
  whole(): Promise<Generation>;
  /** How the stream's bytes become events (`sseEvents`, `ndjsonEvents`), and what one event says. */
  events(body: ReadableStream<Uint8Array>): EventStream;
  piece(event: unknown): StreamPiece;
  /** False when the upstream cannot stream this request (Workers AI with tools or JSON mode): a streaming caller gets the whole answer at once. */
  streams?: boolean;
}

/**
 * `policy.firstTokenMs` bounds each attempt up to the first token;
 * `policy.stallMs` (else `timeoutMs`) is then the longest gap a stream may
 * leave between pieces, and 10 times `timeoutMs` its whole length.
 */
export async function streamOrWhole(ways: GenerationWays, options: CallOptions | undefined, policy: RetryPolicy): Promise<Generation> {
  const onText = options?.onText;
  if (!onText) return ways.whole();
  if (ways.streams === false) return handOver(await ways.whole(), options);
  const firstToken = {
    ...policy,
    timeoutMs: policy.firstTokenMs ?? policy.timeoutMs,
    timeoutName: "first_token_timeout in the model config",
    onTimedOut: options.onTimedOut && ((elapsedMs: number) => options.onTimedOut!({ elapsedMs, streamed: true })),
  };
  const started = await retrying(firstToken, async (signal, disarm) => {
    const first = await untilFirstToken(ways.events(await ways.connect(signal)), ways.piece, signal, policy.label);
    disarm();
    return first;
  });
  return collectStream(started, onText, {
    idleMs: policy.timeoutMs,
    stallMs: policy.stallMs,
    label: policy.label,
    onToolCall: options.onToolCall,
    onNative: options.onNative,
  });
}

/** A whole answer given to a streaming caller as one piece of text and whole tool calls. */
async function handOver(result: Generation, options: CallOptions): Promise<Generation> {
  if (result.text) await options.onText?.(result.text);
  for (const [index, call] of (result.tool_calls ?? []).entries()) {
    await options.onToolCall?.({ index, id: call.id, name: call.name, arguments: call.arguments });
  }
  return result;
}

/** A generation POSTed as JSON to one URL, the body differing only in whether it asks for a stream. */
export interface HttpGeneration {
  url: string;
  body(stream: boolean): unknown;
  headers: Record<string, string>;
  /** The accept header of a streaming call; application/json unless the upstream needs otherwise. */
  streamAccept?: string;
  events(body: ReadableStream<Uint8Array>): EventStream;
  piece(event: unknown): StreamPiece;
  parse(json: unknown, label: string): Generation;
}

export function httpGeneration(call: HttpGeneration, policy: Omit<UpstreamPolicy, "signal">, options?: CallOptions): Promise<Generation> {
  const forThis = forCall(policy, options);
  return streamOrWhole(
    {
      connect: (signal) => openStream(call.url, jsonPost(call.body(true), call.headers, call.streamAccept), forThis, signal),
      whole: async () => call.parse(await upstreamJson(call.url, jsonPost(call.body(false), call.headers), forThis), policy.label),
      events: call.events,
      piece: call.piece,
    },
    options,
    forThis,
  );
}
