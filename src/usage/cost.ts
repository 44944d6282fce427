/**
 * Tokens and money, as pure functions: the worst-case estimate a request is
 * admitted with, the estimate used when an upstream reports no usage, and the
 * cost of a call from its model's `pricing`. Costs are whole nano-dollars
 * (1e-9 USD), so sums stay exact; they are shown in USD.
 */
import type { Pricing } from "../config/common";

/** Completion tokens assumed for a generation that sets no `max_tokens`, when it is admitted under a budget. */
export const DEFAULT_MAX_TOKENS = 4096;

/** Characters per token of the estimate: about right for English with GPT-style tokenizers. */
export const CHARS_PER_TOKEN = 4;

export const NANO_PER_USD = 1_000_000_000;

/** The documented estimate: ceil(characters / 4). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** Of a call's prompt tokens, those read from and written to the upstream's prompt cache. */
export interface CacheTokens {
  cached_tokens: number;
  cache_write_tokens: number;
}

/**
 * Cost of a call in nano-dollars, rounded once per call; 0 for a model without
 * pricing. Cached and cache-written tokens are part of `promptTokens`: they
 * are priced at the cache prices (the input price when a model has none), the
 * rest of the prompt at the input price.
 */
export function costNano(
  pricing: Pricing | undefined,
  promptTokens: number,
  completionTokens: number,
  cache: CacheTokens = { cached_tokens: 0, cache_write_tokens: 0 },
): number {
  if (!pricing) return 0;
  const cached = Math.min(cache.cached_tokens, promptTokens);
  const written = Math.min(cache.cache_write_tokens, promptTokens - cached);
  const uncached = promptTokens - cached - written;
  const input = pricing.input_per_mtok;
  // USD per million tokens × 1000 = nano-dollars per token.
  return Math.round(
    (uncached * input +
      cached * (pricing.cache_read_per_mtok ?? input) +
      written * (pricing.cache_write_per_mtok ?? input) +
      completionTokens * pricing.output_per_mtok) *
      1000,
  );
}

/** The most a call can cost: every prompt token at the dearest of its prices (a cache write may cost more than input). */
export function worstCaseNano(pricing: Pricing | undefined, promptTokens: number, completionTokens: number): number {
  if (!pricing) return 0;
  const dearest = Math.max(pricing.input_per_mtok, pricing.cache_read_per_mtok ?? 0, pricing.cache_write_per_mtok ?? 0);
  return costNano({ input_per_mtok: dearest, output_per_mtok: pricing.output_per_mtok }, promptTokens, completionTokens);
}

export function toUsd(nano: number): number {
  return nano / NANO_PER_USD;
}

export function toNano(usd: number): number {
  return Math.round(usd * NANO_PER_USD);
}

/** What a request may use at most: admitted against budgets before anything is sent upstream. */
export interface Demand {
  /** The prompt estimate (ceil(chars / 4) of what is sent). */
  prompt_tokens: number;
  /** `max_tokens`, or DEFAULT_MAX_TOKENS when absent; 0 for embeddings and classification. */
  completion_tokens: number;
}

export function generationDemand(sent: unknown, maxTokens: number | undefined): Demand {
  return {
    prompt_tokens: estimateTokens(typeof sent === "string" ? sent : JSON.stringify(sent)),
    completion_tokens: maxTokens ?? DEFAULT_MAX_TOKENS,
  };
}

export function inputDemand(sent: string[]): Demand {
  return { prompt_tokens: estimateTokens(sent.join("\n")), completion_tokens: 0 };
}
