/**
 * Request bodies of Anthropic's Messages API (docs.anthropic.com/en/api/messages,
 * /en/api/messages-count-tokens) as the gateway accepts them, with the caps of
 * the other edges. Every documented field is known here: the ones that change
 * what a correct answer is are translated (./request.ts) or refused by name;
 * the hints a model behind another API cannot use are accepted and named in
 * `x-gateway-not-applied`. A field Anthropic does not document is refused,
 * naming it (the bodies are strict).
 */
import { z } from "zod";
import { JsonObject, ToolName } from "../backends/shapes";
import { inlineImageProblem } from "../backends/images";
import { ImageUrl, LIMITS } from "../inference/schemas";

const Text = z.string().max(LIMITS.messageChars);

/** Prompt caching: a hint (the upstreams here cache on their own, or not at all). */
const CacheControl = z.strictObject({ type: z.literal("ephemeral"), ttl: z.enum(["5m", "1h"]).optional() }).nullish();

export const TextBlock = z.strictObject({
  type: z.literal("text"),
  text: Text,
  cache_control: CacheControl,
  // Citations a previous answer carried: no meaning in a request.
  citations: z.array(z.unknown()).nullish(),
});

const ImageSource = z.discriminatedUnion("type", [
  z
    .strictObject({
      type: z.literal("base64"),
      media_type: z.enum(["image/jpeg", "image/png", "image/gif", "image/webp"]),
      data: z.string().max(LIMITS.imageUrlChars),
    })
    .superRefine((source, ctx) => {
      const problem = inlineImageProblem(source.media_type, source.data);
      if (problem) ctx.addIssue({ code: "custom", message: problem, path: ["data"] });
    }),
  z.strictObject({ type: z.literal("url"), url: ImageUrl }),
]);

export const ImageBlock = z.strictObject({
  type: z.literal("image"),
  source: ImageSource,
  cache_control: CacheControl,
  // Refused in request.ts: it changes the image the model sees.
  transformations: z.unknown().optional(),
});

const ToolUseBlock = z.strictObject({
  type: z.literal("tool_use"),
  id: z.string().min(1).max(256),
  name: ToolName,
  input: JsonObject,
  cache_control: CacheControl,
  // Who made the call (direct, or Anthropic's code execution) and the toolset it belongs to: hints.
  caller: z.looseObject({ type: z.string() }).optional(),
  toolset_name: z.string().nullish(),
});

const ToolResultBlock = z.strictObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1).max(256),
  content: z.union([Text, z.array(z.discriminatedUnion("type", [TextBlock, ImageBlock])).max(LIMITS.parts)]).optional(),
  is_error: z.boolean().optional(),
  cache_control: CacheControl,
  toolset_name: z.string().nullish(),
});

/** A model's earlier reasoning sent back with its turn: kept by Anthropic's models only, so left out here (a hint). */
const ThinkingBlock = z.strictObject({ type: z.literal("thinking"), thinking: z.string(), signature: z.string().optional() });
const RedactedThinkingBlock = z.strictObject({ type: z.literal("redacted_thinking"), data: z.string() });

const BLOCKS = "text, image, tool_use, tool_result, thinking or redacted_thinking";

export const ContentBlock = z.discriminatedUnion(
  "type",
  [TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock, ThinkingBlock, RedactedThinkingBlock],
  {
    error: (issue) =>
      issue.code === "invalid_union" && issue.note === "No matching discriminator"
        ? `this block type is not supported by the gateway (it takes ${BLOCKS} blocks)`
        : undefined,
  },
);
export type ContentBlock = z.infer<typeof ContentBlock>;

export const Message = z.strictObject({
  // A system message among the turns: documented in the SDK's MessageParam, and sent by Claude Code 2.1.
  role: z.enum(["user", "assistant", "system"], { error: "role must be user, assistant or system" }),
  content: z.union([Text, z.array(ContentBlock).min(1, "at least one content block").max(LIMITS.parts)]),
});
export type Message = z.infer<typeof Message>;

/** A client tool (Anthropic's "custom" tool). Anthropic's own tool types are told apart in ./request.ts. */
const CustomTool = z.strictObject({
  type: z.literal("custom").optional(),
  name: ToolName,
  description: z.string().max(8192).optional(),
  input_schema: JsonObject,
  cache_control: CacheControl,
  /** Honoured: the upstream is asked to keep to the schema (OpenAI's `strict`). */
  strict: z.boolean().optional(),
  // Hints for Anthropic's own tool machinery (programmatic calls, tool search, streaming, examples).
  allowed_callers: z.array(z.string()).optional(),
  defer_loading: z.boolean().optional(),
  eager_input_streaming: z.boolean().nullish(),
  input_examples: z.array(z.unknown()).optional(),
});

export type CustomTool = z.infer<typeof CustomTool>;

/** A tool Anthropic defines (`web_search_20250305`, `bash_20250124`, ...): its type and name, and its own settings. */
const TypedTool = z.looseObject({ type: z.string().regex(/^[a-z_]+_\d{8}$/, "unknown tool type"), name: z.string().max(128) });

export const Tool = z.union([CustomTool, TypedTool]);
export type Tool = z.infer<typeof Tool>;

const Parallel = { disable_parallel_tool_use: z.boolean().optional() };

export const ToolChoice = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("auto"), ...Parallel }),
  z.strictObject({ type: z.literal("any"), ...Parallel }),
  z.strictObject({ type: z.literal("tool"), name: ToolName, ...Parallel }),
  z.strictObject({ type: z.literal("none") }),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

const System = z.union([Text, z.array(TextBlock).max(LIMITS.parts)]);

/** Extended thinking: a hint here (no upstream behind this edge reasons on Anthropic's budget). */
const Display = { display: z.enum(["summarized", "omitted"]).nullish() };
const Thinking = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("enabled"), budget_tokens: z.number().int().min(0), ...Display }),
  z.strictObject({ type: z.literal("adaptive"), ...Display }),
  z.strictObject({ type: z.literal("between_tools") }),
  z.strictObject({ type: z.literal("disabled") }),
]);

/** `effort` is a hint; `format` asks for JSON output and is honoured (as response_format). */
const OutputConfig = z.strictObject({
  effort: z.enum(["low", "medium", "high", "xhigh", "max"]).nullish(),
  format: z.strictObject({ type: z.literal("json_schema"), schema: JsonObject }).nullish(),
});

/** The fields of a Messages request that count_tokens takes too. */
const Prompt = {
  model: z.string().min(1),
  messages: z.array(Message).min(1).max(LIMITS.messages),
  system: System.optional(),
  tools: z.array(Tool).max(LIMITS.tools).optional(),
  tool_choice: ToolChoice.optional(),
  thinking: Thinking.optional(),
  output_config: OutputConfig.optional(),
  context_management: JsonObject.nullish(),
  // Hints: prompt caching of the last block, cache diagnostics, where and how fast Anthropic runs the model.
  cache_control: CacheControl,
  diagnostics: z.strictObject({ previous_message_id: z.string().nullish() }).nullish(),
  inference_geo: z.string().max(64).nullish(),
  speed: z.enum(["standard", "fast"]).nullish(),
  // Refused in request.ts with the reason (remote MCP servers and code containers run at Anthropic only).
  mcp_servers: z.array(z.unknown()).optional(),
  container: z.unknown().optional(),
};

export const MessagesRequest = z.strictObject({
  ...Prompt,
  max_tokens: z.number().int().positive().max(LIMITS.maxTokens),
  stop_sequences: z.array(z.string().min(1)).max(4).optional(),
  // Sampling: documented by Anthropic for its older models (and sent by older clients); honoured.
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  // Refused in request.ts, by name.
  top_k: z.number().int().optional(),
  stream: z.boolean().optional(),
  metadata: z.strictObject({ user_id: z.string().max(256).nullish() }).optional(),
  service_tier: z.enum(["auto", "standard_only"]).optional(),
});
export type MessagesRequest = z.infer<typeof MessagesRequest>;

export const CountTokensRequest = z.strictObject(Prompt);
export type CountTokensRequest = z.infer<typeof CountTokensRequest>;

/**
 * What a body must be to go upstream as written (a model of backend type
 * `anthropic`): the fields the gateway itself reads, checked; every other
 * field kept as sent, for the upstream to judge.
 */
export const NativeMessagesRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.unknown()).min(1).max(LIMITS.messages),
  max_tokens: z.number().int().positive().max(LIMITS.maxTokens),
  stream: z.boolean().optional(),
});
export type NativeMessagesRequest = z.infer<typeof NativeMessagesRequest>;

/** A count_tokens body for a native model: checked as far as the gateway reads it, the rest for the upstream to judge. */
export const NativeCountTokensRequest = NativeMessagesRequest.omit({ max_tokens: true, stream: true });
export type NativeCountTokensRequest = z.infer<typeof NativeCountTokensRequest>;

/** Request headers of the Messages API a native upstream gets as the caller sent them. */
export const NATIVE_HEADERS = ["anthropic-version", "anthropic-beta"] as const;
