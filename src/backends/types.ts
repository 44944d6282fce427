/**
 * The one small interface every backend implements, and the factory shape the
 * registry (`./registry.ts`) holds one of per backend type.
 */
import type { z } from "zod";
import type { Capability } from "../models/schema";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

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

export type FinishReason = "stop" | "length" | "content_filter" | "tool_calls" | "error" | "unknown";

export interface Generation {
  text: string;
  finish_reason: FinishReason;
  usage: { prompt_tokens: number | null; completion_tokens: number | null };
  /** Set when a stream broke after it started: `text` holds what arrived before. */
  error?: string;
}

export interface EmbeddingRequest {
  input: string[];
}

export interface Embeddings {
  embeddings: number[][];
}

export interface ClassificationRequest {
  text: string;
  labels?: string[];
}

export interface Classification {
  labels: { label: string; score: number }[];
}

export interface CallOptions {
  /** Aborts the upstream call when the caller goes away. */
  signal?: AbortSignal;
  /** When given, the backend streams and calls this with each new piece of text. */
  onText?: (delta: string) => void | Promise<void>;
}

export interface HealthResult {
  ok: boolean;
  latency_ms: number;
  detail: string | null;
}

export interface ModelBackend {
  /** Check the upstream is reachable and the model exists. */
  initialize(): Promise<void>;
  healthCheck(): Promise<HealthResult>;
  /** Release anything held; backends over plain HTTP hold nothing. */
  shutdown(): Promise<void>;
  readonly capabilities: readonly Capability[];
  chat?(request: ChatRequest, options?: CallOptions): Promise<Generation>;
  complete?(request: CompletionRequest, options?: CallOptions): Promise<Generation>;
  embed?(request: EmbeddingRequest, options?: CallOptions): Promise<Embeddings>;
  classify?(request: ClassificationRequest, options?: CallOptions): Promise<Classification>;
}

/** What a backend gets from outside, injected so tests can hand in fakes. */
export interface BackendDeps {
  fetch: typeof fetch;
  env: Env;
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
  /** Build a backend for one call from config whose secret references are resolved. */
  create(config: z.output<Schema>, deps: BackendDeps): ModelBackend;
}
