/**
 * Wire helpers every backend shares, whatever its upstream speaks: checking an
 * upstream's answer against a schema, and naming why a generation stopped.
 */
import type { z } from "zod";
import { GatewayError } from "../errors";
import type { FinishReason } from "./types";

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

/** Upstreams' stop reasons (OpenAI, Ollama, TGI, Anthropic-style) in the gateway's words. */
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
