/**
 * What a backend is given and gives back, as zod schemas with their types
 * inferred. The MCP tools and the /v1 API build their shapes on these
 * (`src/inference/schemas.ts`), so each shape is written once, here, in the
 * lower layer.
 */
import { z } from "zod";

export const ChatMessage = z.strictObject({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

export const FinishReason = z.enum(["stop", "length", "content_filter", "tool_calls", "error", "unknown"]);
export type FinishReason = z.infer<typeof FinishReason>;

export const Generation = z.object({
  text: z.string(),
  finish_reason: FinishReason,
  // null when the upstream did not say.
  usage: z.object({ prompt_tokens: z.number().nullable(), completion_tokens: z.number().nullable() }),
  error: z.string().optional().describe("Set when the stream broke; text holds what arrived before"),
});
export type Generation = z.infer<typeof Generation>;

/** Tokens an embedding or classification call used, when the upstream says (null or absent: it did not). */
const InputUsage = z.object({ prompt_tokens: z.number().nullable() }).optional();

export const Embeddings = z.object({ embeddings: z.array(z.array(z.number())), usage: InputUsage });
export type Embeddings = z.infer<typeof Embeddings>;

export const ScoredLabel = z.object({ label: z.string(), score: z.number() });

export const Classification = z.object({ labels: z.array(ScoredLabel).describe("Highest score first"), usage: InputUsage });
export type Classification = z.infer<typeof Classification>;
