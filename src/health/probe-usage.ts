/**
 * What a check of a model whose real calls failed spent, as usage (the
 * circuit breaker's recovery probes, the check confirming one key's
 * failures): a probe that called the model's generation is counted against
 * the model under the key id `health-check`, with the gateway's estimate of
 * its tokens (the probe asks for one token, or a capability probe's two tiny
 * chats of at most 32 each). A probe that failed before an answer counts
 * nothing. Routine checks are not metered.
 */
import { commonConfig } from "../config/common";
import type { ModelRecord } from "../models/schema";
import { costNano } from "../usage/cost";
import type { UsageRecord } from "../usage/record";
import type { HealthOutcome } from "./status";

export const PROBE_KEY_ID = "health-check";
/** Estimated tokens of one generation probe, and of a capability probe (two tiny chats with a tool or a schema). */
const PROBE_TOKENS = { prompt: 8, completion: 1 };
const CAPABILITY_PROBE_TOKENS = { prompt: 160, completion: 64 };

export function probeUsage(model: ModelRecord, outcome: HealthOutcome, at: number): UsageRecord | null {
  if (outcome.probe !== "generation") return null;
  const config = commonConfig(model.config);
  const tokens = config.health_check?.probe === "capabilities" && outcome.feature_checks ? CAPABILITY_PROBE_TOKENS : PROBE_TOKENS;
  return {
    at,
    key_id: PROBE_KEY_ID,
    model_id: model.id,
    ok: outcome.ok,
    prompt_tokens: tokens.prompt,
    completion_tokens: tokens.completion,
    estimated: true,
    cost_nano: costNano(config.pricing, tokens.prompt, tokens.completion),
  };
}
