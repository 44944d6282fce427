/**
 * What would work instead, for a tool error an agent should recover from on
 * its own: the tenant's healthy models with the capability (and the features)
 * the call needed, or when to retry. A refusal that names its way out saves a
 * round of list_models and guessing.
 */
import { z } from "zod";
import type { GatewayError } from "../errors";
import { rateKey, rateLimit } from "../inference/route";
import { tokensLeft } from "../util/token-bucket";
import type { Capability, Feature, ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";

/** The call a tool was making when it failed: what an alternative must offer. */
export interface Want {
  model_id: string;
  capability: Capability;
  features: readonly Feature[];
}

/** structuredContent of every `isError` result. */
export const ToolErrorContent = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    alternatives: z.array(z.string()).optional().describe("Healthy models of this tenant that could take the same call now"),
    retry_after_s: z.number().optional().describe("Seconds to wait before trying again"),
    resets_at: z.string().optional().describe("When the exhausted budget resets (ISO 8601)"),
  }),
});
export type ToolErrorContent = z.infer<typeof ToolErrorContent>;

/** Failures where another model could answer: the model is down, refused, lacking, or at its limit. */
const MODEL_FAILURES = new Set<string>([
  "model_unavailable",
  "unsupported_capability",
  "unsupported_feature",
  "rate_limited",
  "upstream_error",
  "upstream_timeout",
  "not_found",
]);

/** The advice for one failure: alternatives when another model could answer, and when to retry when waiting helps. */
export function advise(failure: GatewayError, scope: TenantScope, want: Want | undefined, now = Date.now()): ToolErrorContent["error"] {
  const error: ToolErrorContent["error"] = { code: failure.code, message: failure.message };
  if (failure.retryAfter !== undefined && (failure.code === "rate_limited" || failure.code === "budget_exceeded")) {
    error.retry_after_s = Math.ceil(failure.retryAfter);
    if (failure.code === "budget_exceeded") error.resets_at = new Date(now + error.retry_after_s * 1000).toISOString();
  }
  if (want && MODEL_FAILURES.has(failure.code)) error.alternatives = alternatives(scope, want);
  return error;
}

/** The advice in words, appended to the error's text. */
export function adviceText(error: ToolErrorContent["error"]): string {
  const parts: string[] = [];
  if (error.alternatives) {
    parts.push(
      error.alternatives.length > 0
        ? `Models that could take this call now: ${error.alternatives.join(", ")}.`
        : "No other model of this tenant can take this call now.",
    );
  }
  if (error.retry_after_s !== undefined) parts.push(`Retry after ${error.retry_after_s} s.`);
  return parts.join(" ");
}

/**
 * Models other than the one asked for (and its fallbacks, already on its
 * route) with the capability and every feature, available (checked healthy)
 * and with rate budget left.
 */
export function alternatives(scope: TenantScope, want: Want): string[] {
  const requested = scope.snapshot.models.find((m) => m.id === want.model_id);
  const tried = new Set([want.model_id, ...(requested?.fallbacks ?? [])]);
  return scope.snapshot.models.filter((m) => !tried.has(m.id) && canTake(scope, m, want)).map((m) => m.id);
}

function canTake(scope: TenantScope, model: ModelRecord, want: Want): boolean {
  if (model.status !== "available") return false;
  if (!model.capabilities.includes(want.capability)) return false;
  if (!want.features.every((f) => model.features.includes(f))) return false;
  const limit = rateLimit(model);
  return limit === undefined || tokensLeft(rateKey(scope, model), limit) >= 1;
}
