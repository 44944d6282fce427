/**
 * What a backend is given and gives back, as zod schemas with their types
 * inferred. The MCP tools and the /v1 API build their shapes on these
 * (`src/inference/schemas.ts`), so each shape is written once, here, in the
 * lower layer. The request shapes follow OpenAI's chat completions (the
 * lingua franca of the upstreams); each backend translates them into its own
 * wire format or refuses what it cannot carry, by name.
 */
import { z } from "zod";

/** A JSON object (a tool's parameters, a JSON schema): checked to be an object, otherwise passed on as given. */
export const JsonObject = z.record(z.string(), z.unknown());

export const TextPart = z.strictObject({ type: z.literal("text"), text: z.string() });

/** An image as an https URL (the upstream, or the gateway for upstreams that take bytes, fetches it) or a `data:` URL. */
export const ImagePart = z.strictObject({
  type: z.literal("image_url"),
  image_url: z.strictObject({ url: z.string(), detail: z.enum(["auto", "low", "high"]).optional() }),
});

export const ContentPart = z.discriminatedUnion("type", [TextPart, ImagePart]);
export type ContentPart = z.infer<typeof ContentPart>;

/** A tool call as the model made it; `arguments` is the JSON text the model wrote (OpenAI's form, lossless). */
export const ToolCall = z.object({ id: z.string(), name: z.string(), arguments: z.string() });
export type ToolCall = z.infer<typeof ToolCall>;

export const ChatMessage = z.discriminatedUnion("role", [
  z.strictObject({ role: z.literal("system"), content: z.string(), name: z.string().optional() }),
  z.strictObject({ role: z.literal("user"), content: z.union([z.string(), z.array(ContentPart)]), name: z.string().optional() }),
  z.strictObject({
    role: z.literal("assistant"),
    content: z.string(),
    tool_calls: z.array(ToolCall).optional(),
    name: z.string().optional(),
  }),
  z.strictObject({ role: z.literal("tool"), tool_call_id: z.string(), content: z.string() }),
]);
export type ChatMessage = z.infer<typeof ChatMessage>;

/** Anthropic's limit (Claude Code's MCP tool names pass 64); upstreams with a lower one get names shortened (./tool-names.ts). */
export const ToolName = z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/, "must be 1-128 letters, digits, '_' or '-'");

/** A structured output schema's name: OpenAI's limit for it is 64 (it is sent as is). */
export const SchemaName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1-64 letters, digits, '_' or '-'");

/** A function the model may call: OpenAI's `{type: "function", function: {...}}`. */
export const ToolDefinition = z.strictObject({
  type: z.literal("function"),
  function: z.strictObject({
    name: ToolName,
    description: z.string().max(8192).optional(),
    parameters: JsonObject.optional().describe("JSON schema of the arguments"),
    strict: z.boolean().nullish(),
  }),
});
export type ToolDefinition = z.infer<typeof ToolDefinition>;

export const ToolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.strictObject({ type: z.literal("function"), function: z.strictObject({ name: ToolName }) }),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

export const ResponseFormat = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    json_schema: z.strictObject({
      name: SchemaName,
      description: z.string().optional(),
      schema: JsonObject.optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);
export type ResponseFormat = z.infer<typeof ResponseFormat>;

export const FinishReason = z.enum(["stop", "length", "content_filter", "tool_calls", "error", "unknown"]);
export type FinishReason = z.infer<typeof FinishReason>;

export const Generation = z.object({
  text: z.string(),
  finish_reason: FinishReason,
  // null when the upstream did not say.
  usage: z.object({
    /** Every input token, cached and cache-written ones included. */
    prompt_tokens: z.number().nullable(),
    completion_tokens: z.number().nullable(),
    /** Of prompt_tokens: read from the upstream's prompt cache. */
    cached_tokens: z.number().nullish(),
    /** Of prompt_tokens: written to the upstream's prompt cache (Anthropic's cache_creation_input_tokens). */
    cache_write_tokens: z.number().nullish(),
    /** Of completion_tokens: spent on reasoning. */
    reasoning_tokens: z.number().nullish(),
  }),
  error: z.string().optional().describe("Set when the stream broke; text holds what arrived before"),
  tool_calls: z.array(ToolCall).optional().describe("The calls the model made, when it called tools"),
  native: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("The upstream's own answer, when the backend answered the caller's native request (CallInput.native) in its wire format"),
});
export type Generation = z.infer<typeof Generation>;

/** Tokens an embedding or classification call used, when the upstream says (null or absent: it did not). */
const InputUsage = z.object({ prompt_tokens: z.number().nullable() }).optional();

export const Embeddings = z.object({ embeddings: z.array(z.array(z.number())), usage: InputUsage });
export type Embeddings = z.infer<typeof Embeddings>;

export const ScoredLabel = z.object({ label: z.string(), score: z.number() });

export const Classification = z.object({ labels: z.array(ScoredLabel).describe("Highest score first"), usage: InputUsage });
export type Classification = z.infer<typeof Classification>;
