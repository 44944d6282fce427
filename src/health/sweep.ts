/**
 * The cron sweep. Each run visits one slice of the tenant directory and asks
 * each tenant's Durable Object to check its models; the object arms an alarm
 * and answers at once, so the checks run in the objects' own invocations, in
 * parallel, and a tenant whose upstreams hang delays nobody but itself.
 *
 * Why slices: one invocation may make only so many subrequests. With at most
 * SWEEP_BATCH tenants per run, the directory is split into
 * ceil(tenants / SWEEP_BATCH) slices and the per-minute cron walks through them,
 * so every tenant is visited every `slices` minutes — and checked at most every
 * CHECK_INTERVAL_MS (the object skips a sweep that comes sooner).
 */
import { tenantStub } from "../tenants/stub";
import { pool } from "../util/pool";

export const SWEEP_BATCH = 500;
export const CHECK_INTERVAL_MS = 5 * 60_000;
const FAN_OUT = 50;

export interface SweepSummary {
  slice: number;
  slices: number;
  tenants: number;
  armed: number;
  recent: number;
  idle: number;
  failed: number;
}

export async function sweep(env: Env, scheduledTime: number, options: { minIntervalMs?: number; batch?: number } = {}): Promise<SweepSummary> {
  const batch = options.batch ?? SWEEP_BATCH;
  const count = (await env.DB.prepare("SELECT count(*) AS n FROM tenants").first<{ n: number }>())?.n ?? 0;
  const slices = Math.max(1, Math.ceil(count / batch));
  const slice = Math.floor(scheduledTime / 60_000) % slices;
  const { results } = await env.DB.prepare("SELECT id FROM tenants WHERE rowid % ? = ? ORDER BY rowid LIMIT ?")
    .bind(slices, slice, batch * 2)
    .all<{ id: string }>();
  const outcomes = await pool(results, FAN_OUT, async ({ id }) => {
    try {
      return await tenantStub(env, id).sweep(options.minIntervalMs ?? CHECK_INTERVAL_MS);
    } catch (error) {
      console.error("sweep: tenant did not answer", id, error instanceof Error ? error.message : error);
      return "failed" as const;
    }
  });
  const tally = (kind: string) => outcomes.filter((o) => o === kind).length;
  return { slice, slices, tenants: results.length, armed: tally("armed"), recent: tally("recent"), idle: tally("idle"), failed: tally("failed") };
}
