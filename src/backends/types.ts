/**
 * The one small interface every backend implements, and the factory shape the
 * registry (`./registry.ts`) holds one of per backend type. The shapes of what
 * goes in and comes out are zod schemas in `./shapes.ts`.
 */
import type { z } from "zod";
import type { Capability } from "../models/schema";
import type { ChatMessage, Classification, Embeddings, Generation } from "./shapes";

export type { ChatMessage, Classification, Embeddings, FinishReason, Generation } from "./shapes";

export interface SamplingParams {
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
}

export interface ChatRequest extends SamplingParams {
  messages: ChatMessage[];
}

export interface CompletionRequest extends SamplingParams {
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
  /**
   * Another model can take the call if this one fails: a timed-out attempt
   * is then not retried here (a silent upstream is left at once).
   */
  fallbackAvailable?: boolean;
}

export interface HealthResult {
  ok: boolean;
  latency_ms: number;
  detail: string | null;
}

/** One model's backend, built per call; the capabilities it serves are its factory's `supports`. */
export interface ModelBackend {
  /** The backend's own cheap check (no tokens spent): is the upstream there, does it know the model. */
  healthCheck(): Promise<HealthResult>;
  chat?(request: ChatRequest, options?: CallOptions): Promise<Generation>;
  complete?(request: CompletionRequest, options?: CallOptions): Promise<Generation>;
  embed?(request: EmbeddingRequest, options?: CallOptions): Promise<Embeddings>;
  classify?(request: ClassificationRequest, options?: CallOptions): Promise<Classification>;
}

/**
 * What a backend gets from outside, injected so tests can hand in fakes, and
 * no more: never the Worker's whole `env` (it holds every Worker secret).
 */
export interface BackendDeps {
  fetch: typeof fetch;
  /** The Workers AI binding (`env.AI`); only `workers_ai` uses it. */
  ai?: Ai;
}

export interface BackendFactory<Schema extends z.ZodType<Record<string, unknown>> = z.ZodType<Record<string, unknown>>> {
  /** zod schema of this backend's config (common fields included). */
  readonly configSchema: Schema;
  /** Every capability the backend type can serve. */
  readonly supports: readonly Capability[];
  /** Capabilities a model gets when its registration names none. */
  defaultCapabilities(config: z.output<Schema>): Capability[];
  /** The URLs requests go to, for the URL policy and the secret-host binding. */
  upstreamUrls(config: z.output<Schema>): { field: string; url: string }[];
  /**
   * The Worker binding calls go to instead of (or besides) URLs, as people
   * should read it in explain_route, e.g. "Workers AI binding (AI)".
   */
  readonly binding?: string;
  /** Build a backend for one call from config whose secret references are resolved. */
  create(config: z.output<Schema>, deps: BackendDeps): ModelBackend;
}
