/**
 * What an upstream's refusal of a request (400, 413, 422) means for the
 * gateway, read from each API's documented error codes and messages. The
 * table is data, checked in order, content policy first:
 *
 * - `content_filter`: the upstream refused the content under its policy. Final:
 *   the same text would be refused elsewhere too, and must not be shopped around.
 * - `context_length`: the request is too long for this model (or too large for
 *   this server). Another model may take it, so the call goes to the fallbacks.
 * - anything else: an invalid request. Final.
 *
 * docs/errors.md shows the same table to people; keep them together.
 */
import { GatewayError } from "../errors";

export type Rejection = "content_filter" | "context_length" | "invalid";

interface Rule {
  kind: Exclude<Rejection, "invalid">;
  /** Who documents it, for people reading the table. */
  source: string;
  /** `error.code` or `error.type` values (OpenAI's shape) that say it. */
  codes?: readonly string[];
  /** Message text that says it, when the upstream sends no code. */
  message?: RegExp;
}

export const REJECTION_RULES: readonly Rule[] = [
  { kind: "content_filter", source: "Azure OpenAI", codes: ["content_filter", "ResponsibleAIPolicyViolation"] },
  { kind: "content_filter", source: "OpenAI (images, moderation)", codes: ["content_policy_violation", "moderation_blocked"] },
  {
    kind: "content_filter",
    source: "OpenAI, Azure, others (no code)",
    message: /flagged|content (management )?polic|usage polic|safety (system|polic)/i,
  },
  { kind: "context_length", source: "OpenAI, Groq, Together, Fireworks", codes: ["context_length_exceeded", "string_above_max_length"] },
  { kind: "context_length", source: "llama.cpp server", codes: ["exceed_context_size_error"] },
  {
    kind: "context_length",
    source: "vLLM, OpenAI, Mistral, Anthropic-style, Ollama",
    message: /maximum context length|context (length|window|size)|prompt is too long|input length exceeds|too many (input )?tokens/i,
  },
  {
    kind: "context_length",
    source: "Hugging Face TGI",
    message: /tokens \+ `?max_new_tokens`? must be <=|input validation error: `?inputs`? must have less than/i,
  },
];

/** Classify an upstream's refusal from its status and (already redacted) error body. */
export function classifyRejection(status: number, body: string): Rejection {
  const { codes, text } = readBody(body);
  for (const rule of REJECTION_RULES) {
    if (rule.codes?.some((code) => codes.includes(code))) return rule.kind;
    if (rule.message?.test(text)) return rule.kind;
  }
  // 413: the body is too large for this upstream's server; another upstream may take it.
  return status === 413 ? "context_length" : "invalid";
}

/** The GatewayError for a refusal, with the upstream's message. */
export function rejectionError(status: number, body: string, label: string, detail: string): GatewayError {
  const suffix = detail ? `: ${detail}` : "";
  switch (classifyRejection(status, body)) {
    case "content_filter":
      return new GatewayError("content_filtered", `${label} refused the request under its content policy (${status})${suffix}`);
    case "context_length":
      return new GatewayError("context_length_exceeded", `${label} says the request is too long for the model (${status})${suffix}`);
    case "invalid":
      return new GatewayError("invalid_request", `${label} rejected the request (${status})${suffix}`);
  }
}

/** Codes (`error.code`, `error.type`, Azure's `innererror.code`) and all the text of an error body. */
function readBody(body: string): { codes: string[]; text: string } {
  const codes: string[] = [];
  try {
    const json: unknown = JSON.parse(body);
    const visit = (value: unknown, depth: number) => {
      if (!value || typeof value !== "object" || depth > 3) return;
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
        if ((key === "code" || key === "type" || key === "error_type") && typeof inner === "string") codes.push(inner);
        else visit(inner, depth + 1);
      }
    };
    visit(json, 0);
  } catch {
    // not JSON: the text alone decides
  }
  return { codes, text: body };
}
