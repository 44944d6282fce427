/**
 * The OpenAI wire format, written once: request bodies for chat, completions
 * and embeddings, zod schemas of the answers, and the SSE stream reader.
 * Used by the `openai_compatible` backend and by every backend whose upstream
 * speaks OpenAI-style bodies.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { z } from "zod";
import { GatewayError } from "../errors";
import type { ChatRequest, CompletionRequest, FinishReason, Generation, SamplingParams } from "./types";

const Usage = z
  .object({ prompt_tokens: z.number().nullish(), completion_tokens: z.number().nullish() })
  .nullish();

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

function sampling(params: SamplingParams) {
  return {
    ...(params.max_tokens !== undefined && { max_tokens: params.max_tokens }),
    ...(params.temperature !== undefined && { temperature: params.temperature }),
    ...(params.top_p !== undefined && { top_p: params.top_p }),
    ...(params.stop !== undefined && params.stop.length > 0 && { stop: params.stop }),
  };
}

export function chatBody(model: string, request: ChatRequest, stream: boolean) {
  return {
    model,
    messages: request.messages,
    ...sampling(request),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}

export function completionBody(model: string, request: CompletionRequest, stream: boolean) {
  return {
    model,
    prompt: request.prompt,
    ...sampling(request),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}

export function finishReason(value: string | null | undefined): FinishReason {
  switch (value) {
    case "stop":
    case "eos":
    case "end_turn":
      return "stop";
    case "length":
    case "max_tokens":
      return "length";
    case "content_filter":
    case "tool_calls":
      return value;
    default:
      return "unknown";
  }
}

/** Parse an upstream answer with a schema; a mismatch is the upstream's fault, said plainly. */
export function parseAnswer<T>(schema: z.ZodType<T>, json: unknown, label: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayError(
      "upstream_error",
      `${label} sent an answer in an unexpected shape (${issue?.path.join(".") || "body"}: ${issue?.message}).`,
    );
  }
  return parsed.data;
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

/**
 * Read an OpenAI SSE stream (chat deltas or completion text), handing each
 * piece of text to `onText`. A stream that breaks or goes idle keeps the text
 * received so far and ends with finish_reason "error" and an `error` message.
 */
export async function readStream(
  response: Response,
  onText: (delta: string) => void | Promise<void>,
  options: { idleMs: number; label: string },
): Promise<Generation> {
  if (!response.body) throw new GatewayError("upstream_error", `${options.label} sent an empty stream.`);
  const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  const reader = events.getReader();
  let text = "";
  let finish: FinishReason | undefined;
  let tokens: Generation["usage"] = { prompt_tokens: null, completion_tokens: null };
  let done = false;
  try {
    for (;;) {
      const next = await withIdleTimeout(reader.read(), options.idleMs);
      if (next === "idle") {
        return { text, finish_reason: "error", usage: tokens, error: `${options.label} stopped sending for ${options.idleMs / 1000} s.` };
      }
      if (next.done) break;
      const data = next.value.data;
      if (data.trim() === "[DONE]") {
        done = true;
        break;
      }
      let json: unknown;
      try {
        json = JSON.parse(data);
      } catch {
        return { text, finish_reason: "error", usage: tokens, error: `${options.label} sent a stream event that is not JSON.` };
      }
      if (json && typeof json === "object" && "error" in json) {
        return { text, finish_reason: "error", usage: tokens, error: `${options.label} reported an error mid-stream.` };
      }
      const chunk = parseAnswer(StreamChunk, json, options.label);
      if (chunk.usage) tokens = usage(chunk.usage);
      for (const choice of chunk.choices) {
        const piece = choice.delta?.content ?? choice.text ?? "";
        if (piece) {
          text += piece;
          await onText(piece);
        }
        if (choice.finish_reason) finish = finishReason(choice.finish_reason);
      }
    }
  } catch (error) {
    const message = error instanceof GatewayError ? error.message : `${options.label} broke off the stream.`;
    return { text, finish_reason: "error", usage: tokens, error: message };
  } finally {
    reader.releaseLock();
    void events.cancel().catch(() => {});
  }
  if (!finish && done) finish = "stop";
  if (!finish) {
    return { text, finish_reason: "error", usage: tokens, error: `${options.label} ended the stream without saying why it stopped.` };
  }
  return { text, finish_reason: finish, usage: tokens };
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
