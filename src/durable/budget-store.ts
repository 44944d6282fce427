/**
 * The budgets part of a tenant's object: the budgets themselves, each budget
 * period's spend (`usage_periods`, charged as batches of calls are recorded,
 * see usage-store.ts), and admitting calls against them, holding each one's
 * worst case (`reservations`) until it settles. Plain functions over the
 * object's SQL storage, like health-store.ts; the rules are the pure ones of
 * src/usage/budget.ts. Times are passed in (ms), so tests can move the clock.
 *
 * Retention: per-period spend for 62 days, pruned as batches are charged;
 * a reservation never settled for 3 hours, when it is charged at its worst case.
 */
import { z } from "zod";
import {
  type Amount,
  Budget,
  type BudgetSet,
  type BudgetState,
  budgetVerdict,
  left,
  periodEnd,
  periodStart,
  type Verdict,
  ZERO,
} from "../usage/budget";
import { toUsd } from "../usage/cost";
import type { Reservation, UsageRecord } from "../usage/record";
import { all, first } from "./rows";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const PERIODS_KEPT_MS = 62 * DAY_MS;
/** A reservation never settled (its isolate died mid-call) is settled at its worst case after this long (usage-store.ts `settleAbandoned`); longer than any call may run. */
export const RESERVATION_TTL_MS = 3 * HOUR_MS;

const TENANT = "tenant";
const keyScope = (keyId: string) => `key:${keyId}`;

/**
 * Charge a batch of recorded calls to the budget periods they fall in (the
 * tenant's and their key's, each day and month) and release the reservations
 * they settle. Part of `recordBatch`'s transaction, which applies a batch once;
 * the calls are summed per period first.
 */
export function chargeBudgets(sql: SqlStorage, records: readonly UsageRecord[], now: number): void {
  const periods = new Map<string, { scope: string; period: "day" | "month"; start: number; prompt: number; completion: number; cost_nano: number }>();
  for (const r of records) {
    for (const scope of [TENANT, keyScope(r.key_id)]) {
      for (const period of ["day", "month"] as const) {
        const start = periodStart(period, r.at);
        const key = JSON.stringify([scope, period, start]);
        const row = periods.get(key) ?? { scope, period, start, prompt: 0, completion: 0, cost_nano: 0 };
        row.prompt += r.prompt_tokens;
        row.completion += r.completion_tokens;
        row.cost_nano += r.cost_nano;
        periods.set(key, row);
      }
    }
  }
  for (const p of periods.values()) {
    sql.exec(
      `INSERT INTO usage_periods (scope, period, start, tokens, cost_nano) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET tokens = tokens + excluded.tokens, cost_nano = cost_nano + excluded.cost_nano`,
      p.scope,
      p.period,
      p.start,
      p.prompt + p.completion,
      p.cost_nano,
    );
  }
  // A call's reservation, and the ones it added for rescues (`<id>:<n>`, src/usage/meter.ts `widen`).
  for (const r of records) {
    if (r.reservation)
      sql.exec("DELETE FROM reservations WHERE id = ? OR (id >= ? AND id < ?)", r.reservation, `${r.reservation}:`, `${r.reservation};`);
  }
  sql.exec("DELETE FROM usage_periods WHERE start < ?", now - PERIODS_KEPT_MS);
}

const BudgetRow = z
  .object({ scope: z.string(), period: z.enum(["day", "month"]), tokens: z.number().nullable(), cost_usd: z.number().nullable() })
  .transform(({ scope, period, tokens, cost_usd }) => ({
    scope,
    budget: { period, ...(tokens !== null && { tokens }), ...(cost_usd !== null && { cost_usd }) } as Budget,
  }));
const AmountRow = z
  .object({ tokens: z.number().nullable(), cost_nano: z.number().nullable() })
  .transform((r) => ({ tokens: r.tokens ?? 0, cost_nano: r.cost_nano ?? 0 }));

export function setBudget(sql: SqlStorage, keyId: string | null, budget: Budget | null, at: string): void {
  const scope = keyId === null ? TENANT : keyScope(keyId);
  if (budget === null) {
    sql.exec("DELETE FROM budgets WHERE scope = ?", scope);
    return;
  }
  sql.exec(
    `INSERT INTO budgets (scope, period, tokens, cost_usd, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (scope) DO UPDATE SET period = excluded.period, tokens = excluded.tokens, cost_usd = excluded.cost_usd, updated_at = excluded.updated_at`,
    scope,
    budget.period,
    budget.tokens ?? null,
    budget.cost_usd ?? null,
    at,
  );
}

/** Every budget of the tenant, for the Worker's cached snapshot. */
export function budgetSet(sql: SqlStorage): BudgetSet {
  const set: BudgetSet = { tenant: null, keys: {} };
  for (const { scope, budget } of all(sql.exec("SELECT scope, period, tokens, cost_usd FROM budgets"), BudgetRow)) {
    if (scope === TENANT) set.tenant = budget;
    else set.keys[scope.slice("key:".length)] = budget;
  }
  return set;
}

/** The budgets that apply to a key's calls (the tenant's, the key's), with their period's use and what calls in flight hold. */
export function budgetStates(sql: SqlStorage, keyId: string, now: number): BudgetState[] {
  const rows = all(
    sql.exec("SELECT scope, period, tokens, cost_usd FROM budgets WHERE scope IN (?, ?) ORDER BY scope DESC", TENANT, keyScope(keyId)),
    BudgetRow,
  );
  return rows.map(({ scope, budget }) => stateOf(sql, scope, budget, now));
}

function stateOf(sql: SqlStorage, scope: string, budget: Budget, now: number): BudgetState {
  const used = first(
    sql.exec(
      "SELECT tokens, cost_nano FROM usage_periods WHERE scope = ? AND period = ? AND start = ?",
      scope,
      budget.period,
      periodStart(budget.period, now),
    ),
    AmountRow,
  );
  const keyId = scope === TENANT ? null : scope.slice("key:".length);
  const held =
    keyId === null
      ? sql.exec("SELECT sum(tokens) AS tokens, sum(cost_nano) AS cost_nano FROM reservations")
      : sql.exec("SELECT sum(tokens) AS tokens, sum(cost_nano) AS cost_nano FROM reservations WHERE key_id = ?", keyId);
  return {
    scope: keyId === null ? { kind: "tenant" } : { kind: "key", key_id: keyId },
    budget,
    used: used ?? ZERO,
    in_flight: first(held, AmountRow) ?? ZERO,
  };
}

/**
 * Admit a call's worst case against the budgets that apply now, and hold it
 * until the call is settled (`recordBatch` with its reservation id). Runs in
 * one synchronous transaction of the object: concurrent calls are admitted one
 * after the other, each seeing what the ones before hold.
 */
export function reserveUsage(storage: DurableObjectStorage, ask: Reservation, now: number): Verdict & { held: boolean } {
  const sql = storage.sql;
  return storage.transactionSync(() => {
    sql.exec("DELETE FROM reservations WHERE expires_at < ?", now);
    const states = budgetStates(sql, ask.key_id, now);
    if (states.length === 0) return { ok: true, left: { tokens: null, cost_nano: null }, held: false };
    const verdict = budgetVerdict(states, ask, now);
    if (!verdict.ok) return { ...verdict, held: false };
    sql.exec(
      "INSERT INTO reservations (id, key_id, model_id, tokens, cost_nano, at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ask.id,
      ask.key_id,
      ask.model_id,
      ask.tokens,
      ask.cost_nano,
      now,
      now + RESERVATION_TTL_MS,
    );
    return { ...verdict, held: true };
  });
}

/** Budgets with their use, for reports: all of them, or those that apply to one key. */
export function budgetStatuses(sql: SqlStorage, keyId: string | null, now: number) {
  const rows = all(sql.exec("SELECT scope, period, tokens, cost_usd FROM budgets ORDER BY scope DESC"), BudgetRow).filter(
    (r) => keyId === null || r.scope === TENANT || r.scope === keyScope(keyId),
  );
  return rows.map(({ scope, budget }) => {
    const state = stateOf(sql, scope, budget, now);
    const rest = left(state);
    return {
      scope: state.scope.kind,
      key_id: state.scope.kind === "key" ? state.scope.key_id : null,
      period: budget.period,
      budget,
      used: money(state.used),
      in_flight: money(state.in_flight),
      remaining: { tokens: rest.tokens, cost_usd: rest.cost_nano === null ? null : toUsd(rest.cost_nano) },
      resets_at: new Date(periodEnd(budget.period, now)).toISOString(),
    };
  });
}

function money(amount: Amount) {
  return { tokens: amount.tokens, cost_usd: toUsd(amount.cost_nano) };
}
