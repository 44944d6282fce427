/**
 * Request bodies of the OpenAI HTTP API (platform.openai.com/docs/api-reference)
 * as this gateway accepts them, with the same caps as the MCP tools. Every
 * field the gateway knows is checked; a field it does not know is kept, and
 * passed as it is to OpenAI-style upstreams (other upstreams refuse it, naming
 * it). A few known fields ask for something the gateway cannot give back (more
 * than one choice, log probabilities, audio, legacy function calling): those
 * are refused here, by name. `null` is OpenAI's "not set" and is read as such.
 */
import { z } from "zod";
import { ToolName } from "../backends/shapes";
import { ChatExtras, ContentPart, EmbeddingInputs, LIMITS, Sampling } from "../inference/schemas";

const Text = z.string().max(LIMITS.messageChars);

/** Text content: a string, or text parts joined (system, developer, assistant and tool messages take no images). */
const TextContent = z.union([
  Text,
  z
    .array(z.object({ type: z.literal("text", { error: "only text parts are allowed in this message" }), text: Text }))
    .max(LIMITS.parts)
    .transform((parts) => parts.map((p) => p.text).join("")),
]);

const Name = z.string().min(1).max(64).optional();

const OpenAIToolCall = z.object({
  id: z.string().min(1).max(256),
  type: z.literal("function"),
  function: z.object({ name: ToolName, arguments: z.string().max(LIMITS.messageChars) }),
});

const ROLES = "system, developer, user, assistant or tool";

export const Message = z.discriminatedUnion(
  "role",
  [
    // `developer` is OpenAI's newer name for `system`.
    z.strictObject({ role: z.enum(["system", "developer"]), content: TextContent, name: Name }),
    z.strictObject({ role: z.literal("user"), content: z.union([Text, z.array(ContentPart).min(1).max(LIMITS.parts)]), name: Name }),
    z.strictObject({
      role: z.literal("assistant"),
      content: TextContent.nullish(),
      tool_calls: z.array(OpenAIToolCall).max(LIMITS.tools).optional(),
      name: Name,
      // What OpenAI's answers carry and SDKs send back with the message: no meaning in a request.
      refusal: z.string().nullish(),
      annotations: z.array(z.unknown()).optional(),
    }),
    z.strictObject({ role: z.literal("tool"), content: TextContent, tool_call_id: z.string().min(1).max(256) }),
  ],
  { error: (issue) => (issue.code === "invalid_union" && issue.note === "No matching discriminator" ? `role must be ${ROLES}` : undefined) },
);
export type Message = z.infer<typeof Message>;

/** Known fields whose answers the gateway cannot carry back: refused with the reason. */
const refused = (why: string) =>
  z
    .unknown()
    .refine((v) => v === undefined || v === false || v === 0, why)
    .optional();

const Common = {
  model: z.string().min(1),
  ...Sampling,
  max_completion_tokens: Sampling.max_tokens,
  seed: z.number().int().optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  logit_bias: z.record(z.string().regex(/^\d+$/, "keys must be token ids"), z.number().min(-100).max(100)).optional(),
  user: z.string().max(256).optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).optional(),
  n: z.literal(1, { error: "only n = 1 is supported: the gateway returns one choice" }).optional(),
  logprobs: refused("log probabilities are not returned by the gateway"),
  top_logprobs: refused("log probabilities are not returned by the gateway"),
};

export const ChatCompletionRequest = z.looseObject({
  ...Common,
  messages: z.array(Message).min(1).max(LIMITS.messages),
  ...ChatExtras,
  audio: refused("the gateway returns text only"),
  functions: refused("legacy function calling: use tools"),
  function_call: refused("legacy function calling: use tool_choice"),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

export const CompletionRequest = z.looseObject({
  ...Common,
  prompt: z.union([z.string().max(LIMITS.promptChars), z.array(z.string().max(LIMITS.promptChars)).length(1, "only one prompt per request")]),
});
export type CompletionRequest = z.infer<typeof CompletionRequest>;

/** Fields handled by the gateway itself and never sent on as they are. */
const OWN = new Set(["model", "messages", "prompt", "stream", "stream_options", "n", "max_completion_tokens"]);
const KNOWN = new Set([...Object.keys(ChatCompletionRequest.shape), ...Object.keys(CompletionRequest.shape)]);

/** The top-level fields the gateway does not know, as sent. */
export function unknownFields(body: Record<string, unknown>): Record<string, unknown> | undefined {
  let extra: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (KNOWN.has(key) || OWN.has(key) || value === undefined) continue;
    (extra ??= {})[key] = value;
  }
  return extra;
}

/** OpenAI reads `null` as "not set": so does the gateway, for top-level fields. */
export function withoutNulls(json: unknown): unknown {
  if (!json || typeof json !== "object" || Array.isArray(json)) return json;
  return Object.fromEntries(Object.entries(json).filter(([, value]) => value !== null));
}

export const EmbeddingRequest = z.looseObject({
  model: z.string().min(1),
  input: EmbeddingInputs,
  encoding_format: z.enum(["float", "base64"]).optional(),
});
