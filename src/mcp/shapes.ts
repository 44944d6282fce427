/** Output shapes of the registry tools, declared as each tool's outputSchema. */
import { z } from "zod";
import { Capability, ModelRecord, ModelStatus } from "../models/schema";

export const ModelSummary = z.object({
  id: z.string(),
  name: z.string(),
  backend_type: z.string(),
  capabilities: z.array(Capability),
  status: ModelStatus,
  last_checked_at: z.string().nullable(),
  latency_ms: z.number().nullable(),
});

export const HealthCheck = z.object({
  at: z.string(),
  source: z.enum(["scheduled", "manual", "call"]).describe("A scheduled check, one run on demand, or a real call"),
  ok: z.boolean(),
  status: ModelStatus,
  latency_ms: z.number().nullable(),
  detail: z.string().nullable(),
});

export const ModelDetail = ModelRecord.extend({ recent_checks: z.array(HealthCheck).describe("Newest first") });

export const CheckResults = z.object({ checks: z.array(HealthCheck.extend({ model_id: z.string() })) });

export function summary(m: ModelRecord): z.infer<typeof ModelSummary> {
  return {
    id: m.id,
    name: m.name,
    backend_type: m.backend_type,
    capabilities: m.capabilities,
    status: m.status,
    last_checked_at: m.last_checked_at,
    latency_ms: m.latency_ms,
  };
}
