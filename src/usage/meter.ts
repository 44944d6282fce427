/**
 * The Worker's side of counting and budgets, for one call:
 * - `openMeter` admits the call's worst case when a budget applies to it (one
 *   round trip to the tenant's object, before anything is sent upstream);
 *   without a budget it costs nothing;
 * - the meter then records the call once, when it ends (answered, broken
 *   mid-stream, failed or cancelled), into this isolate's batcher, off the
 *   response path (`waitUntil`). A call that holds a reservation is written at
 *   once, so what it did not use is released quickly.
 */
import { commonConfig } from "../config/common";
import { GatewayError } from "../errors";
import type { ModelRecord } from "../models/schema";
import type { CallResult, InferenceCall } from "../inference/call";
import type { TenantScope } from "../tenants/scope";
import { type Actor, TenantClient } from "../tenants/client";
import { traceUsage } from "../telemetry/call-trace";
import { Batcher } from "./batcher";
import type { Remaining } from "./budget";
import { type CacheTokens, costNano, type Demand, estimateTokens, toUsd, worstCaseNano } from "./cost";
import type { Reservation, UsageRecord } from "./record";

/** How long a record waits in this isolate for others of its tenant before the batch is written. */
export const FLUSH_DELAY_MS = 1000;
/** A batch this large is written at once. */
export const MAX_BATCH = 100;

/**
 * Where each batch goes: the tenant incarnation its records came from. A
 * client is made for each write (its stub belongs to the request that makes it).
 */
const targets = new Map<string, { env: Env; tenantId: string; actor: Actor }>();

const batcher = new Batcher<UsageRecord>({
  delayMs: FLUSH_DELAY_MS,
  maxRecords: MAX_BATCH,
  async send(target, batchId, records) {
    const to = targets.get(target);
    if (to) await new TenantClient(to.env, to.tenantId, to.actor).recordUsage(batchId, records, Date.now());
  },
});

/** Write what this isolate still holds for a tenant, so a report read next sees it. */
export function flushUsage(tenantId: string): Promise<void> {
  return batcher.flush((target) => target.startsWith(`${tenantId}/`));
}

export interface Meter {
  /** A budget applies to this call: its worst case is held, and `max_tokens` must reach the upstream. */
  readonly bounded: boolean;
  /**
   * An attempt that failed but may have cost something upstream (one that timed
   * out): charged to the call with its model's price, whatever the call's end.
   */
  charge(modelId: string, tokens: Demand): void;
  /**
   * Under a budget, admit and hold one more attempt's worst case (a rescue of a
   * broken stream, src/inference/run.ts) on `modelId`, settled with the call;
   * false when it does not fit, and the attempt must not be made.
   */
  widen(modelId: string, tokens: Demand): Promise<boolean>;
  answered(result: CallResult): void;
  /** `reached`: characters of streamed text that reached the caller before the failure (src/inference/stream.ts). */
  failed(reached: number): void;
}

/**
 * Request fields that multiply what one call costs beyond what its tokens say
 * (several candidates, a dearer tier, searches billed per call). A budget
 * cannot bound them, so they are refused while one applies.
 */
const COST_MULTIPLIERS: Record<string, (value: unknown) => boolean> = {
  best_of: (v) => typeof v !== "number" || v > 1,
  n: (v) => typeof v !== "number" || v > 1,
  service_tier: (v) => !["auto", "default", "flex", null].includes(v as string | null),
  web_search_options: () => true,
  modalities: (v) => !Array.isArray(v) || v.some((m) => m !== "text"),
  audio: () => true,
};

function refuseCostMultipliers(call: InferenceCall): void {
  const extra = "request" in call.input && "extra" in call.input.request ? call.input.request.extra : undefined;
  for (const [field, value] of Object.entries(extra ?? {})) {
    if (COST_MULTIPLIERS[field]?.(value)) {
      throw new GatewayError(
        "invalid_request",
        `${field}: multiplies what a call costs in a way a budget cannot bound, so it is not accepted while a budget applies to this key or tenant; leave it out.`,
      );
    }
  }
}

/** What the /v1 routes say in `x-gateway-budget-remaining`, per request. */
const remaining = new WeakMap<TenantScope, () => string>();

export function budgetRemainingHeader(scope: TenantScope): string | undefined {
  return remaining.get(scope)?.();
}

/**
 * Open the meter of one call. Throws `budget_exceeded` when the worst case does
 * not fit a budget (nothing is counted, nothing is sent upstream).
 */
export async function openMeter(call: InferenceCall): Promise<Meter> {
  const { scope, model: requested, demand } = call;
  const budgets = scope.snapshot.budgets;
  let held: Reservation | undefined;
  let left: Remaining | undefined;
  /** The call's reservation id; what `widen` adds is held as `<id>:<n>`, and all are settled together. */
  const reservationId = crypto.randomUUID();
  let widened = 0;
  let heldMore = false;
  const bounded = Boolean(budgets && (budgets.tenant || budgets.keys[scope.key.id]));
  if (bounded) {
    refuseCostMultipliers(call);
    const onRoute = [...(requested.load_balance?.targets.map((t) => t.model_id) ?? []), ...requested.fallbacks];
    const route = [requested, ...onRoute.flatMap((id) => scope.snapshot.models.filter((m) => m.id === id))];
    const ask: Reservation = {
      id: reservationId,
      key_id: scope.key.id,
      model_id: requested.id,
      tokens: demand.prompt_tokens + demand.completion_tokens,
      // The dearest model on the route: a pool target or a fallback may answer.
      cost_nano: Math.max(...route.map((m) => worstCaseNano(pricingOf(m), demand.prompt_tokens, demand.completion_tokens))),
    };
    const now = Date.now();
    const verdict = await scope.tenant.reserveUsage(ask, now);
    if (!verdict.ok) {
      throw new GatewayError("budget_exceeded", verdict.refusal.message, {
        retryAfter: Math.max(1, Math.ceil((verdict.refusal.resets_at - now) / 1000)),
      });
    }
    if (verdict.held) held = ask;
    left = verdict.left;
  }

  let spent: { tokens: number; cost_nano: number } | undefined;
  // Until the call is counted and its record written (or taken by a request that writes it), the request stays
  // alive even if its client went away (the runtime would cancel it): one `waitUntil` per call.
  let counted!: (written: Promise<void>) => void;
  scope.background(new Promise<void>((resolve) => (counted = resolve)));
  if (left) {
    const before = left;
    remaining.set(scope, () => {
      const use = spent ?? held ?? { tokens: 0, cost_nano: 0 };
      const parts = [
        ...(before.tokens === null ? [] : [`tokens=${Math.max(0, before.tokens - use.tokens)}`]),
        ...(before.cost_nano === null ? [] : [`cost_usd=${toUsd(Math.max(0, before.cost_nano - use.cost_nano))}`]),
      ];
      return parts.join(", ");
    });
  }

  const priceOf = (modelId: string, prompt: number, completion: number, details: CacheTokens = NO_DETAILS) => {
    const model = scope.snapshot.models.find((m) => m.id === modelId);
    return costNano(model && pricingOf(model), prompt, completion, details);
  };
  // Failed attempts that cost something (each priced by its own model): part of the call's one record.
  const charged = { prompt: 0, completion: 0, cost_nano: 0, attempts: 0 };
  const record = (modelId: string, ok: boolean, prompt: number, completion: number, estimated: boolean, details = NO_DETAILS) => {
    if (spent) return; // counted once
    const cost = priceOf(modelId, prompt, completion, details) + charged.cost_nano;
    spent = { tokens: prompt + completion + charged.prompt + charged.completion, cost_nano: cost };
    const entry: UsageRecord = {
      at: Date.now(),
      key_id: scope.key.id,
      model_id: modelId,
      ok,
      prompt_tokens: prompt + charged.prompt,
      completion_tokens: completion + charged.completion,
      ...details,
      estimated: estimated || charged.attempts > 0,
      cost_nano: cost,
      ...((held || heldMore) && { reservation: reservationId }),
    };
    const target = `${scope.tenantId}/${scope.incarnation}`;
    targets.set(target, { env: scope.env, tenantId: scope.tenantId, actor: scope.tenant.actor });
    counted(batcher.add(target, entry, held !== undefined || heldMore));
    traceUsage(entry.prompt_tokens, entry.completion_tokens, cost, entry.estimated);
  };

  return {
    bounded,
    charge(modelId, tokens) {
      charged.prompt += tokens.prompt_tokens;
      charged.completion += tokens.completion_tokens;
      charged.cost_nano += priceOf(modelId, tokens.prompt_tokens, tokens.completion_tokens);
      charged.attempts += 1;
    },
    async widen(modelId, tokens) {
      if (!bounded) return true;
      const model = scope.snapshot.models.find((m) => m.id === modelId);
      const ask: Reservation = {
        id: `${reservationId}:${++widened}`,
        key_id: scope.key.id,
        model_id: modelId,
        tokens: tokens.prompt_tokens + tokens.completion_tokens,
        cost_nano: worstCaseNano(model && pricingOf(model), tokens.prompt_tokens, tokens.completion_tokens),
      };
      // An object that cannot answer now admits nothing more: the attempt is not made (the call stands as it is).
      const verdict = await scope.tenant.reserveUsage(ask, Date.now()).catch((error: unknown) => {
        console.error("budget: could not hold a rescue's worst case", error instanceof Error ? error.message : error);
        return undefined;
      });
      heldMore ||= verdict?.ok === true && verdict.held;
      return verdict?.ok === true;
    },
    answered(result) {
      const generated = result.capability === "chat" || result.capability === "completion" ? result : null;
      const reportedPrompt = count(result.usage?.prompt_tokens);
      const reportedCompletion = generated && count(generated.usage.completion_tokens);
      const prompt = reportedPrompt ?? demand.prompt_tokens;
      // Embeddings and classifications generate no tokens.
      const completion = generated ? (reportedCompletion ?? estimateTokens(generated.text)) : 0;
      const estimated = reportedPrompt === null || (generated !== null && reportedCompletion === null);
      // Cache and reasoning counts are parts of the prompt and completion: only kept when those are the upstream's own.
      const details: Details = {
        cached_tokens: (reportedPrompt !== null && count(generated?.usage.cached_tokens)) || 0,
        cache_write_tokens: (reportedPrompt !== null && count(generated?.usage.cache_write_tokens)) || 0,
        reasoning_tokens: (reportedCompletion !== null && count(generated?.usage.reasoning_tokens)) || 0,
      };
      record(result.model_id, generated?.error === undefined, prompt, completion, estimated, details);
    },
    failed(reached) {
      // Text that reached the caller before the failure was generated: count it (estimated), with the prompt that produced it.
      if (reached > 0) record(requested.id, false, demand.prompt_tokens, Math.ceil(reached / 4), true);
      else record(requested.id, false, 0, 0, false);
    },
  };
}

type Details = CacheTokens & { reasoning_tokens: number };
const NO_DETAILS: Details = { cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };

function pricingOf(model: ModelRecord) {
  return commonConfig(model.config).pricing;
}

/** An upstream's own count, when it gave a usable one (null: it did not). */
function count(value: number | null | undefined): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : null;
}
