/**
 * Request bodies of OpenAI's Responses API (platform.openai.com/docs/api-reference/responses)
 * as the gateway accepts them, with the caps of the other edges. Every
 * documented top-level field is known here: the ones that change what a
 * correct answer is are translated (./request.ts) or refused by name; hints an
 * upstream behind another API cannot use are accepted and named in
 * `x-gateway-not-applied`. A top-level field OpenAI does not document is
 * refused, naming it (the body is strict).
 */
import { z } from "zod";
import { JsonObject, SchemaName, ToolName } from "../backends/shapes";
import { ImageUrl, LIMITS } from "../inference/schemas";

const Text = z.string().max(LIMITS.messageChars);
/** Item ids and statuses a client echoes back from an earlier answer: no meaning in a request. */
const Echo = { id: z.string().max(256).optional(), status: z.string().max(32).optional() };

const InputText = z.strictObject({ type: z.literal("input_text"), text: Text });
const InputImage = z.strictObject({
  type: z.literal("input_image"),
  image_url: ImageUrl.nullish(),
  // Files uploaded to OpenAI: refused in request.ts (nothing here holds them).
  file_id: z.string().nullish(),
  detail: z.enum(["auto", "low", "high"]).optional(),
});
const InputFile = z.looseObject({ type: z.literal("input_file") });
const OutputText = z.strictObject({
  type: z.literal("output_text"),
  text: Text,
  annotations: z.array(z.unknown()).optional(),
  logprobs: z.array(z.unknown()).optional(),
});
const Refusal = z.strictObject({ type: z.literal("refusal"), refusal: Text });

const Part = z.discriminatedUnion("type", [InputText, InputImage, InputFile, OutputText, Refusal]);
export type Part = z.infer<typeof Part>;

export const MessageItem = z.strictObject({
  type: z.literal("message").optional(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([Text, z.array(Part).max(LIMITS.parts)]),
  ...Echo,
});

export const FunctionCallItem = z.strictObject({
  type: z.literal("function_call"),
  call_id: z.string().min(1).max(256),
  name: ToolName,
  arguments: z.string().max(LIMITS.messageChars),
  // Codex's namespaced tools say which namespace the function belongs to.
  namespace: z.string().max(256).nullish(),
  ...Echo,
});

export const FunctionCallOutputItem = z.strictObject({
  type: z.literal("function_call_output"),
  call_id: z.string().min(1).max(256),
  output: z.union([Text, z.array(Part).max(LIMITS.parts)]),
  ...Echo,
});

/** Reasoning an earlier answer carried (Codex sends it back with encrypted content): a hint here. */
const ReasoningItem = z.looseObject({ type: z.literal("reasoning") });
/** Records of hosted tool calls an earlier answer made: a hint here (nothing ran them). */
const HostedCallItem = z.looseObject({ type: z.enum(["web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call"]) });
/** Other item types (custom tool calls, shell calls, computer calls, item references...): refused by name in request.ts. */
const OtherItem = z.looseObject({ type: z.string().max(64) });

export const InputItem = z.union([MessageItem, FunctionCallItem, FunctionCallOutputItem, ReasoningItem, HostedCallItem, OtherItem]);
export type InputItem = z.infer<typeof InputItem>;
export type MessageItem = z.infer<typeof MessageItem>;

export const FunctionTool = z.strictObject({
  type: z.literal("function"),
  name: ToolName,
  description: z.string().max(8192).nullish(),
  parameters: JsonObject.nullish(),
  strict: z.boolean().nullish(),
});
export type FunctionTool = z.infer<typeof FunctionTool>;
/** Any other tool type (hosted tools, Codex's `namespace`, custom tools...): sorted out in request.ts. */
const OtherTool = z.looseObject({ type: z.string().max(64) });
export const Tool = z.union([FunctionTool, OtherTool]);
export type Tool = z.infer<typeof Tool>;

export const ToolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.strictObject({ type: z.literal("function"), name: ToolName }),
  // allowed_tools, hosted tool types, mcp, custom: refused in request.ts.
  z.looseObject({ type: z.string().max(64) }),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

export const TextFormat = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    name: SchemaName,
    schema: JsonObject,
    description: z.string().max(8192).nullish(),
    strict: z.boolean().nullish(),
  }),
]);

/** The fields of a Responses request that /v1/responses/input_tokens takes too. */
const Prompt = {
  model: z.string().min(1),
  input: z.union([Text, z.array(InputItem).max(LIMITS.messages)]).optional(),
  instructions: Text.nullish(),
  tools: z.array(Tool).max(LIMITS.tools).nullish(),
  tool_choice: ToolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  text: z.strictObject({ format: TextFormat.nullish(), verbosity: z.enum(["low", "medium", "high"]).nullish() }).nullish(),
  // Hints.
  reasoning: z
    .strictObject({
      effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]).nullish(),
      summary: z.enum(["auto", "concise", "detailed"]).nullish(),
      generate_summary: z.enum(["auto", "concise", "detailed"]).nullish(),
    })
    .nullish(),
  truncation: z.enum(["auto", "disabled"]).nullish(),
  // Refused in request.ts (nothing stored here yet, no conversations, no prompt templates).
  previous_response_id: z.string().max(256).nullish(),
  conversation: z.unknown().optional(),
  prompt: z.unknown().optional(),
};

export const ResponsesRequest = z.strictObject({
  ...Prompt,
  stream: z.boolean().nullish(),
  max_output_tokens: z.number().int().positive().max(LIMITS.maxTokens).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  // Hints.
  include: z.array(z.string().max(128)).max(32).nullish(),
  prompt_cache_key: z.string().max(1024).nullish(),
  prompt_cache_retention: z.string().max(32).nullish(),
  metadata: z.record(z.string(), z.string().max(512)).nullish(),
  // Codex (0.17x) sends its session, thread and turn ids here on every call.
  client_metadata: z.record(z.string(), z.string().max(8192)).nullish(),
  user: z.string().max(256).nullish(),
  safety_identifier: z.string().max(256).nullish(),
  service_tier: z.enum(["auto", "default", "flex", "scale", "priority"]).nullish(),
  store: z.boolean().nullish(),
  stream_options: z.strictObject({ include_obfuscation: z.boolean().optional() }).nullish(),
  max_tool_calls: z.number().int().positive().nullish(),
  // Refused in request.ts when set.
  background: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
});
export type ResponsesRequest = z.infer<typeof ResponsesRequest>;

export const InputTokensRequest = z.strictObject(Prompt);
export type InputTokensRequest = z.infer<typeof InputTokensRequest>;
