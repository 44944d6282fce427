/**
 * The backend contract for the `worker` backend type: what a Worker written by
 * an operator implements so the gateway can call it over a service binding
 * with Workers RPC. The one module both sides build on: the gateway validates
 * every answer with these schemas (an RPC answer is untrusted input), and a
 * backend Worker (examples/backend-worker) type-checks against the interface.
 *
 * It imports nothing but zod and the gateway's own shapes, so a backend Worker
 * can import it from a checkout (or copy it with `shapes.ts` and
 * `models/schema.ts`) without pulling in the rest of the gateway.
 *
 * Errors: a method that fails throws an Error whose message starts with one of
 * BACKEND_ERROR_CODES and a colon (`backendError` writes it), e.g.
 * "rate_limited: upstream said 429". Workers RPC carries the message across;
 * the gateway reads the code to decide whether to retry, go to a fallback, or
 * answer the caller at once. A message with no known code counts as
 * `unavailable` (retried, then a fallback).
 */
import { z } from "zod";
import type { Capability as GatewayCapability, Feature as GatewayFeature } from "../models/schema";
import { ChatMessage, Classification, Embeddings, FinishReason, Generation, ResponseFormat, ToolChoice, ToolDefinition } from "./shapes";

/**
 * The capabilities and features of src/models/schema.ts, written again here so
 * this module stays free of the registry's code; the checks below fail
 * typecheck the day the two lists differ.
 */
export const Capability = z.enum(["completion", "chat", "embedding", "classification"]);
export type Capability = z.infer<typeof Capability>;
export const Feature = z.enum(["tools", "vision", "json_schema", "prefill"]);
export type Feature = z.infer<typeof Feature>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const capabilitiesMatch: Same<Capability, GatewayCapability> = true;
const featuresMatch: Same<Feature, GatewayFeature> = true;
void capabilitiesMatch;
void featuresMatch;

/** Every request parameter a backend Worker may declare it takes; the gateway refuses any other by name. */
export const WORKER_PARAMS = [
  "max_tokens",
  "temperature",
  "top_p",
  "stop",
  "seed",
  "presence_penalty",
  "frequency_penalty",
  "logit_bias",
  "user",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "response_format",
] as const;
export const WorkerParam = z.enum(WORKER_PARAMS);
export type WorkerParam = z.infer<typeof WorkerParam>;

/**
 * What a backend Worker says it serves for one model (`describe(model)`):
 * the gateway registers the model with these capabilities and features
 * (unless the registration narrows them) and refuses, by name, any parameter
 * not in `params`.
 */
export const WorkerDescription = z.object({
  capabilities: z.array(Capability).min(1, "must list at least one capability"),
  features: z.array(Feature).default([]),
  params: z.array(WorkerParam).default([]),
});
export type WorkerDescription = z.input<typeof WorkerDescription>;

/** A health check's answer: no tokens spent. */
export const WorkerHealth = z.object({ ok: z.boolean(), detail: z.string().max(2000).nullable().optional() });
export type WorkerHealth = z.input<typeof WorkerHealth>;

/** Sampling parameters, by OpenAI's names, as the gateway sends them (only those the Worker declared). */
const Sampling = z.object({
  max_tokens: z.number().int().positive().optional(),
  temperature: z.number().optional(),
  top_p: z.number().optional(),
  stop: z.array(z.string()).optional(),
  seed: z.number().int().optional(),
  presence_penalty: z.number().optional(),
  frequency_penalty: z.number().optional(),
  logit_bias: z.record(z.string(), z.number()).optional(),
  user: z.string().optional(),
});

/** `model` is the config's `model` (null when the model config names none); `stream` asks for a ReadableStream answer. */
export const WorkerChatRequest = Sampling.extend({
  model: z.string().nullable(),
  stream: z.boolean(),
  messages: z.array(ChatMessage),
  tools: z.array(ToolDefinition).optional(),
  tool_choice: ToolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: ResponseFormat.optional(),
});
export type WorkerChatRequest = z.infer<typeof WorkerChatRequest>;

export const WorkerCompletionRequest = Sampling.extend({ model: z.string().nullable(), stream: z.boolean(), prompt: z.string() });
export type WorkerCompletionRequest = z.infer<typeof WorkerCompletionRequest>;

export const WorkerEmbeddingRequest = z.object({ model: z.string().nullable(), input: z.array(z.string()) });
export type WorkerEmbeddingRequest = z.infer<typeof WorkerEmbeddingRequest>;

export const WorkerClassificationRequest = z.object({ model: z.string().nullable(), text: z.string(), labels: z.array(z.string()).optional() });
export type WorkerClassificationRequest = z.infer<typeof WorkerClassificationRequest>;

/**
 * One line of a streamed answer: newline-delimited JSON in a ReadableStream of
 * bytes. Text arrives in `text`; tool calls in OpenAI's delta form (index; id
 * and name first, arguments in fragments); the last line carries
 * `finish_reason` and `usage`. A line with `error` ends the stream as broken.
 */
export const WorkerStreamEvent = z.strictObject({
  text: z.string().optional(),
  tool_calls: z
    .array(
      z.object({
        index: z.number().int().min(0),
        id: z.string().optional(),
        name: z.string().optional(),
        arguments: z.string().optional(),
      }),
    )
    .optional(),
  finish_reason: FinishReason.optional(),
  usage: z.object({ prompt_tokens: z.number().nullable().optional(), completion_tokens: z.number().nullable().optional() }).optional(),
  error: z.string().optional(),
});
export type WorkerStreamEvent = z.infer<typeof WorkerStreamEvent>;

/** The error codes a backend Worker's message may start with. */
export const BACKEND_ERROR_CODES = {
  /** The request is wrong for this backend: answered at once, never retried. */
  invalid_request: { retryable: false },
  /** Too long for the model: another model (a fallback) may take it. */
  context_length_exceeded: { retryable: false },
  /** Refused under a content policy: final. */
  content_filtered: { retryable: false },
  /** Over capacity or rate limited: retried with backoff, then a fallback. */
  rate_limited: { retryable: true },
  /** Down, or failed for a reason that may pass: retried, then a fallback. */
  unavailable: { retryable: true },
} as const;
export type BackendErrorCode = keyof typeof BACKEND_ERROR_CODES;

/** The Error a backend Worker throws: its message carries the code across RPC. */
export function backendError(code: BackendErrorCode, message: string): Error {
  return new Error(`${code}: ${message}`);
}

/**
 * The methods a backend Worker's `WorkerEntrypoint` implements. Answers are
 * plain data (Workers RPC structured-clones them) or, for streamed calls, a
 * ReadableStream of bytes holding WorkerStreamEvent lines. A Worker that does
 * not serve a capability leaves it out of `describe()`; its method may then
 * throw `backendError("invalid_request", …)`.
 */
export interface BackendContract {
  describe(model: string | null): Promise<WorkerDescription>;
  healthCheck(model: string | null): Promise<WorkerHealth>;
  chat(request: WorkerChatRequest): Promise<Generation | ReadableStream<Uint8Array>>;
  complete(request: WorkerCompletionRequest): Promise<Generation | ReadableStream<Uint8Array>>;
  embed(request: WorkerEmbeddingRequest): Promise<Embeddings>;
  classify(request: WorkerClassificationRequest): Promise<Classification>;
}

export { ChatMessage, Classification, Embeddings, FinishReason, Generation } from "./shapes";
