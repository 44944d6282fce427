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
import type { CallOptions } from "../backends/types";
import { commonConfig } from "../config/common";
import { GatewayError } from "../errors";
import type { ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import type { TenantClient } from "../tenants/client";
import { Batcher } from "./batcher";
import type { Remaining } from "./budget";
import { costNano, type Demand, estimateTokens, toUsd } from "./cost";
import type { Reservation, UsageRecord } from "./record";

/** How long a record waits in this isolate for others of its tenant before the batch is written. */
export const FLUSH_DELAY_MS = 1000;
/** A batch this large is written at once. */
export const MAX_BATCH = 100;

/** Where each batch goes: the client of the tenant incarnation its records came from. */
const targets = new Map<string, TenantClient>();

const batcher = new Batcher<UsageRecord>({
  delayMs: FLUSH_DELAY_MS,
  maxRecords: MAX_BATCH,
  async send(target, batchId, records) {
    await targets.get(target)?.recordUsage(batchId, records, Date.now());
  },
});

/** Write what this isolate still holds for a tenant, so a report read next sees it. */
export function flushUsage(tenantId: string): Promise<void> {
  return batcher.flush((target) => target.startsWith(`${tenantId}/`));
}

export interface Meter {
  /** The call options with streamed text counted (what reached the caller, if the call then fails). */
  options(options: CallOptions | undefined): CallOptions | undefined;
  answered(result: object & { model_id: string }): void;
  failed(): void;
}

/** What the /v1 routes say in `x-gateway-budget-remaining`, per request. */
const remaining = new WeakMap<TenantScope, () => string>();

export function budgetRemainingHeader(scope: TenantScope): string | undefined {
  return remaining.get(scope)?.();
}

/**
 * Open the meter of one call for `modelId`. Throws `not_found` for an unknown
 * model (nothing is counted), and `budget_exceeded` when the worst case does not
 * fit a budget (nothing is counted, nothing is sent upstream).
 */
export async function openMeter(scope: TenantScope, modelId: string, demand: Demand): Promise<Meter> {
  const requested = scope.model(modelId);
  const budgets = scope.snapshot.budgets;
  let held: Reservation | undefined;
  let left: Remaining | undefined;
  if (budgets && (budgets.tenant || budgets.keys[scope.key.id])) {
    const route = [requested, ...requested.fallbacks.flatMap((id) => scope.snapshot.models.filter((m) => m.id === id))];
    const ask: Reservation = {
      id: crypto.randomUUID(),
      key_id: scope.key.id,
      model_id: requested.id,
      tokens: demand.prompt_tokens + demand.completion_tokens,
      // The dearest model on the route: a fallback may answer.
      cost_nano: Math.max(...route.map((m) => costNano(pricingOf(m), demand.prompt_tokens, demand.completion_tokens))),
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

  let streamedChars = 0;
  let spent: { tokens: number; cost_nano: number } | undefined;
  // Until the call is counted, the request stays alive even if its client went away (the runtime would cancel it).
  let counted!: () => void;
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

  const record = (modelId: string, ok: boolean, prompt: number, completion: number, estimated: boolean) => {
    if (spent) return; // counted once
    const model = scope.snapshot.models.find((m) => m.id === modelId);
    const cost = costNano(model && pricingOf(model), prompt, completion);
    spent = { tokens: prompt + completion, cost_nano: cost };
    const entry: UsageRecord = {
      at: Date.now(),
      key_id: scope.key.id,
      model_id: modelId,
      ok,
      prompt_tokens: prompt,
      completion_tokens: completion,
      estimated,
      cost_nano: cost,
      ...(held && { reservation: held.id }),
    };
    const target = `${scope.tenantId}/${scope.incarnation}`;
    targets.set(target, scope.tenant);
    scope.background(batcher.add(target, entry, held !== undefined));
    counted();
  };

  return {
    options(options) {
      const { onText, onToolCall } = options ?? {};
      if (!options || (!onText && !onToolCall)) return options;
      return {
        ...options,
        ...(onText && {
          onText: (delta: string) => {
            streamedChars += delta.length;
            return onText(delta);
          },
        }),
        ...(onToolCall && {
          onToolCall: (delta: Parameters<typeof onToolCall>[0]) => {
            streamedChars += JSON.stringify(delta).length;
            return onToolCall(delta);
          },
        }),
      };
    },
    answered(result) {
      const reported = usageOf(result);
      const text = "text" in result && typeof result.text === "string" ? result.text : null;
      const prompt = reported.prompt_tokens ?? demand.prompt_tokens;
      // Embeddings and classifications generate no tokens.
      const completion = text === null ? 0 : (reported.completion_tokens ?? estimateTokens(text));
      const estimated = reported.prompt_tokens === null || (text !== null && reported.completion_tokens === null);
      const broken = "error" in result && typeof result.error === "string";
      record(result.model_id, !broken, prompt, completion, estimated);
    },
    failed() {
      // Text that reached the caller before the failure was generated: count it (estimated), with the prompt that produced it.
      if (streamedChars > 0) record(requested.id, false, demand.prompt_tokens, Math.ceil(streamedChars / 4), true);
      else record(requested.id, false, 0, 0, false);
    },
  };
}

function pricingOf(model: ModelRecord) {
  return commonConfig(model.config).pricing;
}

/** The upstream's own counts, as a backend reported them (null where it did not). */
function usageOf(result: object): { prompt_tokens: number | null; completion_tokens: number | null } {
  const usage = "usage" in result && typeof result.usage === "object" && result.usage !== null ? (result.usage as Record<string, unknown>) : {};
  const count = (value: unknown) => (typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : null);
  return { prompt_tokens: count(usage.prompt_tokens), completion_tokens: count(usage.completion_tokens) };
}
