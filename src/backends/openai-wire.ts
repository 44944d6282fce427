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
import type { ChatRequest, CompletionRequest, Generation } from "./types";

const Usage = z.object({ prompt_tokens: z.number().nullish(), completion_tokens: z.number().nullish() }).nullish();

export const ChatCompletion = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish() }).passthrough(),
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
        delta: z.object({ content: z.string().nullish() }).passthrough().optional(),
        text: z.string().nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .optional()
    .default([]),
  usage: Usage,
});

export const ModelList = z.object({ data: z.array(z.object({ id: z.string() }).passthrough()) });

export function chatBody(model: string, request: ChatRequest, stream: boolean) {
  return {
    model,
    messages: request.messages,
    ...wireParams(request, OPENAI_PARAMS),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}

export function completionBody(model: string, request: CompletionRequest, stream: boolean) {
  return {
    model,
    prompt: request.prompt,
    ...wireParams(request, OPENAI_PARAMS),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}

export function chatGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(ChatCompletion, json, label);
  const choice = answer.choices[0]!;
  return {
    text: choice.message.content ?? "",
    finish_reason: finishReason(choice.finish_reason),
    usage: usage(answer.usage),
  };
}

export function completionGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(TextCompletion, json, label);
  const choice = answer.choices[0]!;
  return { text: choice.text ?? "", finish_reason: finishReason(choice.finish_reason), usage: usage(answer.usage) };
}

function usage(value: z.infer<typeof Usage>): Generation["usage"] {
  return { prompt_tokens: value?.prompt_tokens ?? null, completion_tokens: value?.completion_tokens ?? null };
}

/** One OpenAI stream chunk (chat delta or completion text) as a stream piece. */
export function openAIStreamPiece(event: unknown): StreamPiece {
  if (event && typeof event === "object" && "error" in event) return { error: upstreamMessage(JSON.stringify(event)) };
  const parsed = StreamChunk.safeParse(event);
  if (!parsed.success) return { error: "a stream chunk in an unexpected shape" };
  const chunk = parsed.data;
  const choice = chunk.choices[0];
  return {
    text: choice?.delta?.content ?? choice?.text ?? undefined,
    finish: choice?.finish_reason ? finishReason(choice.finish_reason) : undefined,
    usage: chunk.usage ? usage(chunk.usage) : undefined,
  };
}
