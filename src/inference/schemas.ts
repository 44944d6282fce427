/**
 * Input shapes of inference calls, shared by the MCP tools and the /v1 API.
 * Caps here are the first line against unbounded consumption: they fail before
 * any upstream call.
 */
import { z } from "zod";
import * as BackendShapes from "../backends/shapes";
import { ModelAlias } from "../models/schema";
import { argumentsObject } from "../backends/tool-calls";
import { dataUrlProblem } from "../backends/images";
import type { ChatMessage as BackendMessage, ToolCall } from "../backends/types";

export const LIMITS = {
  messages: 256,
  messageChars: 200_000,
  promptChars: 400_000,
  /**
   * The largest output any upstream documents (OpenAI's GPT-5 and o-series: 128 000; Claude's
   * models up to 64 000, which Claude Code asks for): a model's own lower limit is its upstream's to say.
   */
  maxTokens: 128_000,
  /** Embedding inputs per call; sent upstream in batches each backend takes (./embed-batch.ts). */
  inputs: 2048,
  inputChars: 50_000,
  labels: 64,
  tools: 128,
  parts: 64,
  /** A data: URL fits in a request body (1 MiB); https URLs are passed on, or fetched under IMAGE_LIMITS. */
  imageUrlChars: 1_400_000,
} as const;

const Text = z.string().max(LIMITS.messageChars);

/** An image by URL: https (or http for allowed private hosts), or a data: URL with the image itself. */
export const ImageUrl = z
  .string()
  .max(LIMITS.imageUrlChars)
  .refine((url) => /^(https?:\/\/|data:image\/)/i.test(url), "must be an https URL or a data:image/... URL")
  .superRefine((url, ctx) => {
    const problem = dataUrlProblem(url);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

export const ContentPart = z.discriminatedUnion("type", [
  BackendShapes.TextPart.extend({ text: Text }),
  BackendShapes.ImagePart.extend({
    image_url: BackendShapes.ImagePart.shape.image_url.extend({ url: ImageUrl }),
  }),
]);

/** A tool call in a conversation, as MCP carries it: arguments as an object. */
export const McpToolCall = z.strictObject({
  id: z.string().min(1).max(256),
  name: BackendShapes.ToolName,
  arguments: z.record(z.string(), z.unknown()),
});

/** The messages of the `chat` tool: the backends' messages, capped, with tool call arguments as objects. */
export const ChatMessage = z.discriminatedUnion("role", [
  z.strictObject({ role: z.literal("system"), content: Text }),
  z.strictObject({ role: z.literal("user"), content: z.union([Text, z.array(ContentPart).min(1).max(LIMITS.parts)]) }),
  z.strictObject({ role: z.literal("assistant"), content: Text.default(""), tool_calls: z.array(McpToolCall).max(LIMITS.tools).optional() }),
  z.strictObject({ role: z.literal("tool"), tool_call_id: z.string().min(1).max(256), content: Text }),
]);

/** MCP's messages in the backends' form: tool call arguments become the JSON text OpenAI-style upstreams expect. */
export function backendMessages(messages: z.infer<typeof ChatMessage>[]): BackendMessage[] {
  return messages.map((m): BackendMessage => {
    if (m.role !== "assistant") return m;
    const { tool_calls, ...rest } = m;
    if (!tool_calls) return rest;
    return { ...rest, tool_calls: tool_calls.map((c) => ({ id: c.id, name: c.name, arguments: JSON.stringify(c.arguments) })) };
  });
}

/** What a chat request may ask beyond text: tools, how to use them, and the shape of the answer. */
export const ChatExtras = {
  tools: z.array(BackendShapes.ToolDefinition).max(LIMITS.tools).optional().describe("Functions the model may call (OpenAI's tool shape)"),
  tool_choice: BackendShapes.ToolChoice.optional().describe('"auto", "none", "required", or {type: "function", function: {name}}'),
  parallel_tool_calls: z.boolean().optional(),
  response_format: BackendShapes.ResponseFormat.optional().describe("json_object, or json_schema {name, schema, strict}: the answer is JSON"),
};

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
  model_id: ModelAlias.describe("Id (or alias) of a model with the chat capability (see list_models)"),
  messages: z.array(ChatMessage).min(1).max(LIMITS.messages),
  ...Sampling,
  ...ChatExtras,
});

export const CompleteInput = z.strictObject({
  model_id: ModelAlias.describe("Id (or alias) of a model with the completion capability (see list_models)"),
  prompt: z.string().min(1).max(LIMITS.promptChars),
  ...Sampling,
});

const EmbeddingString = z
  .string()
  .min(1, "an empty string cannot be embedded")
  .max(LIMITS.inputChars, `at most ${LIMITS.inputChars} characters per string`);

/**
 * What to embed, for the MCP `embed` tool and /v1/embeddings: a string or 1 to
 * LIMITS.inputs strings. zod reports a failed union as "Invalid input" when
 * both members abort (an array over its cap does), so the union's own message
 * is the failure of the member the input's type selects: the cap it broke.
 */
export const EmbeddingInputs = z.union(
  [EmbeddingString, z.array(EmbeddingString).min(1, "at least one string").max(LIMITS.inputs, `at most ${LIMITS.inputs} strings per call`)],
  {
    error: (issue) => {
      const expected = `expected a string or an array of at most ${LIMITS.inputs} strings`;
      if (issue.code !== "invalid_union" || !Array.isArray(issue.input)) return expected;
      const first = issue.errors[1]?.[0];
      if (!first) return expected;
      return first.path.length > 0 ? `item ${first.path.map(String).join(".")}: ${first.message}` : first.message;
    },
  },
);

export const EmbedInput = z.strictObject({
  model_id: ModelAlias.describe("Id (or alias) of a model with the embedding capability"),
  input: EmbeddingInputs,
});

export const ClassifyInput = z.strictObject({
  model_id: ModelAlias.describe("Id (or alias) of a model with the classification capability"),
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
    rescued: z
      .enum(["prefill", "regenerated"])
      .optional()
      .describe(
        "Set when this model finished a stream the last attempt broke off after text had reached the caller: by continuing that text (prefill), or by answering again exactly as far as it (regenerated)",
      ),
  })
  .optional()
  .describe("Set when a fallback answered: the models tried before it and why each failed");

/** What a backend gives back, plus which model answered, how long it took, and the fallbacks tried. */
export const GenerationResult = BackendShapes.Generation.extend({
  model_id: z.string().describe("The model that answered"),
  latency_ms: z.number(),
  fallback: Fallback,
});

/** A chat result over MCP: tool call arguments as objects, and the JSON answer parsed when a response_format asked for one. */
export const ChatResult = GenerationResult.extend({
  tool_calls: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        arguments: z.record(z.string(), z.unknown()),
        invalid_arguments: z.string().optional().describe("Set when the model wrote arguments that are not a JSON object: its text"),
      }),
    )
    .optional()
    .describe("The calls the model made; answer each with a tool message (tool_call_id = id)"),
  json: z.unknown().optional().describe("The answer parsed, when response_format asked for JSON"),
  json_error: z.string().optional().describe("Set when response_format asked for JSON and the answer is not JSON"),
});

/** Tool calls with their arguments parsed, as MCP results carry them. */
export function mcpToolCalls(calls: ToolCall[] | undefined) {
  return calls?.map((c) => {
    const args = argumentsObject(c.arguments);
    return { id: c.id, name: c.name, arguments: args ?? {}, ...(args === undefined && { invalid_arguments: c.arguments }) };
  });
}

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
