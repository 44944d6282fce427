/**
 * The one small interface every backend implements, and the factory shape the
 * registry (`./registry.ts`) holds one of per backend type. The shapes of what
 * goes in and comes out are zod schemas in `./shapes.ts`.
 */
import type { z } from "zod";
import type { Capability, Feature } from "../models/schema";
import type { ChatMessage, Classification, Embeddings, Generation, ResponseFormat, ToolChoice, ToolDefinition } from "./shapes";

export type {
  ChatMessage,
  Classification,
  ContentPart,
  Embeddings,
  FinishReason,
  Generation,
  ResponseFormat,
  ToolCall,
  ToolChoice,
  ToolDefinition,
} from "./shapes";

/**
 * Generation parameters by OpenAI's names. Each backend maps every one of them
 * in its table (`./params.ts`): sent under its upstream's name, or refused by
 * name. None is ever dropped.
 */
export interface SamplingParams {
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  logit_bias?: Record<string, number>;
  user?: string;
}

/**
 * Top-level request parameters the gateway does not know, exactly as the
 * caller sent them: OpenAI-style upstreams get them as they are, every other
 * backend refuses the request naming the first one.
 */
export interface Passthrough {
  extra?: Record<string, unknown>;
}

export interface ChatRequest extends SamplingParams, Passthrough {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ResponseFormat;
}

export interface CompletionRequest extends SamplingParams, Passthrough {
  prompt: string;
}

export interface EmbeddingRequest {
  input: string[];
}

export interface ClassificationRequest {
  text: string;
  labels?: string[];
}

export interface CallOptions {
  /** Aborts the upstream call when the caller goes away. */
  signal?: AbortSignal;
  /** When given, the backend streams and calls this with each new piece of text. */
  onText?: (delta: string) => void | Promise<void>;
  /** While streaming, each piece of a tool call, in OpenAI's delta form (index; id and name first; arguments in fragments). */
  onToolCall?: (delta: ToolCallDelta) => void | Promise<void>;
  /**
   * A native call streams its upstream's events as they were sent (each
   * parsed), to this; the text and tool calls in them are not given to
   * `onText` / `onToolCall` as well.
   */
  onNative?: (event: Record<string, unknown>) => void | Promise<void>;
  /**
   * Another model can take the call if this one fails: a timed-out attempt
   * is then not retried here (a silent upstream is left at once).
   */
  fallbackAvailable?: boolean;
  /**
   * Told of each upstream attempt that timed out (retries included): how long
   * it ran, and whether it was a stream waiting for its first token. The call
   * is charged for what the upstream may have generated meanwhile.
   */
  onTimedOut?: (attempt: { elapsedMs: number; streamed: boolean }) => void;
  /** A circuit breaker's trial call: one attempt, whatever the model's `max_retries` (src/inference/breaker.ts). */
  oneAttempt?: boolean;
}

/** One piece of a streamed tool call: the first piece of a call carries its id and name. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

export interface HealthResult {
  ok: boolean;
  latency_ms: number;
  detail: string | null;
}

/**
 * A caller's request in one wire format, as the caller wrote it (see
 * src/inference/call.ts): a backend that speaks that format sends it as is.
 */
export interface NativeRequest {
  /** Anthropic Messages (`anthropic` backends), or OpenAI Responses (`openai_compatible` with `responses_api`). */
  format: "anthropic" | "responses";
  /** The body as the caller sent it. */
  body: Record<string, unknown>;
  /** The caller's request headers (lower-case names); the backend forwards the ones its format defines. */
  headers: Record<string, string>;
}

/** A generation from a native call: `native` is the upstream's whole answer as it sent it (a call that did not stream). */
export type NativeGeneration = Generation & { native?: Record<string, unknown> };

/** One model's backend, built per call; the capabilities it serves are its factory's `supports`. */
export interface ModelBackend {
  /** The backend's own cheap check (no tokens spent): is the upstream there, does it know the model. */
  healthCheck(): Promise<HealthResult>;
  chat?(request: ChatRequest, options?: CallOptions): Promise<Generation>;
  complete?(request: CompletionRequest, options?: CallOptions): Promise<Generation>;
  embed?(request: EmbeddingRequest, options?: CallOptions): Promise<Embeddings>;
  classify?(request: ClassificationRequest, options?: CallOptions): Promise<Classification>;
  /**
   * Chat in the upstream's own wire format, when a caller speaks it too: the request goes as it was written.
   * `countTokens`: the upstream's own count of a request's input tokens (Anthropic's count_tokens), spending none.
   */
  native?: {
    format: NativeRequest["format"];
    chat(request: NativeRequest, options?: CallOptions): Promise<NativeGeneration>;
    countTokens?(request: NativeRequest, options?: CallOptions): Promise<number>;
  };
}

/**
 * What a backend gets from outside, injected so tests can hand in fakes, and
 * no more: never the Worker's whole `env` (it holds every Worker secret).
 */
export interface BackendDeps {
  fetch: typeof fetch;
  /** The Workers AI binding (`env.AI`); only `workers_ai` uses it. */
  ai?: Ai;
  /**
   * Makes the image loader of one call: it fetches images a caller gave by
   * URL, for upstreams that take image bytes rather than URLs, under the SSRF
   * rules and caps on size and count (`./images.ts`); the count is the call's,
   * so each call makes its own loader. Without it, such backends use
   * `imageLoader` with no private-host exemptions.
   */
  imageLoader?: () => ImageLoader;
  /**
   * The one service binding a `worker` model names, after the checks that the
   * operator granted it to this tenant and that it is a service binding
   * (src/config/bindings.ts); absent for every other backend type.
   */
  service?: unknown;
}

/** What a backend says it serves for one config, when it can say (a `worker` backend's `describe()`). */
export interface Declared {
  capabilities: Capability[];
  features: Feature[];
}

/** An image's bytes as base64, with its media type. */
export type ImageLoader = (url: string, signal?: AbortSignal) => Promise<{ mediaType: string; base64: string }>;

export interface BackendFactory<Schema extends z.ZodType<Record<string, unknown>> = z.ZodType<Record<string, unknown>>> {
  /** zod schema of this backend's config (common fields included). */
  readonly configSchema: Schema;
  /** Every capability the backend type can serve. */
  readonly supports: readonly Capability[];
  /** Capabilities a model gets when its registration names none. */
  defaultCapabilities(config: z.output<Schema>): Capability[];
  /** Features (tools, vision, json_schema) a chat model gets when its registration names none: by model name. */
  defaultFeatures(config: z.output<Schema>): Feature[];
  /** The URLs requests go to, for the URL policy and the secret-host binding. */
  upstreamUrls(config: z.output<Schema>): { field: string; url: string }[];
  /**
   * The Worker binding calls go to instead of (or besides) URLs, as people
   * should read it in explain_route, e.g. "Workers AI binding (AI)".
   */
  readonly binding?: string;
  /** The service binding a config names (`worker`): checked against the tenant's grants, then handed to `create` as `deps.service`. */
  serviceBinding?(config: z.output<Schema>): { field: string; name: string };
  /**
   * Asked at registration when the backend itself knows what it serves: its
   * answer is the model's default capabilities and features, and the most a
   * registration may name.
   */
  declared?(config: z.output<Schema>, deps: BackendDeps): Promise<Declared>;
  /** Build a backend for one call from config whose secret references are resolved. */
  create(config: z.output<Schema>, deps: BackendDeps): ModelBackend;
}
