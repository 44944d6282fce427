/**
 * Config fields every backend type accepts, and the field types backends share.
 * Each backend extends `CommonConfig` with its own fields in its own file.
 */
import { z } from "zod";

/**
 * `pricing`: USD per million tokens, for cost accounting and cost budgets
 * (src/usage/). Prompt tokens read from or written to the upstream's prompt
 * cache have their own prices; each defaults to the input price.
 */
export const Pricing = z.strictObject({
  input_per_mtok: z.number().min(0).max(10_000),
  output_per_mtok: z.number().min(0).max(10_000),
  cache_read_per_mtok: z.number().min(0).max(10_000).optional(),
  cache_write_per_mtok: z.number().min(0).max(10_000).optional(),
});
export type Pricing = z.infer<typeof Pricing>;

export const CommonConfig = z.object({
  /** Seconds allowed for one upstream call (its first byte; a stream may run 10 times this in all). */
  timeout: z.number().positive().max(600).default(60),
  /**
   * Seconds a streamed call may wait for its first token (response headers
   * included); when unset, `DEFAULT_FIRST_TOKEN_S` or `timeout` if shorter.
   * Past it the attempt goes to the next fallback (see src/inference/run.ts).
   */
  first_token_timeout: z.number().positive().max(600).optional(),
  /**
   * Seconds a stream may stay silent between tokens, once its first token has
   * arrived; when unset, `DEFAULT_STALL_S` or `timeout` if shorter. Past it the
   * stream counts as broken: the caller gets the text so far, then the error.
   */
  stall_timeout: z.number().positive().max(600).optional(),
  /** Retries after a 429, a 5xx or a network error, with backoff and jitter. */
  max_retries: z.number().int().min(0).max(10).default(2),
  /**
   * The circuit breaker: after failures open it, calls skip the model for
   * `cooldown_s` (doubling with each failed probe or trial, up to
   * `max_cooldown_s`) while the tenant's object probes it
   * (src/inference/breaker.ts). Defaults there: 2 s and 8 s.
   */
  circuit_breaker: z
    .strictObject({
      cooldown_s: z.number().min(0.1).max(600).default(2),
      max_cooldown_s: z.number().min(0.1).max(3600).default(8),
    })
    .optional(),
  /** Requests per minute this gateway sends to this upstream. */
  rate_limit: z.number().int().positive().max(100_000).optional(),
  /**
   * How the model is probed. `auto` spends no tokens (model list, tags, presence;
   * an embedding-only model embeds one short string); `generation` runs a
   * one-token call; `capabilities` (opt-in: it spends a few tokens) sends a chat
   * model one tiny request per verifiable feature and records what it found
   * (src/health/capabilities.ts), and probes any other model as `generation`.
   * A successful probe slower than `slow_ms` marks it degraded.
   * `interval_s` replaces the operator's HEALTH_CHECK_INTERVAL_S for this model.
   */
  health_check: z
    .strictObject({
      probe: z.enum(["auto", "generation", "capabilities"]).default("auto"),
      slow_ms: z.number().int().positive().max(600_000).optional(),
      interval_s: z.number().int().min(10).max(86_400).optional(),
    })
    .optional(),
  pricing: Pricing.optional(),
});

/** An http(s) URL; whether its host is allowed is decided by `assertUpstreamUrl`. */
export const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

/** Extra request headers; values may hold `${SECRET}` references. */
/** Most extra headers one model may send upstream. */
export const MAX_HEADERS = 32;

export const Headers = z
  .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "is not a valid header name"), z.string().max(8192))
  .refine((headers) => Object.keys(headers).length <= MAX_HEADERS, `must hold at most ${MAX_HEADERS} headers`);

export const ModelName = z.string().trim().min(1, "must not be empty").max(256);

export type CommonConfig = z.output<typeof CommonConfig>;

/** `first_token_timeout` when a model does not set it (or its `timeout`, if shorter). */
export const DEFAULT_FIRST_TOKEN_S = 15;

/** Seconds to the first token of a streamed answer: the model's own, else the default or `timeout`, whichever is shorter. */
export function firstTokenSeconds(config: Pick<CommonConfig, "timeout" | "first_token_timeout">): number {
  return config.first_token_timeout ?? Math.min(config.timeout, DEFAULT_FIRST_TOKEN_S);
}

/** `stall_timeout` when a model does not set it (or its `timeout`, if shorter). */
export const DEFAULT_STALL_S = 20;

/** Seconds a started stream may stay silent between tokens: the model's own, else the default or `timeout`, whichever is shorter. */
export function stallSeconds(config: Pick<CommonConfig, "timeout" | "stall_timeout">): number {
  return config.stall_timeout ?? Math.min(config.timeout, DEFAULT_STALL_S);
}

const common = new WeakMap<object, CommonConfig>();

/**
 * The common fields of a stored config, defaults applied. Stored configs were
 * validated at registration, so this only fails on a config an older version
 * wrote; then the defaults stand (the call itself re-validates and says why).
 */
export function commonConfig(config: Record<string, unknown>): CommonConfig {
  let found = common.get(config);
  if (!found) {
    const parsed = CommonConfig.safeParse(config);
    found = parsed.success ? parsed.data : CommonConfig.parse({});
    common.set(config, found);
  }
  return found;
}
