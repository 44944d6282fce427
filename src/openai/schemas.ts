/**
 * Request bodies of the OpenAI HTTP API (platform.openai.com/docs/api-reference)
 * as this gateway accepts them: the fields an OpenAI SDK sends for chat,
 * completions and embeddings. Unknown fields are ignored (SDKs send many
 * optional ones), but the fields the gateway uses are checked, with the same
 * caps as the MCP tools.
 */
import { z } from "zod";
import { LIMITS, Sampling } from "../inference/schemas";

/** `content` is a string or an array of text parts; other part types are refused by name. */
const Content = z.union([
  z.string().max(LIMITS.messageChars),
  z
    .array(z.object({ type: z.literal("text", { error: "only text content parts are supported" }), text: z.string() }))
    .transform((parts) => parts.map((p) => p.text).join("")),
]);

const Message = z.object({
  // `developer` is OpenAI's newer name for `system`.
  role: z.enum(["system", "developer", "user", "assistant"], {
    error: "must be system, developer, user or assistant (tool messages are not supported)",
  }),
  content: Content,
});

const Common = {
  model: z.string().min(1),
  ...Sampling,
  max_completion_tokens: Sampling.max_tokens,
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  n: z.literal(1, { error: "only n = 1 is supported" }).optional(),
};

export const ChatCompletionRequest = z.looseObject({
  ...Common,
  messages: z.array(Message).min(1).max(LIMITS.messages),
});

export const CompletionRequest = z.looseObject({
  ...Common,
  prompt: z.union([z.string().max(LIMITS.promptChars), z.array(z.string().max(LIMITS.promptChars)).length(1, "only one prompt per request")]),
});

export const EmbeddingRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string().min(1).max(LIMITS.inputChars), z.array(z.string().min(1).max(LIMITS.inputChars)).min(1).max(LIMITS.inputs)]),
  encoding_format: z.enum(["float", "base64"]).optional(),
});
