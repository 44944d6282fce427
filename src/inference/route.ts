/**
 * Where a call for a model goes: the model, then its fallbacks in order, each
 * with whether it can take the call now and why not. Used to run calls
 * (`run.ts`) and to explain them without calling anything (`explain_route`).
 */
import { backends, canonicalBackendType } from "../backends/registry";
import type { BackendFactory } from "../backends/types";
import { z } from "zod";
import { commonConfig } from "../config/common";
import { Capability, Feature, type FeatureCheck, type ModelRecord, type VerifiableFeature } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import type { CallInput } from "./call";
import type { Need } from "./features";
import { averageFirstToken, orderPool } from "./load-balance";
import { tokensLeft } from "../util/token-bucket";

/** Why a model cannot take a call now: a fact the caller can branch on, and its words for people. */
export type Blocked =
  | { reason: "capability"; capability: Capability }
  /** `probed`: the capability probe found the upstream refuses the feature (else the model never had it). */
  | { reason: "feature"; feature: Feature; param: string; probed?: FeatureCheck }
  | { reason: "maintenance" }
  | { reason: "down"; detail: string }
  | { reason: "rate_limited"; limit: number };

export interface RouteStep {
  model: ModelRecord;
  /** Why this model cannot take the call now; undefined when it can. */
  blocked?: Blocked;
}

export function rateKey(scope: TenantScope, model: ModelRecord): string {
  return `${scope.tenantId}/${model.id}`;
}

export function rateLimit(model: ModelRecord): number | undefined {
  return commonConfig(model.config).rate_limit;
}

/** The reason in words, as `explain_route` shows it. */
export function describeBlocked(blocked: Blocked): string {
  switch (blocked.reason) {
    case "capability":
      return `does not support ${blocked.capability}`;
    case "feature":
      return `lacks the ${blocked.feature} feature, which ${blocked.param} needs${blocked.probed ? ` (${probedUnsupported(blocked.probed)})` : ""}`;
    case "maintenance":
      return "in maintenance (set by an admin)";
    case "down":
      return `down: ${blocked.detail}`;
    case "rate_limited":
      return `its rate limit of ${blocked.limit}/min is used up`;
  }
}

/**
 * `needs`: the features the request needs (see features.ts); a model lacking one is skipped before any call.
 * A model with `load_balance` is its pool's targets, in the order ./load-balance.ts gives for `input`, then its fallbacks.
 */
export function planRoute(
  scope: TenantScope,
  primary: ModelRecord,
  capability: Capability,
  needs: readonly Need[] = [],
  input?: CallInput,
  random?: () => number,
): RouteStep[] {
  return planPool(scope, primary, capability, needs, input, random).steps;
}

function planPool(
  scope: TenantScope,
  primary: ModelRecord,
  capability: Capability,
  needs: readonly Need[],
  input: CallInput | undefined,
  random?: () => number,
): { steps: RouteStep[]; why: string | null } {
  const find = (id: string) => (id === primary.id ? primary : (scope.snapshot.models.find((m) => m.id === id) ?? missing(id, primary)));
  const step = (model: ModelRecord): RouteStep => ({ model, blocked: blockedReason(scope, model, capability, needs) });
  const balance = primary.load_balance;
  let head = [step(primary)];
  let why: string | null = null;
  if (balance) {
    const pool = orderPool(
      scope,
      balance,
      balance.targets.map((t) => step(find(t.model_id))),
      (s) => !s.blocked,
      input,
      random,
    );
    head = pool.ordered;
    why = pool.why;
  }
  const fallbacks = primary.fallbacks.filter((id) => !head.some((s) => s.model.id === id)).map((id) => step(find(id)));
  return { steps: [...head, ...fallbacks], why };
}

function blockedReason(scope: TenantScope, model: ModelRecord, capability: Capability, needs: readonly Need[]): Blocked | undefined {
  if (!model.capabilities.includes(capability)) return { reason: "capability", capability };
  const lacking = needs.find((n) => !model.features.includes(n.feature));
  if (lacking) {
    const probed = model.feature_checks[lacking.feature as VerifiableFeature];
    return { reason: "feature", ...lacking, ...(probed?.result === "unsupported" && { probed }) };
  }
  if (model.status === "maintenance") return { reason: "maintenance" };
  if (model.status === "error") return { reason: "down", detail: model.status_detail ?? "its last checks failed" };
  const limit = rateLimit(model);
  if (limit !== undefined && tokensLeft(rateKey(scope, model), limit) < 1) return { reason: "rate_limited", limit };
  return undefined;
}

function probedUnsupported(check: FeatureCheck): string {
  return `the capability probe found it unsupported at ${check.checked_at}${check.detail ? `: ${check.detail}` : ""}`;
}

/** A fallback id that no longer resolves (removal is refused while referenced, so this is a race). */
function missing(id: string, primary: ModelRecord): ModelRecord {
  return {
    ...primary,
    id,
    name: id,
    capabilities: [],
    fallbacks: [],
    load_balance: null,
    feature_checks: {},
    status: "error",
    status_detail: "no longer registered",
  };
}

/** What a model calls, for people: "api.openai.com" or "Workers AI binding (AI)"; each backend's factory says. */
export function upstreamOf(model: ModelRecord): string {
  try {
    const factory: BackendFactory = backends[canonicalBackendType(model.backend_type)];
    const hosts = factory.upstreamUrls(factory.configSchema.parse(model.config)).map((u) => new URL(u.url).host);
    return [...hosts, ...(factory.binding ? [factory.binding] : [])].join(", ");
  } catch {
    return "unknown (config no longer valid)";
  }
}

export const RouteExplanation = z.object({
  model_id: z.string(),
  capability: Capability,
  features: z.array(Feature).describe("The features the call needs; models lacking one are skipped"),
  would_answer: z.string().nullable().describe("The first model on the route that can take the call now"),
  load_balance: z
    .object({
      strategy: z.enum(["weighted", "least_latency"]),
      sticky: z.boolean(),
      next: z.string().nullable().describe("The target the next call would take (weighted: one draw)"),
      why: z.string(),
      targets: z.array(
        z.object({
          model_id: z.string(),
          weight: z.number(),
          status: z.string(),
          breaker: z.enum(["closed", "open"]).describe("open: the target is in error and calls skip it"),
          usable: z.boolean(),
          avg_first_token_ms: z.number().nullable().describe("Moving average of time to first token seen by this isolate"),
        }),
      ),
    })
    .optional()
    .describe("Set when the model spreads calls over targets"),
  steps: z.array(
    z.object({
      model_id: z.string(),
      backend_type: z.string(),
      upstream: z.string().describe("Host (or binding) the call would go to"),
      status: z.string(),
      usable: z.boolean(),
      reason: z.string().nullable(),
      rate_limit_per_minute: z.number().nullable(),
      rate_budget_left: z.number().nullable().describe("Requests left in this isolate's budget right now"),
      breaker: z
        .enum(["closed", "open"])
        .describe("open: the model is in error, so calls skip it until its cooldown ends and one trial call is let through"),
    }),
  ),
});
export type RouteExplanation = z.infer<typeof RouteExplanation>;

/** Explain a route without calling any model; `features`: those the call would need (tools, vision, json_schema). */
export function explainRoute(scope: TenantScope, modelId: string, capability: Capability, features: readonly Feature[] = []): RouteExplanation {
  const needs = features.map((feature) => ({ feature, param: feature }));
  const requested = scope.model(modelId);
  const planned = planPool(scope, requested, capability, needs, undefined);
  const steps = planned.steps.map(({ model, blocked }) => {
    const limit = rateLimit(model);
    return {
      model_id: model.id,
      backend_type: model.backend_type,
      upstream: upstreamOf(model),
      status: model.status,
      usable: blocked === undefined,
      reason: blocked ? describeBlocked(blocked) : null,
      rate_limit_per_minute: limit ?? null,
      rate_budget_left: limit === undefined ? null : tokensLeft(rateKey(scope, model), limit),
      // As the registry shows it: a model in `error` has its breaker open (./breaker.ts); reading the object's
      // cooldown would cost explain_route a storage round trip.
      breaker: model.status === "error" ? ("open" as const) : ("closed" as const),
    };
  });
  const would_answer = steps.find((s) => s.usable)?.model_id ?? null;
  const balance = requested.load_balance;
  if (!balance) return { model_id: modelId, capability, features: [...features], would_answer, steps };
  const targets = balance.targets.map((t) => {
    const step = planned.steps.find((s) => s.model.id === t.model_id);
    return {
      model_id: t.model_id,
      weight: t.weight ?? 1,
      status: step?.model.status ?? "error",
      breaker: step?.model.status === "error" ? ("open" as const) : ("closed" as const),
      usable: step !== undefined && !step.blocked,
      avg_first_token_ms: averageFirstToken(scope, t.model_id) ?? null,
    };
  });
  const next = targets.some((t) => t.usable) ? would_answer : null;
  return {
    model_id: modelId,
    capability,
    features: [...features],
    would_answer,
    load_balance: { strategy: balance.strategy, sticky: balance.sticky ?? false, next, why: planned.why ?? "", targets },
    steps,
  };
}
