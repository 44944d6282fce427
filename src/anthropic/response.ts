/**
 * The gateway's chat result in Anthropic's Messages shapes: the message of a
 * non-streamed answer, and the events of a streamed one
 * (docs.anthropic.com/en/docs/build-with-claude/streaming), in their
 * documented order: message_start, then per content block
 * content_block_start / content_block_delta... / content_block_stop, then
 * message_delta (stop_reason, usage) and message_stop.
 */
import type { Generation, ToolCallDelta } from "../backends/types";
import { argumentsObject, newCallId } from "../backends/tool-calls";
import { GatewayError } from "../errors";
import { estimateTokens } from "../usage/cost";

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "refusal";

export function messageId(): string {
  return `msg_${crypto.randomUUID().replace(/-/g, "")}`;
}

/**
 * Anthropic's stop reasons. The upstreams behind this edge say "stop" both at a
 * natural end and at a stop sequence, without telling which: both read as
 * end_turn (docs/anthropic-api.md).
 */
export function stopReason(result: Generation): StopReason {
  if (result.tool_calls?.length || result.finish_reason === "tool_calls") return "tool_use";
  if (result.finish_reason === "length") return "max_tokens";
  if (result.finish_reason === "content_filter") return "refusal";
  return "end_turn";
}

export interface MessagesUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/**
 * The upstream's own token counts; the gateway's estimates (as metering
 * records them) where it gave none. Anthropic counts cached and cache-written
 * prompt tokens apart from `input_tokens`; the gateway's prompt_tokens holds
 * them all.
 */
export function usage(result: Generation, promptEstimate: number): MessagesUsage {
  const written = result.text + (result.tool_calls ?? []).map((c) => c.name + c.arguments).join("");
  const prompt = result.usage.prompt_tokens;
  const output_tokens = result.usage.completion_tokens ?? estimateTokens(written);
  if (prompt === null) return { input_tokens: promptEstimate, output_tokens };
  const cached = result.usage.cached_tokens ?? 0;
  const writes = result.usage.cache_write_tokens ?? 0;
  return {
    input_tokens: Math.max(0, prompt - cached - writes),
    output_tokens,
    ...(result.usage.cached_tokens != null && { cache_read_input_tokens: cached }),
    ...(result.usage.cache_write_tokens != null && { cache_creation_input_tokens: writes }),
  };
}

/** The content blocks of an answer: its text, then its tool calls with their input parsed. */
export function contentBlocks(result: Generation): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  if (result.text !== "") blocks.push({ type: "text", text: result.text });
  for (const call of result.tool_calls ?? []) {
    const input = argumentsObject(call.arguments);
    if (input === undefined) {
      throw new GatewayError(
        "upstream_error",
        `The model called ${call.name} with arguments that are not a JSON object, which a tool_use block cannot carry.`,
      );
    }
    blocks.push({ type: "tool_use", id: call.id, name: call.name, input });
  }
  return blocks;
}

/** One server-sent event: its name, and its data (which repeats the name as `type`). */
export interface MessagesEvent {
  event: string;
  data: Record<string, unknown>;
}

const event = (type: string, data: Record<string, unknown> = {}): MessagesEvent => ({ event: type, data: { type, ...data } });

/** The first event, sent once the first piece of the answer is in hand. */
export function messageStart(id: string, model: string, inputTokens: number): MessagesEvent {
  return event("message_start", {
    message: {
      id,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 0 },
    },
  });
}

/**
 * Streamed pieces as content block events: text pieces fill a text block, each
 * tool call (its first piece carries id and name) opens a tool_use block whose
 * arguments arrive as input_json_delta. A block is stopped when the next one
 * starts, or at the end.
 */
type OpenBlock = { kind: "text" } | { kind: "tool"; call: number };

export class ContentEvents {
  #index = -1;
  #open: OpenBlock | null = null;

  piece(piece: string | ToolCallDelta): MessagesEvent[] {
    const out: MessagesEvent[] = [];
    if (typeof piece === "string") {
      if (this.#open?.kind !== "text") {
        out.push(...this.stop(), this.#start({ kind: "text" }, { type: "text", text: "" }));
      }
      out.push(event("content_block_delta", { index: this.#index, delta: { type: "text_delta", text: piece } }));
      return out;
    }
    const open = this.#open;
    if (piece.id !== undefined || open?.kind !== "tool" || open.call !== piece.index) {
      out.push(
        ...this.stop(),
        this.#start({ kind: "tool", call: piece.index }, { type: "tool_use", id: piece.id ?? newCallId(), name: piece.name ?? "", input: {} }),
      );
    }
    if (piece.arguments)
      out.push(event("content_block_delta", { index: this.#index, delta: { type: "input_json_delta", partial_json: piece.arguments } }));
    return out;
  }

  /** An upstream's own event (a native stream): its blocks are this message's, so pieces after it continue them. */
  follow(native: Record<string, unknown>): void {
    if (native.type === "content_block_start" && typeof native.index === "number") {
      this.#index = native.index;
      const type = (native.content_block as { type?: unknown } | undefined)?.type;
      this.#open = type === "text" ? { kind: "text" } : { kind: "tool", call: -1 };
    } else if (native.type === "content_block_stop") {
      this.#open = null;
    }
  }

  /** Stop the open block, if any. */
  stop(): MessagesEvent[] {
    if (!this.#open) return [];
    this.#open = null;
    return [event("content_block_stop", { index: this.#index })];
  }

  #start(open: OpenBlock, block: Record<string, unknown>): MessagesEvent {
    this.#open = open;
    this.#index += 1;
    return event("content_block_start", { index: this.#index, content_block: block });
  }
}

/** The last two events of a complete answer; `extra` goes on message_delta (the gateway's `fallback`). */
export function messageEnd(result: Generation, promptEstimate: number, extra?: Record<string, unknown>): MessagesEvent[] {
  return [
    event("message_delta", { delta: { stop_reason: stopReason(result), stop_sequence: null }, usage: usage(result, promptEstimate), ...extra }),
    event("message_stop"),
  ];
}

/** How a stream that broke after it started ends: an error event, and no message_stop. */
export function streamError(message: string): MessagesEvent {
  return event("error", { error: { type: "api_error", message } });
}
