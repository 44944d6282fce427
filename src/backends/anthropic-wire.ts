/**
 * Anthropic's Messages API on the wire (docs.anthropic.com/en/api/messages,
 * /en/docs/build-with-claude/streaming), written once: the gateway's typed
 * chat request as a Messages body, the message answered, and what each
 * streamed event says. Used by the `anthropic` backend.
 *
 * Translation: system messages become the top-level `system`; tool messages
 * become `tool_result` blocks of a user turn; an assistant's tool calls become
 * `tool_use` blocks; image parts become image blocks (a URL source, or base64
 * from a data: URL); `tool_choice` "required" is Anthropic's `any`;
 * `parallel_tool_calls: false` is `disable_parallel_tool_use`; a JSON schema
 * output is `output_config.format` (structured outputs). Anthropic has no
 * seed, penalties, logit bias or schema-less JSON mode: refused by name.
 */
import { z } from "zod";
import { GatewayError } from "../errors";
import { DEFAULT_MAX_TOKENS } from "../usage/cost";
import { dataUrl } from "./images";
import { type ParamMap, refuseExtras, unsupportedParam, wireParams } from "./params";
import type { StreamPiece } from "./stream";
import { argumentsObject } from "./tool-calls";
import type { ChatMessage, ChatRequest, ContentPart, FinishReason, Generation, ToolCall } from "./types";
import { parseAnswer } from "./wire";

/** The gateway's parameters by Anthropic's names; `user` goes into `metadata.user_id` (see `messagesBody`). */
const ANTHROPIC_PARAMS: ParamMap = {
  max_tokens: "max_tokens",
  temperature: "temperature",
  top_p: "top_p",
  stop: "stop_sequences",
  seed: null,
  presence_penalty: null,
  frequency_penalty: null,
  logit_bias: null,
  user: null,
};

type Block = Record<string, unknown>;
interface Turn {
  role: "user" | "assistant";
  content: Block[];
}

/** The whole request as a Messages body (`max_tokens` is required by Anthropic: the caller's, else DEFAULT_MAX_TOKENS). */
export function messagesBody(model: string, request: ChatRequest, stream: boolean, label: string): Record<string, unknown> {
  refuseExtras(request.extra, label);
  const { user, ...sampling } = request;
  const system = request.messages.filter((m) => m.role === "system").map((m) => m.content);
  return {
    model,
    ...(system.length > 0 && { system: system.join("\n\n") }),
    messages: turns(request.messages, label),
    ...wireParams(sampling, ANTHROPIC_PARAMS, label),
    max_tokens: request.max_tokens ?? DEFAULT_MAX_TOKENS,
    ...(user !== undefined && { metadata: { user_id: user } }),
    ...tooling(request),
    ...outputFormat(request, label),
    ...(stream && { stream: true }),
  };
}

/** The conversation as Anthropic's alternating turns: consecutive messages of one role share a turn. */
function turns(messages: readonly ChatMessage[], label: string): Turn[] {
  const out: Turn[] = [];
  const add = (role: Turn["role"], blocks: Block[]) => {
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const message of messages) {
    if ("name" in message && message.name !== undefined) throw unsupportedParam("messages[].name", label);
    switch (message.role) {
      case "system":
        break;
      case "user":
        add("user", typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content.map(part));
        break;
      case "assistant":
        add("assistant", [
          ...(message.content !== "" ? [{ type: "text", text: message.content }] : []),
          ...(message.tool_calls ?? []).map((call) => toolUse(call, label)),
        ]);
        break;
      case "tool":
        add("user", [{ type: "tool_result", tool_use_id: message.tool_call_id, content: message.content }]);
        break;
    }
  }
  // Anthropic refuses an empty text block; an assistant turn with nothing in it says nothing either.
  return out.filter((turn) => turn.content.length > 0);
}

function part(content: ContentPart): Block {
  if (content.type === "text") return { type: "text", text: content.text };
  const url = content.image_url.url;
  if (url.startsWith("data:")) {
    const { mediaType, base64 } = dataUrl(url);
    return { type: "image", source: { type: "base64", media_type: mediaType, data: base64 } };
  }
  return { type: "image", source: { type: "url", url } };
}

function toolUse(call: ToolCall, label: string): Block {
  const input = argumentsObject(call.arguments);
  if (input === undefined) {
    throw new GatewayError(
      "invalid_request",
      `messages: the assistant's call of ${call.name} has arguments that are not a JSON object, which ${label} cannot take.`,
    );
  }
  return { type: "tool_use", id: call.id, name: call.name, input };
}

function tooling(request: ChatRequest): Record<string, unknown> {
  const { tools, tool_choice, parallel_tool_calls } = request;
  const out: Record<string, unknown> = {};
  if (tools && tools.length > 0) {
    out.tools = tools.map(({ function: f }) => ({
      name: f.name,
      ...(f.description !== undefined && { description: f.description }),
      input_schema: f.parameters ?? { type: "object", properties: {} },
      ...(f.strict === true && { strict: true }),
    }));
  }
  let choice: Record<string, unknown> | undefined;
  if (tool_choice === "auto") choice = { type: "auto" };
  else if (tool_choice === "none") choice = { type: "none" };
  else if (tool_choice === "required") choice = { type: "any" };
  else if (tool_choice) choice = { type: "tool", name: tool_choice.function.name };
  // Without tools (or with none allowed) there are no calls to keep apart: nothing to send.
  if (parallel_tool_calls === false && out.tools && choice?.type !== "none") {
    choice = { ...(choice ?? { type: "auto" }), disable_parallel_tool_use: true };
  }
  if (choice) out.tool_choice = choice;
  return out;
}

function outputFormat(request: ChatRequest, label: string): Record<string, unknown> {
  const format = request.response_format;
  if (!format || format.type === "text") return {};
  if (format.type === "json_object") {
    throw unsupportedParam("response_format", label, "has no JSON mode without a schema (only json_schema, as structured outputs)");
  }
  return { output_config: { format: { type: "json_schema", schema: format.json_schema.schema ?? { type: "object" } } } };
}

const Usage = z.object({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  cache_read_input_tokens: z.number().nullish(),
  cache_creation_input_tokens: z.number().nullish(),
  output_tokens_details: z.object({ thinking_tokens: z.number().nullish() }).passthrough().nullish(),
});

const ContentBlock = z.looseObject({
  type: z.string(),
  text: z.string().optional(),
  id: z.string().optional(),
  name: z.string().optional(),
  input: z.unknown().optional(),
});

export const Message = z.object({
  content: z.array(ContentBlock),
  stop_reason: z.string().nullish(),
  usage: Usage.nullish(),
});

/** Anthropic's stop reasons in the gateway's words. */
export function anthropicFinish(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
      return "stop";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return "unknown";
  }
}

/**
 * Anthropic's usage as the gateway counts it: `input_tokens` excludes the
 * prompt tokens read from or written to the cache, the gateway's
 * prompt_tokens holds them all. Fields absent from an event are left unset
 * (message_start and message_delta each carry some).
 */
export function anthropicUsage(value: z.infer<typeof Usage> | null | undefined): Partial<Generation["usage"]> {
  if (!value) return {};
  const read = value.cache_read_input_tokens ?? null;
  const written = value.cache_creation_input_tokens ?? null;
  const input = value.input_tokens ?? null;
  return {
    ...(input !== null && { prompt_tokens: input + (read ?? 0) + (written ?? 0) }),
    ...(value.output_tokens != null && { completion_tokens: value.output_tokens }),
    ...(read !== null && { cached_tokens: read }),
    ...(written !== null && { cache_write_tokens: written }),
    ...(value.output_tokens_details?.thinking_tokens != null && { reasoning_tokens: value.output_tokens_details.thinking_tokens }),
  };
}

/** A whole message: its text blocks joined, its tool_use blocks as tool calls (thinking blocks are not the answer). */
export function messageGeneration(json: unknown, label: string): Generation {
  const message = parseAnswer(Message, json, label);
  const text = message.content.map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("");
  const calls = message.content
    .filter((b) => b.type === "tool_use")
    .map((b) => ({ id: b.id ?? "", name: b.name ?? "", arguments: JSON.stringify(b.input ?? {}) }));
  return {
    text,
    finish_reason: anthropicFinish(message.stop_reason),
    usage: { prompt_tokens: null, completion_tokens: null, ...anthropicUsage(message.usage) },
    ...(calls.length > 0 && { tool_calls: calls }),
  };
}

const Event = z.looseObject({
  type: z.string(),
  index: z.number().int().min(0).optional(),
  message: z.looseObject({ usage: Usage.nullish() }).optional(),
  content_block: ContentBlock.optional(),
  delta: z
    .looseObject({
      type: z.string().optional(),
      text: z.string().optional(),
      partial_json: z.string().optional(),
      stop_reason: z.string().nullish(),
    })
    .optional(),
  usage: Usage.nullish(),
  error: z.looseObject({ type: z.string().optional(), message: z.string().optional() }).optional(),
});

/**
 * A reader of one stream's events. Stateful: Anthropic numbers content blocks
 * (text, thinking and tool_use together), the gateway numbers tool calls; a
 * new reader per stream attempt (`message_start` starts afresh too).
 * `native`: each piece also carries the event as the upstream sent it, and a
 * delta that is not text (thinking) counts as content (the native edge
 * forwards it).
 */
export function anthropicEvents(native = false): (event: unknown) => StreamPiece {
  let toolIndex = new Map<number, number>();
  return (raw) => {
    const parsed = Event.safeParse(raw);
    if (!parsed.success) return { error: "a stream event in an unexpected shape" };
    const event = parsed.data;
    const piece = read(event);
    return native ? { ...piece, native: raw as Record<string, unknown>, ...(event.type === "content_block_delta" && { content: true }) } : piece;
  };

  function read(event: z.infer<typeof Event>): StreamPiece {
    switch (event.type) {
      case "message_start":
        toolIndex = new Map();
        return { usage: anthropicUsage(event.message?.usage) };
      case "content_block_start": {
        const block = event.content_block;
        if (block?.type === "tool_use" && event.index !== undefined) {
          const index = toolIndex.size;
          toolIndex.set(event.index, index);
          return { toolCalls: [{ index, id: block.id, name: block.name }] };
        }
        return block?.type === "text" && block.text ? { text: block.text } : {};
      }
      case "content_block_delta": {
        const delta = event.delta;
        if (delta?.type === "text_delta") return { text: delta.text };
        if (delta?.type === "input_json_delta" && event.index !== undefined) {
          const index = toolIndex.get(event.index);
          if (index === undefined) return { error: "an input_json_delta for a block that is not a tool_use" };
          return { toolCalls: [{ index, arguments: delta.partial_json ?? "" }] };
        }
        return {}; // thinking_delta, signature_delta, citations_delta: not part of the answer's text
      }
      case "message_delta":
        return { usage: anthropicUsage(event.usage), ...(event.delta?.stop_reason && { finish: anthropicFinish(event.delta.stop_reason) }) };
      case "message_stop":
        return { done: true };
      case "error":
        return { error: `${event.error?.type ?? "error"}: ${event.error?.message ?? "no message"}` };
      default:
        return {}; // ping, content_block_stop, and event types added later
    }
  }
}
