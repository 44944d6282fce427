/**
 * Streaming, written once for every backend. A source turns a response body
 * into parsed JSON events (SSE for OpenAI-style and TGI upstreams and the
 * Workers AI binding, NDJSON for Ollama), reading at most MAX_STREAM_BYTES.
 *
 * A stream is read in two phases. Until its first token (`untilFirstToken`)
 * nothing has reached the caller, so any failure is thrown: the call is
 * retried or goes to a fallback. From the first token on (`collectStream`),
 * the text of each event goes to the caller as it arrives, and a stream that
 * breaks, goes idle, grows past the cap or reports an error keeps the text
 * received so far and ends with finish_reason "error" and an `error` message.
 * An event that is not JSON is skipped and counted, in either phase; a stream
 * with no valid event at all fails.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { GatewayError } from "../errors";
import { newCallId } from "./tool-calls";
import type { FinishReason, Generation, ToolCall, ToolCallDelta } from "./types";

/** What one stream event contributes. */
export interface StreamPiece {
  text?: string;
  finish?: FinishReason;
  usage?: Partial<Generation["usage"]>;
  /** The upstream reported an error inside the stream. */
  error?: string;
  /** The event marks the end of the stream (`[DONE]`, Ollama's `done: true`). */
  done?: boolean;
  /**
   * Tool call pieces: OpenAI-style deltas with an `index`, or whole calls
   * without one (Ollama), each then a new call after those seen so far.
   */
  toolCalls?: (Omit<ToolCallDelta, "index"> & { index?: number })[];
  /** The event as the upstream sent it, for a native call: it goes to `onNative` instead of its text and tool calls. */
  native?: Record<string, unknown>;
  /** The event brings the caller content though no text of the answer (a native call's thinking). */
  content?: boolean;
}

/** Whether a piece brings the caller something: text or a piece of a tool call (the "first token"). */
function isToken(piece: StreamPiece): boolean {
  return Boolean(piece.text) || (piece.toolCalls?.length ?? 0) > 0 || piece.content === true;
}

const DONE = Symbol("done");
/** Parsed JSON events of one stream, ending early at a `[DONE]` marker. */
export type EventStream = ReadableStream<unknown>;

/**
 * The most of one stream the gateway reads (raw bytes from the upstream). A
 * stream is not held: each event is passed on as it is read, and only the
 * text is kept (a small part of the bytes: each token comes in an event).
 */
export const MAX_STREAM_BYTES = 32 * 1024 * 1024;

/** A stream that went past MAX_STREAM_BYTES. */
class TooLarge extends Error {}

/** The body, erroring once it passes MAX_STREAM_BYTES (the upstream connection is then cancelled). */
function capped(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > MAX_STREAM_BYTES) throw new TooLarge();
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Server-sent events whose data is JSON; `[DONE]` ends the stream. */
export function sseEvents(body: ReadableStream<Uint8Array>): EventStream {
  return capped(body)
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
    .pipeThrough(
      new TransformStream<{ data: string }, unknown>({
        transform(event, controller) {
          const data = event.data.trim();
          if (data === "[DONE]") controller.enqueue(DONE);
          else if (data) controller.enqueue(parseJson(data));
        },
      }),
    );
}

/** Newline-delimited JSON (Ollama). */
export function ndjsonEvents(body: ReadableStream<Uint8Array>): EventStream {
  let buffer = "";
  return capped(body)
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(
      new TransformStream<string, unknown>({
        transform(chunk, controller) {
          buffer += chunk;
          const lines = buffer.split("\n");
          buffer = lines.pop() ?? "";
          for (const line of lines) if (line.trim()) controller.enqueue(parseJson(line));
        },
        flush(controller) {
          if (buffer.trim()) controller.enqueue(parseJson(buffer));
        },
      }),
    );
}

/** An event whose data is not JSON (its text is dropped: it is never shown or logged). */
const NOT_JSON = Symbol("not json");

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

/** A stream may run this many times the model's timeout in all, however steadily it trickles. */
export const STREAM_TOTAL_FACTOR = 10;

/** A stream read up to its first token, handed from `untilFirstToken` to `collectStream`. */
export interface StartedStream {
  reader: ReadableStreamDefaultReader<unknown>;
  read: (event: unknown) => StreamPiece;
  /** The pieces read so far, the first token last; or the whole answer when it ended without text. */
  pieces: StreamPiece[];
  /** The stream ended properly before any text: an empty answer, complete. */
  ended: boolean;
  /** Events skipped because they were not JSON. */
  skipped: number;
}

/**
 * Read until the first token (or a proper end without text), giving up when
 * `signal` aborts (the first-token timer, or the caller going away). Every
 * failure is thrown: nothing has reached the caller yet.
 */
export async function untilFirstToken(
  events: EventStream,
  read: (event: unknown) => StreamPiece,
  signal: AbortSignal,
  label: string,
): Promise<StartedStream> {
  const reader = events.getReader();
  const pieces: StreamPiece[] = [];
  let skipped = 0;
  let ended = false;
  try {
    for (;;) {
      const next = await abortable(reader.read(), signal);
      if (next.done) break;
      if (next.value === DONE) {
        ended = true;
        break;
      }
      if (next.value === NOT_JSON) {
        skipped++;
        continue;
      }
      const piece = read(next.value);
      if (piece.error)
        throw new GatewayError("upstream_error", `${label} reported an error before its first token: ${piece.error}`, { retryable: true });
      pieces.push(piece);
      if (isToken(piece)) return { reader, read, pieces, ended: false, skipped };
      if (piece.done) {
        ended = true;
        break;
      }
    }
  } catch (error) {
    void reader.cancel().catch(() => {});
    if (error instanceof TooLarge) throw tooLarge(label);
    if (signal.aborted || error instanceof GatewayError) throw error; // the retry loop names a timeout or a cancellation
    throw new GatewayError("upstream_error", `${label} broke off the stream before its first token.`, { retryable: true });
  }
  void reader.cancel().catch(() => {});
  logSkipped(label, skipped);
  if (ended || pieces.some((p) => p.finish)) return { reader, read, pieces, ended: true, skipped: 0 };
  const why = pieces.length === 0 ? "sent a stream with no valid event" : "ended the stream before its first token without saying why it stopped";
  throw new GatewayError("upstream_error", `${label} ${why}.`, { retryable: true });
}

/** From the first token on: hand each piece of text to `onText` (and of tool calls to `onToolCall`) and say how the stream ended. */
export async function collectStream(
  started: StartedStream,
  onText: (delta: string) => void | Promise<void>,
  options: {
    idleMs: number;
    stallMs?: number;
    label: string;
    onToolCall?: (delta: ToolCallDelta) => void | Promise<void>;
    onNative?: (event: Record<string, unknown>) => void | Promise<void>;
  },
): Promise<Generation> {
  const { reader } = started;
  const deadline = Date.now() + options.idleMs * STREAM_TOTAL_FACTOR;
  const stallMs = options.stallMs ?? options.idleMs;
  const calls: ToolCall[] = [];
  /** The piece being taken is a native event, already given to the caller whole. */
  let native = false;
  /** Assemble a call from its pieces, and pass each piece on in OpenAI's delta form. */
  const takeToolCall = async (piece: NonNullable<StreamPiece["toolCalls"]>[number]) => {
    const index = piece.index ?? calls.length;
    const known = calls[index];
    const call = known ?? (calls[index] = { id: piece.id || newCallId(), name: piece.name ?? "", arguments: "" });
    if (known && piece.name && !known.name) known.name = piece.name;
    call.arguments += piece.arguments ?? "";
    if (native) return; // the caller has the upstream's own event
    await options.onToolCall?.({ index, ...(!known && { id: call.id, name: call.name }), arguments: piece.arguments ?? "" });
  };
  let text = "";
  let finish: FinishReason | undefined;
  let done = started.ended;
  let skipped = started.skipped;
  const usage: Generation["usage"] = { prompt_tokens: null, completion_tokens: null };
  const usageFields = ["prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens"] as const;
  const toolCalls = () => {
    const made = calls.filter(Boolean);
    return made.length > 0 ? { tool_calls: made } : {};
  };
  const broken = (error: string): Generation => ({ text, finish_reason: "error", usage, error, ...toolCalls() });
  /** Take one piece; true when it ends the stream. */
  const take = async (piece: StreamPiece): Promise<boolean> => {
    // Each count as the upstream last gave it (Anthropic gives the prompt's at the start, the output's at the end).
    for (const field of usageFields) {
      const value = piece.usage?.[field];
      if (value != null) usage[field] = value;
    }
    native = piece.native !== undefined && options.onNative !== undefined;
    if (native) await options.onNative?.(piece.native!);
    if (piece.text) {
      text += piece.text;
      if (!native) await onText(piece.text);
    }
    for (const call of piece.toolCalls ?? []) await takeToolCall(call);
    if (piece.finish) finish = piece.finish;
    return piece.done === true;
  };
  try {
    for (const piece of started.pieces) await take(piece);
    while (!done) {
      const left = deadline - Date.now();
      const next = await withIdleTimeout(reader.read(), Math.min(stallMs, Math.max(0, left)));
      if (next === "idle" && left <= stallMs) {
        return broken(
          `${options.label} was still streaming after ${(options.idleMs * STREAM_TOTAL_FACTOR) / 1000} s, the limit for a stream (${STREAM_TOTAL_FACTOR} × the model's timeout).`,
        );
      }
      if (next === "idle") return broken(`${options.label} stopped sending for ${stallMs / 1000} s (stall_timeout in the model config).`);
      if (next.done) break;
      if (next.value === DONE) {
        done = true;
        break;
      }
      if (next.value === NOT_JSON) {
        skipped++;
        continue;
      }
      const parsed = started.read(next.value);
      if (parsed.error) return broken(`${options.label} reported an error mid-stream: ${parsed.error}`);
      if (await take(parsed)) done = true;
    }
  } catch (error) {
    if (error instanceof TooLarge) return broken(tooLarge(options.label).message);
    return broken(`${options.label} broke off the stream.`);
  } finally {
    void reader.cancel().catch(() => {});
    logSkipped(options.label, skipped);
  }
  if (!finish && done) finish = "stop";
  if (!finish) return broken(`${options.label} ended the stream without saying why it stopped.`);
  // Some upstreams (Ollama) say "stop" after a tool call; OpenAI's word for it is tool_calls.
  if (finish === "stop" && calls.length > 0) finish = "tool_calls";
  return { text, finish_reason: finish, usage, ...toolCalls() };
}

function tooLarge(label: string): GatewayError {
  return new GatewayError(
    "upstream_error",
    `${label} sent more than ${MAX_STREAM_BYTES / 1024 / 1024} MiB in one stream; the gateway stopped reading there.`,
  );
}

/** Skipped events are counted, never quoted: their text could hold anything, secrets included. */
function logSkipped(label: string, skipped: number): void {
  if (skipped > 0) console.warn(`stream: skipped ${skipped} event(s) that were not JSON from ${label}`);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function withIdleTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "idle"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<"idle">((resolve) => {
    timer = setTimeout(() => resolve("idle"), ms);
  });
  try {
    return await Promise.race([promise, idle]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
