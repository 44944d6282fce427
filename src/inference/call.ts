/**
 * The one typed inference call. An edge (an MCP tool, a /v1 route, and any
 * wire format added later) turns what its caller sent into a `CallInput`,
 * opens the call with `openCall` (the model looked up once, the capability
 * checked once, what the request needs worked out once), runs it with
 * `runCall` (./run.ts), and turns the typed result, or the stream of events it
 * saw, back into its own format. The core knows no wire format.
 */
import type {
  CallOptions,
  ChatRequest,
  Classification,
  ClassificationRequest,
  CompletionRequest,
  Embeddings,
  EmbeddingRequest,
  Generation,
  ModelBackend,
  NativeGeneration,
  NativeRequest,
  ToolCallDelta,
} from "../backends/types";
import { GatewayError } from "../errors";
import type { Capability, ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import { type Demand, DEFAULT_MAX_TOKENS, estimateTokens, imageTokens, inputDemand } from "../usage/cost";
import { embedInBatches } from "./embed-batch";
import { type Need, requiredFeatures } from "./features";
import type { RescueHow } from "./rescue";

/**
 * What is asked, by capability: the request shape each capability's backends take.
 *
 * A chat may also carry the caller's request in its own wire format
 * (`native`, e.g. a /v1/messages body): a backend that speaks that format
 * (`ModelBackend.native`) sends it as written and streams the upstream's
 * events back as they came, so nothing is lost in translation; every other
 * backend on the route (a fallback) takes the typed `request`, its
 * translation. Routing, budgets, metering, redaction and failover stay the
 * typed call's, whichever backend answers. When the request does not
 * translate (`untranslated`: why), only a backend of its format can take it.
 */
export interface NativeInput {
  request: NativeRequest;
  untranslated?: GatewayError;
}

export type CallInput =
  | { capability: "chat"; request: ChatRequest; native?: NativeInput }
  | { capability: "completion"; request: CompletionRequest }
  | { capability: "embedding"; request: EmbeddingRequest }
  | { capability: "classification"; request: ClassificationRequest };

/** What a backend answers, by capability. */
interface Outputs {
  chat: NativeGeneration;
  completion: Generation;
  embedding: Embeddings;
  classification: Classification;
}

/** How the call was answered, whatever its capability. */
export interface Answered {
  /** The model that answered: the one asked for, or one of its fallbacks. */
  model_id: string;
  latency_ms: number;
  /**
   * Set when a fallback answered: the models tried before it and why each
   * failed; `rescued` when it finished a stream another model broke off
   * after text had reached the caller (./rescue.ts), and how.
   */
  fallback?: { requested: string; attempts: { model_id: string; error: string }[]; rescued?: RescueHow };
}

/** What a backend answered, tagged with the capability: the tag says its shape (never guessed from its fields). */
export type CallOutput = { [K in Capability]: { capability: K } & Outputs[K] }[Capability];

/** The result of a call: the output, and how the call was answered. */
export type CallResult<C extends Capability = Capability> = Extract<CallOutput, { capability: C }> & Answered;

/**
 * Where streamed pieces go while a call runs: text, and tool call pieces when
 * the edge forwards them. Whatever an edge takes here has reached its caller:
 * from then on the call cannot fail over (./run.ts).
 */
export interface StreamSink {
  text(delta: string): void | Promise<void>;
  toolCall?(delta: ToolCallDelta): void | Promise<void>;
  /** An upstream event of a native call (see `NativeInput`), as it was sent. */
  native?(event: Record<string, unknown>): void | Promise<void>;
}

export interface InferenceCall<I extends CallInput = CallInput> {
  scope: TenantScope;
  /** The model asked for, looked up once. */
  model: ModelRecord;
  input: I;
  /** The features the request needs, each with the parameter that needs it (features.ts). */
  needs: readonly Need[];
  /** The worst case a budget must admit before anything is sent (src/usage/meter.ts). */
  demand: Demand;
  /**
   * Huge requests' timeouts and cut streams say nothing about the upstream's
   * health: a large input or answer (a missing `max_tokens` counts as large),
   * or images (each counted as a big input).
   */
  huge: boolean;
  signal?: AbortSignal;
  /** Given: the call streams, and its pieces go here. */
  sink?: StreamSink;
}

/** Above either, a request is huge: its timeouts and cut streams say nothing about the upstream's health. */
export const HUGE_INPUT_TOKENS = 8_000;
export const HUGE_MAX_TOKENS = 4_096;
/**
 * What one image counts as, in input tokens, toward "huge": a big input
 * (an upstream fetches and encodes it, which can take long), so two images
 * make any request huge.
 */
export const IMAGE_AS_TOKENS = 4_000;

/**
 * Input estimated at 4 characters a token (the usual English ratio), each
 * image as `IMAGE_AS_TOKENS`. A generation without `max_tokens` (`"unset"`)
 * may run as long as the model likes: huge.
 */
export function isHuge(inputChars: number, maxTokens: number | "unset" | undefined, images = 0): boolean {
  if (maxTokens === "unset") return true;
  return inputChars / 4 + images * IMAGE_AS_TOKENS > HUGE_INPUT_TOKENS || (maxTokens ?? 0) > HUGE_MAX_TOKENS;
}

function imageCount(messages: ChatRequest["messages"]): number {
  let n = 0;
  for (const message of messages) {
    if (Array.isArray(message.content)) for (const part of message.content) if (part.type === "image_url") n++;
  }
  return n;
}

/**
 * Open a call for a model of the caller's tenant: not found for an unknown id
 * (another tenant's ids included), unsupported for a capability the model
 * lacks. Nothing is counted or sent yet.
 */
export function openCall<I extends CallInput>(
  scope: TenantScope,
  modelId: string,
  input: I,
  io: { signal?: AbortSignal; sink?: StreamSink } = {},
): InferenceCall<I> {
  const model = scope.model(modelId);
  const { capability } = input;
  if (!model.capabilities.includes(capability)) {
    throw new GatewayError(
      "unsupported_capability",
      `Model "${model.id}" does not support ${capability}; it supports ${model.capabilities.join(", ")}. Pick a model with list_models({capability: "${capability}"}).`,
    );
  }
  return { scope, model, input, ...sized(input), ...io };
}

/** What an input costs at worst (a rescue's, src/inference/run.ts, admitted under a budget). */
export function demandOf(input: CallInput): Demand {
  return sized(input).demand;
}

/** What the request needs, costs at worst, and whether it is huge: worked out once per call. */
function sized(input: CallInput): Pick<InferenceCall, "needs" | "demand" | "huge"> {
  switch (input.capability) {
    case "chat": {
      const { messages, tools, response_format, max_tokens } = input.request;
      // The prompt estimate covers what is sent: messages, tool definitions and the response format
      // (as JSON.stringify([messages, tools, format]) would count them, with the messages written once);
      // for a native request, its body (the larger of the two: the native one goes to a native backend).
      // Images count by their number and size class, not by the length of their URLs (or data).
      const images = messages
        .flatMap((m) => (m.role === "user" && typeof m.content !== "string" ? m.content : []))
        .filter((p) => p.type === "image_url");
      const urlChars = images.reduce((n, p) => n + p.image_url.url.length, 0);
      const messagesChars = JSON.stringify(messages).length;
      const typedChars = messagesChars + JSON.stringify(tools ?? null).length + JSON.stringify(response_format ?? null).length + 4;
      const nativeChars = input.native ? JSON.stringify(input.native.request.body).length : 0;
      const sentChars = Math.max(typedChars, nativeChars) - urlChars;
      const imageTokensSent = images.reduce((n, p) => n + imageTokens(p.image_url.detail), 0);
      return {
        needs: requiredFeatures(input.request),
        demand: { prompt_tokens: Math.ceil(sentChars / 4) + imageTokensSent, completion_tokens: max_tokens ?? DEFAULT_MAX_TOKENS },
        huge: isHuge(messagesChars, max_tokens ?? "unset", imageCount(messages)),
      };
    }
    case "completion": {
      const { prompt, max_tokens } = input.request;
      return {
        needs: [],
        demand: { prompt_tokens: estimateTokens(prompt), completion_tokens: max_tokens ?? DEFAULT_MAX_TOKENS },
        huge: isHuge(prompt.length, max_tokens ?? "unset"),
      };
    }
    case "embedding":
      return { needs: [], demand: inputDemand(input.request.input), huge: isHuge(charsOf(input.request.input), undefined) };
    case "classification": {
      const { text, labels } = input.request;
      return { needs: [], demand: inputDemand([text, ...(labels ?? [])]), huge: isHuge(text.length, undefined) };
    }
  }
}

function charsOf(texts: string[]): number {
  return texts.reduce((n, s) => n + s.length, 0);
}

/** Send the call's input to one backend, by capability (a backend's factory says which it serves). */
/** `embedBatch`: most inputs one upstream embedding request carries (./embed-batch.ts); more are sent in batches. */
export async function invoke(backend: ModelBackend, input: CallInput, options: CallOptions, embedBatch = Infinity): Promise<CallOutput> {
  const missing = () => new GatewayError("unsupported_capability", `This backend type cannot serve ${input.capability}.`);
  switch (input.capability) {
    case "chat": {
      const native = input.native;
      if (native && backend.native?.format === native.request.format) {
        return { capability: "chat", ...(await backend.native.chat(native.request, options)) };
      }
      if (native?.untranslated) throw native.untranslated;
      if (!backend.chat) throw missing();
      return { capability: "chat", ...(await backend.chat(input.request, options)) };
    }
    case "completion":
      if (!backend.complete) throw missing();
      return { capability: "completion", ...(await backend.complete(input.request, options)) };
    case "embedding":
      if (!backend.embed) throw missing();
      return { capability: "embedding", ...(await embedInBatches(input.request, embedBatch, (request) => backend.embed!(request, options))) };
    case "classification": {
      if (!backend.classify) throw missing();
      const result = await backend.classify(input.request, options);
      return { capability: "classification", ...result, labels: [...result.labels].sort((a, b) => b.score - a.score) };
    }
  }
}
