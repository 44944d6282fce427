/**
 * The usage part of a tenant's object: recording batches of finished calls
 * (once per batch id) per hour and per day, and the aggregates read back for
 * reports and the status page. Recording a batch also charges it to the
 * budgets and settles its reservations (budget-store.ts), in the same
 * transaction. Plain functions over the object's SQL storage, like
 * health-store.ts. Times are passed in (ms), so tests can move the clock.
 *
 * Retention: hourly rows for 8 days, daily rows for 400 days, applied batch
 * ids for a day; pruned as batches are recorded.
 */
import { z } from "zod";
import { toUsd } from "../usage/cost";
import type { GroupBy, UsageGroup, UsageRecord, UsageReport, UsageSeries } from "../usage/record";
import { chargeBudgets } from "./budget-store";
import { all } from "./rows";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** A report whose `from` is this recent reads hourly rows; older ones read daily rows. */
export const HOURLY_REPORT_MS = 7 * DAY_MS;
const HOURLY_KEPT_MS = 8 * DAY_MS;
const DAILY_KEPT_MS = 400 * DAY_MS;
const BATCHES_KEPT_MS = DAY_MS;

export const isoHour = (ms: number) => new Date(ms).toISOString().slice(0, 13);
export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Sums for one row of a usage table. */
interface Totals {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  estimated: number;
  cost_nano: number;
}

const ZERO: Totals = {
  requests: 0,
  errors: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  cached_tokens: 0,
  cache_write_tokens: 0,
  reasoning_tokens: 0,
  estimated: 0,
  cost_nano: 0,
};

/** Add `values` to the totals kept under `key` (created at zero). */
function addTo<V extends object>(rows: Map<string, V & Totals>, key: string, values: V, record: UsageRecord): void {
  const row = rows.get(key) ?? { ...values, ...ZERO };
  row.requests += 1;
  row.errors += record.ok ? 0 : 1;
  row.prompt_tokens += record.prompt_tokens;
  row.completion_tokens += record.completion_tokens;
  row.cached_tokens += record.cached_tokens ?? 0;
  row.cache_write_tokens += record.cache_write_tokens ?? 0;
  row.reasoning_tokens += record.reasoning_tokens ?? 0;
  row.estimated += record.estimated ? 1 : 0;
  row.cost_nano += record.cost_nano;
  rows.set(key, row);
}

/**
 * Apply one batch of records, once per batch id; false when the batch was
 * applied before (a retried write). The batch is summed per row first (a busy
 * isolate's batch is mostly the same key, model and hour), so the writes grow
 * with the rows touched, not with the calls counted. The same transaction
 * charges the budgets and settles the calls' reservations (budget-store.ts).
 */
export function recordBatch(storage: DurableObjectStorage, batchId: string, records: readonly UsageRecord[], now: number): boolean {
  const sql = storage.sql;
  const buckets = new Map<string, { table: "usage_hourly" | "usage_daily"; bucket: string; key_id: string; model_id: string } & Totals>();
  for (const r of records) {
    for (const [table, bucket] of [
      ["usage_hourly", isoHour(r.at)],
      ["usage_daily", isoDay(r.at)],
    ] as const) {
      addTo(buckets, JSON.stringify([table, bucket, r.key_id, r.model_id]), { table, bucket, key_id: r.key_id, model_id: r.model_id }, r);
    }
  }
  return storage.transactionSync(() => {
    if (sql.exec("SELECT 1 FROM usage_batches WHERE id = ?", batchId).toArray().length > 0) return false;
    sql.exec("INSERT INTO usage_batches (id, at) VALUES (?, ?)", batchId, now);
    for (const b of buckets.values()) {
      const column = b.table === "usage_hourly" ? "hour" : "day";
      sql.exec(
        `INSERT INTO ${b.table} (${column}, key_id, model_id, requests, errors, prompt_tokens, completion_tokens,
           cached_tokens, cache_write_tokens, reasoning_tokens, estimated, cost_nano)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors,
           prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens,
           cached_tokens = cached_tokens + excluded.cached_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
           reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
           estimated = estimated + excluded.estimated, cost_nano = cost_nano + excluded.cost_nano`,
        b.bucket,
        b.key_id,
        b.model_id,
        b.requests,
        b.errors,
        b.prompt_tokens,
        b.completion_tokens,
        b.cached_tokens,
        b.cache_write_tokens,
        b.reasoning_tokens,
        b.estimated,
        b.cost_nano,
      );
    }
    chargeBudgets(sql, records, now);
    sql.exec("DELETE FROM usage_hourly WHERE hour < ?", isoHour(now - HOURLY_KEPT_MS));
    sql.exec("DELETE FROM usage_daily WHERE day < ?", isoDay(now - DAILY_KEPT_MS));
    sql.exec("DELETE FROM usage_batches WHERE at < ?", now - BATCHES_KEPT_MS);
    return true;
  });
}

const Abandoned = z.object({ id: z.string(), key_id: z.string(), model_id: z.string(), tokens: z.number(), cost_nano: z.number(), at: z.number() });

/**
 * Settle the reservations whose calls never reported (their isolate died
 * mid-call) at their worst case: each is counted as one failed request with
 * the tokens and cost it held (as completion tokens, estimated), against its
 * key, its model and the budgets. Dropping them would give those calls away
 * for free; the upstream may well have answered them.
 */
export function settleAbandoned(storage: DurableObjectStorage, now: number): number {
  const expired = all(storage.sql.exec("SELECT id, key_id, model_id, tokens, cost_nano, at FROM reservations WHERE expires_at < ?", now), Abandoned);
  for (const r of expired) {
    recordBatch(
      storage,
      `abandoned:${r.id}`,
      [
        {
          at: r.at,
          key_id: r.key_id,
          model_id: r.model_id,
          ok: false,
          prompt_tokens: 0,
          completion_tokens: r.tokens,
          estimated: true,
          cost_nano: r.cost_nano,
          reservation: r.id,
        },
      ],
      now,
    );
  }
  return expired.length;
}

const TotalsRow = z.object({
  grp: z.string(),
  requests: z.number(),
  errors: z.number(),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  cached_tokens: z.number(),
  cache_write_tokens: z.number(),
  reasoning_tokens: z.number(),
  estimated: z.number(),
  cost_nano: z.number(),
});

const SUMS = `sum(requests) AS requests, sum(errors) AS errors, sum(prompt_tokens) AS prompt_tokens,
  sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens, sum(cache_write_tokens) AS cache_write_tokens,
  sum(reasoning_tokens) AS reasoning_tokens, sum(estimated) AS estimated, sum(cost_nano) AS cost_nano`;

/** Aggregates over [from, to), grouped; hourly rows when `from` is recent enough, daily rows otherwise. */
export function usageReport(
  sql: SqlStorage,
  query: { from: number; to: number; group_by: GroupBy; key_id: string | null },
  now: number,
): Omit<UsageReport, "budgets"> {
  const hourly = query.from >= now - HOURLY_REPORT_MS;
  const [table, column, floor] = hourly ? (["usage_hourly", "hour", isoHour] as const) : (["usage_daily", "day", isoDay] as const);
  const from = floor(query.from);
  const last = floor(query.to - 1);
  const grp = query.group_by === "model" ? "model_id" : query.group_by === "key" ? "key_id" : `substr(${column}, 1, 10)`;
  const keyFilter = query.key_id === null ? "" : "AND key_id = ?";
  const rows = all(
    sql.exec(
      `SELECT ${grp} AS grp, ${SUMS} FROM ${table} WHERE ${column} >= ? AND ${column} <= ? ${keyFilter} GROUP BY grp ORDER BY grp`,
      from,
      last,
      ...(query.key_id === null ? [] : [query.key_id]),
    ),
    TotalsRow,
  );
  const field = query.group_by === "model" ? "model_id" : query.group_by === "key" ? "key_id" : "day";
  const groups: UsageGroup[] = rows.map((r) => ({ [field]: r.grp, ...totals([r]) }));
  return {
    from: new Date(Date.parse(hourly ? `${from}:00:00Z` : `${from}T00:00:00Z`)).toISOString(),
    to: new Date(query.to).toISOString(),
    granularity: hourly ? "hour" : "day",
    group_by: query.group_by,
    key_id: query.key_id,
    totals: totals(rows),
    groups,
  };
}

function totals(rows: z.infer<typeof TotalsRow>[]) {
  const sum = (f: (r: z.infer<typeof TotalsRow>) => number) => rows.reduce((n, r) => n + f(r), 0);
  const prompt = sum((r) => r.prompt_tokens);
  const completion = sum((r) => r.completion_tokens);
  return {
    requests: sum((r) => r.requests),
    errors: sum((r) => r.errors),
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    cached_tokens: sum((r) => r.cached_tokens),
    cache_write_tokens: sum((r) => r.cache_write_tokens),
    reasoning_tokens: sum((r) => r.reasoning_tokens),
    estimated_requests: sum((r) => r.estimated),
    cost_usd: toUsd(sum((r) => r.cost_nano)),
  };
}

const SeriesRow = z.object({ model_id: z.string(), bucket: z.string(), requests: z.number(), tokens: z.number() });

/** Per model: requests and tokens in each of the last 24 hours and the last 30 days (status page). */
export function usageSeries(sql: SqlStorage, keyId: string | null, now: number): UsageSeries {
  const hours = Array.from({ length: 24 }, (_, i) => isoHour(now - (23 - i) * HOUR_MS));
  const days = Array.from({ length: 30 }, (_, i) => isoDay(now - (29 - i) * DAY_MS));
  const read = (table: string, column: string, since: string) =>
    all(
      sql.exec(
        `SELECT model_id, ${column} AS bucket, sum(requests) AS requests, sum(prompt_tokens + completion_tokens) AS tokens
         FROM ${table} WHERE ${column} >= ? ${keyId === null ? "" : "AND key_id = ?"} GROUP BY model_id, ${column}`,
        since,
        ...(keyId === null ? [] : [keyId]),
      ),
      SeriesRow,
    );
  const models: UsageSeries["models"] = {};
  const entry = (id: string) =>
    (models[id] ??= {
      hourly: hours.map(() => ({ requests: 0, tokens: 0 })),
      daily: days.map(() => ({ requests: 0, tokens: 0 })),
    });
  for (const r of read("usage_hourly", "hour", hours[0]!)) {
    const i = hours.indexOf(r.bucket);
    if (i >= 0) entry(r.model_id).hourly[i] = { requests: r.requests, tokens: r.tokens };
  }
  for (const r of read("usage_daily", "day", days[0]!)) {
    const i = days.indexOf(r.bucket);
    if (i >= 0) entry(r.model_id).daily[i] = { requests: r.requests, tokens: r.tokens };
  }
  return { hours, days, models };
}
