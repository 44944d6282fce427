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

/** Cost of a call in nano-dollars, rounded once per call; 0 for a model without pricing. */
export function costNano(pricing: Pricing | undefined, promptTokens: number, completionTokens: number): number {
  if (!pricing) return 0;
  // USD per million tokens × 1000 = nano-dollars per token.
  return Math.round(promptTokens * pricing.input_per_mtok * 1000 + completionTokens * pricing.output_per_mtok * 1000);
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
