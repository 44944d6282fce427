/**
 * Streaming, written once for every backend. A source turns a response body
 * into parsed JSON events (SSE for OpenAI-style and TGI upstreams and the
 * Workers AI binding, NDJSON for Ollama); `collectStream` hands the text of
 * each event to the caller as it arrives and says how the stream ended. A
 * stream that breaks, goes idle or sends garbage keeps the text received so
 * far and ends with finish_reason "error" and an `error` message.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
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
}

const DONE = Symbol("done");
/** Parsed JSON events of one stream, ending early at a `[DONE]` marker. */
export type EventStream = ReadableStream<unknown | typeof DONE>;

/** Server-sent events whose data is JSON; `[DONE]` ends the stream. */
export function sseEvents(body: ReadableStream<Uint8Array>): EventStream {
  return body
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
  return body.pipeThrough(new TextDecoderStream()).pipeThrough(
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

class NotJson {
  constructor(readonly text: string) {}
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return new NotJson(text);
  }
}

/** A stream may run this many times the model's timeout in all, however steadily it trickles. */
export const STREAM_TOTAL_FACTOR = 10;

export async function collectStream(
  events: EventStream,
  read: (event: unknown) => StreamPiece,
  onText: (delta: string) => void | Promise<void>,
  options: { idleMs: number; label: string; onToolCall?: (delta: ToolCallDelta) => void | Promise<void> },
): Promise<Generation> {
  const reader = events.getReader();
  const deadline = Date.now() + options.idleMs * STREAM_TOTAL_FACTOR;
  const calls: ToolCall[] = [];
  /** Assemble a call from its pieces, and pass each piece on in OpenAI's delta form. */
  const takeToolCall = async (piece: NonNullable<StreamPiece["toolCalls"]>[number]) => {
    const index = piece.index ?? calls.length;
    const known = calls[index];
    const call = known ?? (calls[index] = { id: piece.id || newCallId(), name: piece.name ?? "", arguments: "" });
    if (known && piece.name && !known.name) known.name = piece.name;
    call.arguments += piece.arguments ?? "";
    await options.onToolCall?.({ index, ...(!known && { id: call.id, name: call.name }), arguments: piece.arguments ?? "" });
  };
  let text = "";
  let finish: FinishReason | undefined;
  let done = false;
  const usage: Generation["usage"] = { prompt_tokens: null, completion_tokens: null };
  const toolCalls = () => {
    const made = calls.filter(Boolean);
    return made.length > 0 ? { tool_calls: made } : {};
  };
  const broken = (error: string): Generation => ({ text, finish_reason: "error", usage, error, ...toolCalls() });
  try {
    for (;;) {
      const left = deadline - Date.now();
      const next = await withIdleTimeout(reader.read(), Math.min(options.idleMs, Math.max(0, left)));
      if (next === "idle" && left <= options.idleMs) {
        return broken(
          `${options.label} was still streaming after ${(options.idleMs * STREAM_TOTAL_FACTOR) / 1000} s, the limit for a stream (${STREAM_TOTAL_FACTOR} × the model's timeout).`,
        );
      }
      if (next === "idle") return broken(`${options.label} stopped sending for ${options.idleMs / 1000} s.`);
      if (next.done) break;
      if (next.value === DONE) {
        done = true;
        break;
      }
      if (next.value instanceof NotJson) return broken(`${options.label} sent a stream event that is not JSON.`);
      const piece = read(next.value);
      if (piece.error) return broken(`${options.label} reported an error mid-stream: ${piece.error}`);
      if (piece.usage?.prompt_tokens != null) usage.prompt_tokens = piece.usage.prompt_tokens;
      if (piece.usage?.completion_tokens != null) usage.completion_tokens = piece.usage.completion_tokens;
      if (piece.text) {
        text += piece.text;
        await onText(piece.text);
      }
      for (const call of piece.toolCalls ?? []) await takeToolCall(call);
      if (piece.finish) finish = piece.finish;
      if (piece.done) {
        done = true;
        break;
      }
    }
  } catch {
    return broken(`${options.label} broke off the stream.`);
  } finally {
    void reader.cancel().catch(() => {});
  }
  if (!finish && done) finish = "stop";
  if (!finish) return broken(`${options.label} ended the stream without saying why it stopped.`);
  // Some upstreams (Ollama) say "stop" after a tool call; OpenAI's word for it is tool_calls.
  if (finish === "stop" && calls.length > 0) finish = "tool_calls";
  return { text, finish_reason: finish, usage, ...toolCalls() };
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
