/**
 * How a capability probe's findings change what a model can do. The registry
 * stores the features an admin declared (or the defaults) and, beside them, the
 * probe's latest finding per feature; a model's effective features are derived
 * from both when it is read, so a later finding (or none) never loses what was
 * declared.
 */
import type { Feature, FeatureChecks, ModelRecord } from "./schema";

/** Declared features adjusted by the probe: `unsupported` removes one, `verified` adds one, `unconfirmed` changes nothing. */
export function effectiveFeatures(declared: readonly Feature[], checks: FeatureChecks): Feature[] {
  const found = (feature: Feature) => checks[feature as keyof FeatureChecks]?.result;
  // Declared ones keep their order; verified ones the declaration lacked come after them.
  const kept = declared.filter((feature) => found(feature) !== "unsupported");
  const added = (Object.keys(checks) as (keyof FeatureChecks)[]).filter((feature) => found(feature) === "verified" && !kept.includes(feature));
  return [...kept, ...added];
}

/** Config fields that name the upstream model: when one changes, what a probe found is about another model. */
const UPSTREAM_FIELDS = ["model_name", "base_url", "endpoint_url", "provider"] as const;

/** Whether `next` calls another upstream model than `current` did (its findings no longer apply). */
export function upstreamModelChanged(
  current: Pick<ModelRecord, "backend_type" | "config">,
  next: Pick<ModelRecord, "backend_type" | "config">,
): boolean {
  return current.backend_type !== next.backend_type || UPSTREAM_FIELDS.some((field) => current.config[field] !== next.config[field]);
}
