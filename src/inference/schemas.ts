/**
 * Input shapes of inference calls, shared by the MCP tools and the /v1 API.
 * Caps here are the first line against unbounded consumption: they fail before
 * any upstream call.
 */
import { z } from "zod";
import * as BackendShapes from "../backends/shapes";
import { ModelId } from "../models/schema";

export const LIMITS = {
  messages: 256,
  messageChars: 200_000,
  promptChars: 400_000,
  maxTokens: 32_768,
  inputs: 256,
  inputChars: 50_000,
  labels: 64,
} as const;

/** The backends' message, with its content capped. */
export const ChatMessage = BackendShapes.ChatMessage.extend({ content: z.string().max(LIMITS.messageChars) });

export const Sampling = {
  max_tokens: z.number().int().positive().max(LIMITS.maxTokens).optional().describe("Most tokens to generate"),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  stop: z
    .union([z.string().min(1), z.array(z.string().min(1)).max(4)])
    .optional()
    .describe("Stop sequence(s), at most 4"),
};

export const ChatInput = z.strictObject({
  model_id: ModelId.describe("Id of a model with the chat capability (see list_models)"),
  messages: z.array(ChatMessage).min(1).max(LIMITS.messages),
  ...Sampling,
});

export const CompleteInput = z.strictObject({
  model_id: ModelId.describe("Id of a model with the completion capability (see list_models)"),
  prompt: z.string().min(1).max(LIMITS.promptChars),
  ...Sampling,
});

export const EmbedInput = z.strictObject({
  model_id: ModelId.describe("Id of a model with the embedding capability"),
  input: z.union([z.string().min(1).max(LIMITS.inputChars), z.array(z.string().min(1).max(LIMITS.inputChars)).min(1).max(LIMITS.inputs)]),
});

export const ClassifyInput = z.strictObject({
  model_id: ModelId.describe("Id of a model with the classification capability"),
  text: z.string().min(1).max(LIMITS.inputChars),
  labels: z.array(z.string().min(1).max(200)).min(1).max(LIMITS.labels).optional().describe("Candidate labels: zero-shot classification when given"),
});

export function stopList(stop: string | string[] | undefined): string[] | undefined {
  return stop === undefined ? undefined : Array.isArray(stop) ? stop : [stop];
}

/** Present when a fallback answered instead of the model asked for. */
const Fallback = z
  .object({
    requested: z.string(),
    attempts: z.array(z.object({ model_id: z.string(), error: z.string() })),
  })
  .optional()
  .describe("Set when a fallback answered: the models tried before it and why each failed");

/** What a backend gives back, plus which model answered, how long it took, and the fallbacks tried. */
export const GenerationResult = BackendShapes.Generation.extend({
  model_id: z.string().describe("The model that answered"),
  latency_ms: z.number(),
  fallback: Fallback,
});

export const EmbeddingResult = BackendShapes.Embeddings.extend({
  dimensions: z.number(),
  model_id: z.string(),
  latency_ms: z.number(),
  fallback: Fallback,
});

export const ClassificationResult = BackendShapes.Classification.extend({
  model_id: z.string(),
  latency_ms: z.number(),
  fallback: Fallback,
});
