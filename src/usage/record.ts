/**
 * What is counted per call, and what a usage report looks like: the shapes
 * shared by the Worker (which records and reads), the tenant's Durable Object
 * (which stores and aggregates) and the MCP tool's output schema.
 */
import { z } from "zod";
import { Budget, BudgetPeriod } from "./budget";

/** One call, counted once when it ends: against its tenant, its key and the model that answered. */
export interface UsageRecord {
  /** When the call ended (ms since the epoch, UTC). */
  at: number;
  key_id: string;
  model_id: string;
  ok: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  // The parts below are optional: a batch from a Worker version that did not count them still applies.
  /** Of prompt_tokens: read from the upstream's prompt cache (0 when it reported none). */
  cached_tokens?: number;
  /** Of prompt_tokens: written to the upstream's prompt cache. */
  cache_write_tokens?: number;
  /** Of completion_tokens: spent on reasoning. */
  reasoning_tokens?: number;
  /** Some of the tokens are the gateway's estimate: the upstream reported none (or not all). */
  estimated: boolean;
  cost_nano: number;
  /** The budget reservation this call settles (its held worst case is released). */
  reservation?: string;
}

/** A call admitted under a budget: its worst case, held until the call is settled. */
export interface Reservation {
  id: string;
  key_id: string;
  model_id: string;
  tokens: number;
  cost_nano: number;
}

export const GroupBy = z.enum(["model", "key", "day"]);
export type GroupBy = z.infer<typeof GroupBy>;

/** A date (YYYY-MM-DD, 00:00 UTC) or an ISO 8601 time. */
const Instant = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}/.test(s) && !Number.isNaN(Date.parse(s)), "must be a date (YYYY-MM-DD) or an ISO 8601 time");

export const UsageQuery = z.strictObject({
  from: Instant.optional().describe("Start (inclusive), a date or ISO time; default 30 days ago"),
  to: Instant.optional().describe("End (exclusive), a date or ISO time; default now"),
  group_by: GroupBy.optional().describe("model (default), key or day"),
});
export type UsageQuery = z.infer<typeof UsageQuery>;

export const UsageTotals = z.object({
  requests: z.number(),
  errors: z.number(),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_tokens: z.number(),
  cached_tokens: z.number().describe("Of prompt_tokens: read from the upstreams' prompt caches (priced at cache_read_per_mtok)"),
  cache_write_tokens: z.number().describe("Of prompt_tokens: written to the upstreams' prompt caches (priced at cache_write_per_mtok)"),
  reasoning_tokens: z.number().describe("Of completion_tokens: spent on reasoning"),
  estimated_requests: z.number().describe("Requests whose tokens were (partly) estimated: the upstream reported none"),
  cost_usd: z.number().describe("From the models' pricing; 0 for models without pricing"),
});
export type UsageTotals = z.infer<typeof UsageTotals>;

export const UsageGroup = UsageTotals.extend({
  model_id: z.string().optional(),
  key_id: z.string().optional(),
  day: z.string().optional(),
});
export type UsageGroup = z.infer<typeof UsageGroup>;

export const BudgetStatus = z.object({
  scope: z.enum(["tenant", "key"]),
  key_id: z.string().nullable(),
  period: BudgetPeriod,
  budget: Budget,
  used: z.object({ tokens: z.number(), cost_usd: z.number() }).describe("Settled use in the current period"),
  in_flight: z.object({ tokens: z.number(), cost_usd: z.number() }).describe("Worst cases held by calls not yet settled"),
  remaining: z.object({ tokens: z.number().nullable(), cost_usd: z.number().nullable() }),
  resets_at: z.string(),
});
export type BudgetStatus = z.infer<typeof BudgetStatus>;

export const UsageReport = z.object({
  from: z.string(),
  to: z.string(),
  granularity: z.enum(["hour", "day"]).describe("hour while `from` is within the hourly retention (7 days), else day"),
  group_by: GroupBy,
  key_id: z.string().nullable().describe("Set when the report covers one key only (a user key sees its own use)"),
  totals: UsageTotals,
  groups: z.array(UsageGroup),
  budgets: z.array(BudgetStatus),
});
export type UsageReport = z.infer<typeof UsageReport>;

/** Requests and tokens per model over time, for the status page's charts. */
export interface UsageSeries {
  /** The last 24 hours, oldest first, each "YYYY-MM-DDTHH". */
  hours: string[];
  /** The last 30 days, oldest first, each "YYYY-MM-DD". */
  days: string[];
  models: Record<string, { hourly: { requests: number; tokens: number }[]; daily: { requests: number; tokens: number }[] }>;
}
