/**
 * The OpenAI wire format, written once: request bodies for chat, completions
 * and embeddings, zod schemas of the answers, and how to read a stream chunk.
 * Used by the `openai_compatible` backend and by every backend whose upstream
 * speaks OpenAI-style bodies.
 */
import { z } from "zod";
import { upstreamMessage } from "./http";
import type { StreamPiece } from "./stream";
import { finishReason, parseAnswer } from "./wire";
import { OPENAI_PARAMS, wireParams } from "./params";
import { argumentsText } from "./tool-calls";
import type { ChatMessage, ChatRequest, CompletionRequest, Generation } from "./types";

const Usage = z
  .object({
    prompt_tokens: z.number().nullish(),
    completion_tokens: z.number().nullish(),
    prompt_tokens_details: z.object({ cached_tokens: z.number().nullish() }).passthrough().nullish(),
    completion_tokens_details: z.object({ reasoning_tokens: z.number().nullish() }).passthrough().nullish(),
  })
  .nullish();

const ToolCalls = z.array(z.object({ id: z.string().nullish(), function: z.object({ name: z.string(), arguments: z.unknown() }) })).nullish();

export const ChatCompletion = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish(), tool_calls: ToolCalls }).passthrough(),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: Usage,
});

export const TextCompletion = z.object({
  choices: z.array(z.object({ text: z.string().nullish(), finish_reason: z.string().nullish() })).min(1),
  usage: Usage,
});

export const EmbeddingList = z.object({
  data: z.array(z.object({ embedding: z.array(z.number()), index: z.number().optional() })).min(1),
  usage: z.object({ prompt_tokens: z.number().nullish() }).nullish(),
});

const StreamChunk = z.object({
  choices: z
    .array(
      z.object({
        delta: z
          .object({
            content: z.string().nullish(),
            tool_calls: z
              .array(
                z.object({
                  index: z.number().int().min(0).max(127),
                  id: z.string().nullish(),
                  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
                }),
              )
              .nullish(),
          })
          .passthrough()
          .optional(),
        text: z.string().nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .optional()
    .default([]),
  usage: Usage,
});

export const ModelList = z.object({ data: z.array(z.object({ id: z.string() }).passthrough()) });

/** What POST /responses/input_tokens answers. */
export const InputTokens = z.object({ input_tokens: z.number().int().min(0) });

/**
 * The whole request, OpenAI's way: tools, tool_choice, response_format and
 * image parts as they are, and every parameter the gateway does not know
 * (`extra`) passed through untouched.
 */
export function chatBody(model: string, request: ChatRequest, stream: boolean, label: string) {
  const { tools, tool_choice, parallel_tool_calls, response_format } = request;
  return {
    ...request.extra,
    model,
    messages: request.messages.map(openAIMessage),
    ...wireParams(request, OPENAI_PARAMS, label),
    ...(tools && { tools }),
    ...(tool_choice !== undefined && { tool_choice }),
    ...(parallel_tool_calls !== undefined && { parallel_tool_calls }),
    ...(response_format && { response_format }),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}

/** Only an assistant message with tool calls differs from the gateway's own shape. */
function openAIMessage(message: ChatMessage) {
  if (message.role !== "assistant" || !message.tool_calls) return message;
  const { tool_calls, content, ...rest } = message;
  return {
    ...rest,
    content: content === "" ? null : content,
    tool_calls: tool_calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })),
  };
}

export function completionBody(model: string, request: CompletionRequest, stream: boolean, label: string) {
  return {
    ...request.extra,
    model,
    prompt: request.prompt,
    ...wireParams(request, OPENAI_PARAMS, label),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}

export function chatGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(ChatCompletion, json, label);
  const choice = answer.choices[0]!;
  const calls = choice.message.tool_calls ?? [];
  return {
    text: choice.message.content ?? "",
    finish_reason: finishReason(choice.finish_reason),
    usage: usage(answer.usage),
    ...(calls.length > 0 && {
      tool_calls: calls.map((c, i) => ({ id: c.id ?? `call_${i}`, name: c.function.name, arguments: argumentsText(c.function.arguments) })),
    }),
  };
}

export function completionGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(TextCompletion, json, label);
  const choice = answer.choices[0]!;
  return { text: choice.text ?? "", finish_reason: finishReason(choice.finish_reason), usage: usage(answer.usage) };
}

/** OpenAI's usage: cached tokens under prompt_tokens_details, reasoning tokens under completion_tokens_details. */
function usage(value: z.infer<typeof Usage>): Generation["usage"] {
  return {
    prompt_tokens: value?.prompt_tokens ?? null,
    completion_tokens: value?.completion_tokens ?? null,
    cached_tokens: value?.prompt_tokens_details?.cached_tokens ?? null,
    reasoning_tokens: value?.completion_tokens_details?.reasoning_tokens ?? null,
  };
}

/** One OpenAI stream chunk (chat delta or completion text) as a stream piece. */
export function openAIStreamPiece(event: unknown): StreamPiece {
  if (event && typeof event === "object" && "error" in event) return { error: upstreamMessage(JSON.stringify(event)) };
  const parsed = StreamChunk.safeParse(event);
  if (!parsed.success) return { error: "a stream chunk in an unexpected shape" };
  const chunk = parsed.data;
  const choice = chunk.choices[0];
  const calls = choice?.delta?.tool_calls;
  return {
    text: choice?.delta?.content ?? choice?.text ?? undefined,
    finish: choice?.finish_reason ? finishReason(choice.finish_reason) : undefined,
    usage: chunk.usage ? usage(chunk.usage) : undefined,
    ...(calls && {
      toolCalls: calls.map((c) => ({
        index: c.index,
        id: c.id ?? undefined,
        name: c.function?.name ?? undefined,
        arguments: c.function?.arguments ?? undefined,
      })),
    }),
  };
}
