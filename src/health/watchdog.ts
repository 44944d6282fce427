/**
 * The cron watchdog. Scheduled checks run from each tenant's own Durable Object
 * alarm (see src/health/schedule.ts), so the cron has no checks to hand out: it
 * only looks for tenants whose alarm should have run by now and did not report
 * (an alarm lost, an object from before alarms, a tenant whose object has not
 * reported yet), and nudges their objects, which re-arm their alarm at once
 * when checks are due. With HEALTH_CHECK_INTERVAL_S=0 every tenant with models
 * is due at every cron, so every fired cron checks every model.
 *
 * What one run costs, whatever the number of tenants: one indexed D1 query for
 * the overdue rows (at most WATCHDOG_BATCH, oldest first), one call per overdue
 * tenant's object, and one D1 update for all of them. So at most
 * WATCHDOG_BATCH + 2 subrequests per invocation, under the Workers limit of
 * 1000; in steady state (every alarm armed and reporting) it is the one query.
 *
 * The directory's `health_overdue_at` is written by each tenant's object
 * (`reportSchedule`) every time its alarm runs or its models change, and by the
 * watchdog for the tenants it nudged.
 */
import { TenantClient } from "../tenants/client";
import { pool } from "../util/pool";

/** Tenants nudged per cron run at most. */
export const WATCHDOG_BATCH = 800;
/** Nudges in flight at once. */
const FAN_OUT = 50;
/** A tenant whose object did not answer is looked at again after this long, so it cannot hold the head of the queue. */
const RETRY_AFTER_MS = 10 * 60_000;

export type Nudge = "armed" | "scheduled" | "running" | "idle";

export interface WatchdogSummary {
  /** Tenants found overdue (at most WATCHDOG_BATCH). */
  overdue: number;
  /** Their objects: checks due, alarm set to run now. */
  armed: number;
  /** Alarm was missing or late and is set again for the next due check; nothing due now. */
  scheduled: number;
  /** An alarm run was in progress. */
  running: number;
  /** Nothing to check (no models, or all in maintenance). */
  idle: number;
  failed: number;
  /** D1 queries and Durable Object calls this run made. */
  subrequests: number;
}

export async function watchdog(env: Env, now: number, batch = WATCHDOG_BATCH): Promise<WatchdogSummary> {
  const { results } = await env.DB.prepare("SELECT id FROM tenants WHERE health_overdue_at <= ? ORDER BY health_overdue_at LIMIT ?")
    .bind(now, batch)
    .all<{ id: string }>();
  let subrequests = 1;
  const answers = await pool(results, FAN_OUT, async ({ id }) => {
    try {
      return { id, ...(await TenantClient.operator(env, id).watchdog()) };
    } catch (error) {
      console.error("health watchdog: tenant did not answer", id, error instanceof Error ? error.message : error);
      return { id, nudge: "failed" as const, overdueAt: now + RETRY_AFTER_MS };
    }
  });
  subrequests += results.length;
  if (answers.length > 0) {
    // When to look at each again, in one statement. A row its object rewrote meanwhile (an alarm
    // that already ran and reported) is newer than `now` and left alone.
    subrequests += 1;
    await env.DB.prepare(
      `UPDATE tenants SET health_overdue_at = answer.at
       FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS at FROM json_each(?)) AS answer
       WHERE tenants.id = answer.id AND tenants.health_overdue_at <= ?`,
    )
      .bind(JSON.stringify(answers.map((a) => [a.id, a.overdueAt])), now)
      .run();
  }
  const tally = (kind: Nudge | "failed") => answers.filter((a) => a.nudge === kind).length;
  return {
    overdue: results.length,
    armed: tally("armed"),
    scheduled: tally("scheduled"),
    running: tally("running"),
    idle: tally("idle"),
    failed: tally("failed"),
    subrequests,
  };
}

/** Written by a tenant's object whenever it arms its alarm: when the watchdog should look at it (null: never). */
export async function reportSchedule(db: D1Database, tenantId: string, overdueAt: number | null): Promise<void> {
  await db.prepare("UPDATE tenants SET health_overdue_at = ? WHERE id = ?").bind(overdueAt, tenantId).run();
}
