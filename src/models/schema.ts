/**
 * Wire shapes of the model registry: what an admin sends to register a model,
 * and the one typed record the tenant's Durable Object stores. Types are
 * inferred from these schemas; backend-specific config lives with each backend.
 */
import { z } from "zod";

export const Capability = z.enum(["completion", "chat", "embedding", "classification"]);
export type Capability = z.infer<typeof Capability>;

/**
 * What a chat model can do beyond plain text: function calling, image input,
 * structured (JSON) output, and `prefill`: it continues an unfinished
 * assistant message that ends the conversation (what lets a fallback finish a
 * stream another model broke off, src/inference/rescue.ts).
 */
export const Feature = z.enum(["tools", "vision", "json_schema", "prefill"]);
export type Feature = z.infer<typeof Feature>;

/** The features a capability probe can verify with a request (vision would need an image to send). */
export const VerifiableFeature = Feature.extract(["tools", "json_schema", "prefill"]);
export type VerifiableFeature = z.infer<typeof VerifiableFeature>;

/**
 * What a capability probe (`health_check.probe: "capabilities"`) found for one
 * feature: `verified` (the model used it), `unsupported` (the upstream refused
 * the request for it), `unconfirmed` (it answered, but not in kind).
 */
export const FeatureCheck = z.object({
  result: z.enum(["verified", "unsupported", "unconfirmed"]),
  checked_at: z.string(),
  detail: z.string().optional().describe("What the probe saw (secrets redacted)"),
});
export type FeatureCheck = z.infer<typeof FeatureCheck>;

export const FeatureChecks = z
  .object({ tools: FeatureCheck.optional(), json_schema: FeatureCheck.optional(), prefill: FeatureCheck.optional() })
  .describe("The capability probe's latest finding per feature; `features` already reflects them");
export type FeatureChecks = z.infer<typeof FeatureChecks>;

export const ModelStatus = z.enum(["initializing", "available", "degraded", "error", "maintenance"]);
export type ModelStatus = z.infer<typeof ModelStatus>;

export const MODEL_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const ModelId = z.string().regex(MODEL_ID_PATTERN, "must match [a-z0-9][a-z0-9._-]{0,63} (lowercase letters, digits, '.', '_', '-')");

/** An alias: the id's syntax plus ':' (Ollama's tags, e.g. "llama3.2:latest"), so an agent's default model names fit. */
export const MODEL_ALIAS_PATTERN = /^[a-z0-9][a-z0-9._:-]{0,63}$/;
export const ModelAlias = z
  .string()
  .regex(MODEL_ALIAS_PATTERN, "must match [a-z0-9][a-z0-9._:-]{0,63} (lowercase letters, digits, '.', '_', '-', ':')");
/** Most aliases one model may carry: each is one more name every lookup and uniqueness check reads. */
export const MAX_ALIASES = 16;
const Aliases = z
  .array(ModelAlias)
  .max(MAX_ALIASES)
  .describe("Other names a client may use for this model (unique in the tenant across ids and aliases), e.g. an agent's default model name");

/**
 * `load_balance`: calls to the model are spread over `targets`, each a
 * registered model (the model itself may be one) with its own health and
 * breaker (src/inference/load-balance.ts). A field of the model, beside
 * `fallbacks`: it says where calls go, not how one upstream is called.
 */
export const LoadBalance = z.strictObject({
  strategy: z.enum(["weighted", "least_latency"]),
  targets: z
    .array(
      z.strictObject({
        model_id: ModelId,
        weight: z.number().positive("must be positive").max(1_000_000).optional(),
      }),
    )
    .min(1, "must list at least one target")
    .max(16, "must list at most 16 targets")
    .refine((targets) => new Set(targets.map((t) => t.model_id)).size === targets.length, "must not list a model twice"),
  sticky: z.boolean().optional(),
});
export type LoadBalance = z.infer<typeof LoadBalance>;

/** The seed's `ModelRegistrationRequest`. `config` is checked against the backend's own schema. */
export const ModelRegistrationRequest = z.strictObject({
  id: ModelId.optional(),
  name: z.string().trim().min(1, "must not be empty").max(200),
  backend_type: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
  capabilities: z.array(Capability).min(1, "must list at least one capability").optional(),
  features: z.array(Feature).optional(),
  fallbacks: z.array(ModelId).max(8).optional(),
  aliases: Aliases.optional(),
  load_balance: LoadBalance.optional(),
  description: z.string().max(2000).optional(),
});
export type ModelRegistrationRequest = z.infer<typeof ModelRegistrationRequest>;

/**
 * A partial update. `config` is merged key by key into the stored config (a key
 * set to null is removed), then the whole result is validated again.
 * `load_balance` replaces the stored pool whole; null removes it.
 */
export const ModelUpdateRequest = z.strictObject({
  name: z.string().trim().min(1, "must not be empty").max(200).optional(),
  backend_type: z.string().min(1).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  capabilities: z.array(Capability).min(1, "must list at least one capability").optional(),
  features: z.array(Feature).optional(),
  fallbacks: z.array(ModelId).max(8).optional(),
  aliases: Aliases.optional(),
  load_balance: LoadBalance.nullable().optional(),
  description: z.string().max(2000).nullable().optional(),
});
export type ModelUpdateRequest = z.infer<typeof ModelUpdateRequest>;

/** The registry record, as stored and as returned (config holds secret references, never values). */
export const ModelRecord = z.object({
  id: ModelId,
  name: z.string(),
  description: z.string().nullable(),
  backend_type: z.string(),
  config: z.record(z.string(), z.unknown()),
  capabilities: z.array(Capability),
  features: z.array(Feature).describe("What the model can do beyond plain text (chat models): declared or default, as the capability probe found"),
  feature_checks: FeatureChecks,
  fallbacks: z.array(ModelId),
  aliases: z.array(ModelAlias).describe("Other names a client may use for this model"),
  load_balance: LoadBalance.nullable().describe("The pool this model's calls are spread over, or null"),
  status: ModelStatus,
  status_detail: z.string().nullable(),
  last_checked_at: z.string().nullable(),
  latency_ms: z.number().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type ModelRecord = z.infer<typeof ModelRecord>;

/** Derive an id from a display name: "Llama 3.2 on the GPU" -> "llama-3.2-on-the-gpu". */
export function slugify(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, 64)
    .replace(/[^a-z0-9]+$/, "");
  return slug;
}
