/**
 * Budgets as pure functions over an injected clock: what a budget is, its
 * UTC period (a day from 00:00, a month from the 1st), and whether a request's
 * worst case fits what is left. The tenant's Durable Object runs `admit` with
 * its own counters, one request at a time, so concurrent requests cannot
 * overshoot: every admitted worst case is held until the call is settled.
 */
import { z } from "zod";
import { toNano, toUsd } from "./cost";

export const BudgetPeriod = z.enum(["day", "month"]);
export type BudgetPeriod = z.infer<typeof BudgetPeriod>;

/** A budget as callers write and read it. */
export const Budget = z
  .strictObject({
    period: BudgetPeriod,
    tokens: z.number().int().positive().max(1e15).optional().describe("Most prompt + completion tokens per period"),
    cost_usd: z.number().positive().max(1e9).optional().describe("Most spend per period, in USD (models with pricing)"),
  })
  .refine((b) => b.tokens !== undefined || b.cost_usd !== undefined, "a budget needs tokens, cost_usd or both");
export type Budget = z.infer<typeof Budget>;

/** The budgets of a tenant, as the Worker's cached snapshot holds them: does one apply to this call at all? */
export interface BudgetSet {
  tenant: Budget | null;
  keys: Record<string, Budget>;
}

export type BudgetScope = { kind: "tenant" } | { kind: "key"; key_id: string };

/** Tokens and nano-dollars. */
export interface Amount {
  tokens: number;
  cost_nano: number;
}

export const ZERO: Amount = { tokens: 0, cost_nano: 0 };

/** One budget with what its period has used and what calls in flight hold. */
export interface BudgetState {
  scope: BudgetScope;
  budget: Budget;
  used: Amount;
  in_flight: Amount;
}

const DAY_MS = 86_400_000;

export function periodStart(period: BudgetPeriod, now: number): number {
  const d = new Date(now);
  return period === "day" ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** When the period holding `now` ends and the budget starts afresh. */
export function periodEnd(period: BudgetPeriod, now: number): number {
  const d = new Date(now);
  return period === "day" ? periodStart("day", now) + DAY_MS : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** What is left of each limit (null: that limit is not set); may be negative after a call used more than its estimate. */
export function left(state: BudgetState): { tokens: number | null; cost_nano: number | null } {
  const { budget, used, in_flight } = state;
  return {
    tokens: budget.tokens === undefined ? null : budget.tokens - used.tokens - in_flight.tokens,
    cost_nano: budget.cost_usd === undefined ? null : toNano(budget.cost_usd) - used.cost_nano - in_flight.cost_nano,
  };
}

export interface Refusal {
  scope: BudgetScope;
  budget: Budget;
  limit: "tokens" | "cost_usd";
  resets_at: number;
  message: string;
}

export type Verdict = { ok: true; left: Remaining } | { ok: false; refusal: Refusal };

/** The tightest of what is left across the budgets that apply, before this request. */
export interface Remaining {
  tokens: number | null;
  cost_nano: number | null;
}

/** Whether `ask` fits every budget that applies (and what is left if it does). */
export function budgetVerdict(states: readonly BudgetState[], ask: Amount, now: number): Verdict {
  const remaining: Remaining = { tokens: null, cost_nano: null };
  for (const state of states) {
    const rest = left(state);
    const resets = periodEnd(state.budget.period, now);
    if (rest.tokens !== null && ask.tokens > rest.tokens) return { ok: false, refusal: refusal(state, "tokens", ask, resets) };
    // Unpriced calls cost nothing: a cost budget refuses them only once it is spent.
    if (rest.cost_nano !== null && (ask.cost_nano > rest.cost_nano || rest.cost_nano <= 0)) {
      return { ok: false, refusal: refusal(state, "cost_usd", ask, resets) };
    }
    if (rest.tokens !== null) remaining.tokens = Math.min(remaining.tokens ?? Infinity, rest.tokens);
    if (rest.cost_nano !== null) remaining.cost_nano = Math.min(remaining.cost_nano ?? Infinity, rest.cost_nano);
  }
  return { ok: true, left: remaining };
}

export function describeScope(scope: BudgetScope): string {
  return scope.kind === "tenant" ? "the tenant's" : `key ${scope.key_id}'s`;
}

function refusal(state: BudgetState, limit: "tokens" | "cost_usd", ask: Amount, resetsAt: number): Refusal {
  const { budget, used, in_flight } = state;
  const per = budget.period === "day" ? "per day" : "per month";
  const money = (nano: number) => `$${toUsd(nano).toFixed(6).replace(/0+$/, "").replace(/\.$/, "")}`;
  const figures =
    limit === "tokens"
      ? `${budget.tokens} tokens ${per}: used ${used.tokens}, held by calls in flight ${in_flight.tokens}, this request may need ${ask.tokens}`
      : `$${budget.cost_usd} ${per}: used ${money(used.cost_nano)}, held by calls in flight ${money(in_flight.cost_nano)}, this request may cost ${money(ask.cost_nano)}`;
  return {
    scope: state.scope,
    budget,
    limit,
    resets_at: resetsAt,
    message: `Budget exceeded: ${describeScope(state.scope)} ${limit === "tokens" ? "token" : "cost"} budget of ${figures}. It resets at ${new Date(resetsAt).toISOString()}.`,
  };
}
