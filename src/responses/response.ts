/**
 * The gateway's chat result in OpenAI's Responses shapes: the response object
 * of a non-streamed answer, and the events of a streamed one
 * (platform.openai.com/docs/api-reference/responses-streaming), in their
 * documented order: response.created, response.in_progress, then per output
 * item response.output_item.added, its content (response.content_part.added /
 * response.output_text.delta... / response.output_text.done /
 * response.content_part.done, or response.function_call_arguments.delta... /
 * .done), response.output_item.done; then response.completed (or
 * response.incomplete) with the usage. Every event carries a sequence_number.
 */
import type { Generation, ToolCall, ToolCallDelta } from "../backends/types";
import { newCallId } from "../backends/tool-calls";
import { estimateTokens } from "../usage/cost";
import type { ResponsesRequest } from "./schemas";

const hex = () => crypto.randomUUID().replace(/-/g, "");
export const responseId = () => `resp_${hex()}`;
const messageItemId = () => `msg_${hex()}`;
const callItemId = () => `fc_${hex()}`;

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens_details: { reasoning_tokens: number };
}

/** The upstream's own token counts; the gateway's estimates (as metering records them) where it gave none. */
export function usage(result: Generation, promptEstimate: number): Usage {
  const written = result.text + (result.tool_calls ?? []).map((c) => c.name + c.arguments).join("");
  const input = result.usage.prompt_tokens ?? promptEstimate;
  const output = result.usage.completion_tokens ?? estimateTokens(written);
  return {
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    input_tokens_details: { cached_tokens: result.usage.cached_tokens ?? 0 },
    output_tokens_details: { reasoning_tokens: result.usage.reasoning_tokens ?? 0 },
  };
}

/** Why an answer is incomplete (it was cut), or null when it is complete. */
export function incomplete(result: Generation): { reason: "max_output_tokens" | "content_filter" } | null {
  if (result.finish_reason === "length") return { reason: "max_output_tokens" };
  if (result.finish_reason === "content_filter") return { reason: "content_filter" };
  return null;
}

/** The fields of a response object that echo the request (the SDKs read them). */
export function echo(body: ResponsesRequest) {
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    text: { format: body.text?.format ?? { type: "text" }, ...(body.text?.verbosity && { verbosity: body.text.verbosity }) },
    reasoning: body.reasoning ?? { effort: null, summary: null },
    truncation: body.truncation ?? "disabled",
    metadata: body.metadata ?? {},
    user: body.user ?? null,
    store: body.store ?? true,
    background: false,
    previous_response_id: body.previous_response_id ?? null,
  };
}

export interface Shell {
  id: string;
  created_at: number;
  model: string;
  echo: ReturnType<typeof echo>;
}

/** A response object in a given state. */
export function responseObject(
  shell: Shell,
  fields: { status: string; output: unknown[]; usage?: Usage | null; error?: unknown; incomplete_details?: unknown },
) {
  return {
    id: shell.id,
    object: "response",
    created_at: shell.created_at,
    status: fields.status,
    error: fields.error ?? null,
    incomplete_details: fields.incomplete_details ?? null,
    model: shell.model,
    output: fields.output,
    usage: fields.usage ?? null,
    ...shell.echo,
  };
}

function messageItem(id: string, text: string, status: string) {
  return { type: "message", id, role: "assistant", status, content: [{ type: "output_text", text, annotations: [] }] };
}

function callItem(id: string, call: ToolCall, status: string) {
  return { type: "function_call", id, call_id: call.id, name: call.name, arguments: call.arguments, status };
}

/** The output items of an answer: its text as one message, then its function calls. */
export function outputItems(result: Generation): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (result.text !== "") out.push(messageItem(messageItemId(), result.text, "completed"));
  for (const call of result.tool_calls ?? []) out.push(callItem(callItemId(), call, "completed"));
  return out;
}

/** One server-sent event: its name, and its data (which repeats the name as `type`). */
export interface ResponsesEvent {
  event: string;
  data: Record<string, unknown>;
}

type OpenItem = { kind: "text"; id: string; text: string } | { kind: "call"; id: string; index: number; call: ToolCall };

/**
 * Streamed pieces as Responses events, numbered: text pieces fill a message
 * item, each tool call (its first piece carries id and name) opens a
 * function_call item whose arguments arrive as deltas. An item is done when
 * the next one starts, or at the end. `done` holds the finished items, for
 * the final response object.
 */
export class ResponseEvents {
  readonly done: Record<string, unknown>[] = [];
  #sequence = 0;
  #open: OpenItem | null = null;

  event(type: string, data: Record<string, unknown> = {}): ResponsesEvent {
    return { event: type, data: { type, sequence_number: this.#sequence++, ...data } };
  }

  piece(piece: string | ToolCallDelta): ResponsesEvent[] {
    const out: ResponsesEvent[] = [];
    if (typeof piece === "string") {
      if (this.#open?.kind !== "text") {
        out.push(...this.stop());
        const open: OpenItem = { kind: "text", id: messageItemId(), text: "" };
        this.#open = open;
        out.push(
          this.event("response.output_item.added", {
            output_index: this.done.length,
            item: { ...messageItem(open.id, "", "in_progress"), content: [] },
          }),
          this.event("response.content_part.added", {
            item_id: open.id,
            output_index: this.done.length,
            content_index: 0,
            part: { type: "output_text", text: "", annotations: [] },
          }),
        );
      }
      const open = this.#open as Extract<OpenItem, { kind: "text" }>;
      open.text += piece;
      out.push(
        this.event("response.output_text.delta", { item_id: open.id, output_index: this.done.length, content_index: 0, delta: piece, logprobs: [] }),
      );
      return out;
    }
    const open = this.#open;
    if (piece.id !== undefined || open?.kind !== "call" || open.index !== piece.index) {
      out.push(...this.stop());
      const started: OpenItem = {
        kind: "call",
        id: callItemId(),
        index: piece.index,
        call: { id: piece.id ?? newCallId(), name: piece.name ?? "", arguments: "" },
      };
      this.#open = started;
      out.push(this.event("response.output_item.added", { output_index: this.done.length, item: callItem(started.id, started.call, "in_progress") }));
    }
    const current = this.#open as Extract<OpenItem, { kind: "call" }>;
    if (piece.arguments) {
      current.call.arguments += piece.arguments;
      out.push(this.event("response.function_call_arguments.delta", { item_id: current.id, output_index: this.done.length, delta: piece.arguments }));
    }
    return out;
  }

  /** Finish the open item, if any. */
  stop(): ResponsesEvent[] {
    const open = this.#open;
    if (!open) return [];
    this.#open = null;
    const index = this.done.length;
    if (open.kind === "text") {
      const item = messageItem(open.id, open.text, "completed");
      this.done.push(item);
      const part = { type: "output_text", text: open.text, annotations: [] };
      return [
        this.event("response.output_text.done", { item_id: open.id, output_index: index, content_index: 0, text: open.text, logprobs: [] }),
        this.event("response.content_part.done", { item_id: open.id, output_index: index, content_index: 0, part }),
        this.event("response.output_item.done", { output_index: index, item }),
      ];
    }
    const item = callItem(open.id, open.call, "completed");
    this.done.push(item);
    return [
      this.event("response.function_call_arguments.done", {
        item_id: open.id,
        output_index: index,
        name: open.call.name,
        arguments: open.call.arguments,
      }),
      this.event("response.output_item.done", { output_index: index, item }),
    ];
  }
}
