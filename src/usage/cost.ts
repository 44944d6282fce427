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

/**
 * Tokens an image costs at most, by its size class: `detail: "low"` is one
 * small tile on every upstream that prices images (85 tokens at OpenAI); any
 * other is taken at the largest image the big providers accept before they
 * scale it down (about 1.15 megapixels: ~1,600 tokens at Anthropic, fewer at
 * OpenAI). Counted per image, whatever the length of its URL.
 */
export const IMAGE_TOKENS = { low: 85, other: 1_600 } as const;

export function imageTokens(detail: "low" | "high" | "auto" | undefined): number {
  return detail === "low" ? IMAGE_TOKENS.low : IMAGE_TOKENS.other;
}

/**
 * The fastest an upstream is taken to generate, for charging an attempt that
 * timed out before it answered (a non-streamed call shows nothing until the
 * end): it may have generated this many tokens a second all the while.
 */
export const WORST_CASE_TOKENS_PER_S = 250;

/**
 * What an attempt that timed out is charged: its prompt (the upstream read it),
 * and, when it was not streamed, what it could have generated in the time it
 * ran, at most its `max_tokens`. A stream that timed out waiting for its first
 * token generated nothing the caller could see, and is charged its prompt.
 */
export function timedOutCharge(demand: Demand, maxTokens: number | undefined, attempt: { elapsedMs: number; streamed: boolean }): Demand {
  if (demand.completion_tokens === 0 || attempt.streamed) return { prompt_tokens: demand.prompt_tokens, completion_tokens: 0 };
  const couldHave = Math.ceil((attempt.elapsedMs / 1000) * WORST_CASE_TOKENS_PER_S);
  return { prompt_tokens: demand.prompt_tokens, completion_tokens: maxTokens === undefined ? couldHave : Math.min(maxTokens, couldHave) };
}

export function inputDemand(sent: string[]): Demand {
  return { prompt_tokens: estimateTokens(sent.join("\n")), completion_tokens: 0 };
}
