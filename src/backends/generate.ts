/**
 * "Stream or one answer", written once: a generation streams when the caller
 * takes text as it arrives (`onText`), else it is one whole answer. Backends
 * describe their upstream's two ways; this picks one.
 */
import { jsonPost, upstreamJson, upstreamStream, type UpstreamPolicy } from "./http";
import { collectStream, type EventStream, type StreamPiece } from "./stream";
import type { CallOptions, Generation } from "./types";

export interface GenerationWays {
  /** Start the upstream's stream; once it has started, the call is never retried. */
  stream(): Promise<ReadableStream<Uint8Array>>;
  /** The whole answer at once, read into a Generation. */
  whole(): Promise<Generation>;
  /** How the stream's bytes become events (`sseEvents`, `ndjsonEvents`), and what one event says. */
  events(body: ReadableStream<Uint8Array>): EventStream;
  piece(event: unknown): StreamPiece;
  /** False when the upstream cannot stream this request (Workers AI with tools or JSON mode): a streaming caller gets the whole answer at once. */
  streams?: boolean;
}

/** `idleMs` is the longest gap a stream may leave between pieces (the model's timeout). */
export async function streamOrWhole(
  ways: GenerationWays,
  options: CallOptions | undefined,
  stream: { idleMs: number; label: string },
): Promise<Generation> {
  if (!options?.onText) return ways.whole();
  if (ways.streams === false) return handOver(await ways.whole(), options);
  return collectStream(ways.events(await ways.stream()), ways.piece, options.onText, { ...stream, onToolCall: options.onToolCall });
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
  const withSignal = { ...policy, signal: options?.signal };
  return streamOrWhole(
    {
      stream: () => upstreamStream(call.url, jsonPost(call.body(true), call.headers, call.streamAccept), withSignal),
      whole: async () => call.parse(await upstreamJson(call.url, jsonPost(call.body(false), call.headers), withSignal), policy.label),
      events: call.events,
      piece: call.piece,
    },
    options,
    { idleMs: policy.timeoutMs, label: policy.label },
  );
}
