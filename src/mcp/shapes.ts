/** Output shapes of the registry tools, declared as each tool's outputSchema. */
import { z } from "zod";
import { HealthCheck } from "../health/status";
import { Capability, Feature, FeatureChecks, LoadBalance, ModelRecord, ModelStatus } from "../models/schema";

export const ModelSummary = z.object({
  id: z.string(),
  name: z.string(),
  backend_type: z.string(),
  capabilities: z.array(Capability),
  features: z.array(Feature),
  aliases: z.array(z.string()),
  load_balance: LoadBalance.nullable().describe("Set when calls to this model are spread over other models (its targets)"),
  feature_checks: FeatureChecks,
  status: ModelStatus,
  last_checked_at: z.string().nullable(),
  latency_ms: z.number().nullable(),
});

export const ModelDetail = ModelRecord.extend({ recent_checks: z.array(HealthCheck).describe("Newest first") });

export const CheckResults = z.object({ checks: z.array(HealthCheck.extend({ model_id: z.string() })) });

export function summary(m: ModelRecord): z.infer<typeof ModelSummary> {
  return {
    id: m.id,
    name: m.name,
    backend_type: m.backend_type,
    capabilities: m.capabilities,
    features: m.features,
    aliases: m.aliases,
    load_balance: m.load_balance,
    feature_checks: m.feature_checks,
    status: m.status,
    last_checked_at: m.last_checked_at,
    latency_ms: m.latency_ms,
  };
}
