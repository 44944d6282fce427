/**
 * The health schedule of a tenant's object, owned by it (one per instance):
 * an alarm is armed for the next model due (src/health/schedule.ts), runs the
 * checks that are due and arms the next one, and each time it tells the D1
 * directory when the tenant counts as overdue, so the cron watchdog
 * (src/health/watchdog.ts) can find an object whose alarm went missing
 * without calling every tenant. Checks on request (`runChecks`, `probeModel`)
 * run here too: they move the schedule.
 *
 * Probes reach outside: they call the tenant's upstreams from the object,
 * opening the secrets a probe needs in memory for that probe only. Requests
 * never wait on them: I/O does not block the object.
 */
import type { SecretGrant } from "../config/secrets";
import { admitOnDemandCheck } from "../health/on-demand";
import { FIRST_PROBE_MS, MAX_PROBE_MS, probeModels } from "../health/probe";
import { probeUsage } from "../health/probe-usage";
import { dueModels, plan, type Plan, WATCHDOG_GRACE_MS } from "../health/schedule";
import { type Nudge, reportSchedule } from "../health/watchdog";
import type { HealthCheck, HealthOutcome } from "../health/status";
import type { Capability, ModelRecord } from "../models/schema";
import { settings } from "../settings";
import type { CheckResult, WriteResult } from "../tenants/shapes";
import { failedCapabilities } from "./breaker-store";
import { FailureStreaks } from "./failure-streaks";
import { recordOutcome } from "./health-store";
import type { ModelWrite } from "./model-store";
import { markStarted, scheduleRows } from "./schedule-store";
import { recordBatch } from "./usage-store";

/** What the schedule reads of its object, as it stands at each call (the tenant may be activated or destroyed meanwhile). */
export interface SchedulerHost {
  storage: DurableObjectStorage;
  env: Env;
  /** The open tenant's id; null while the object is unopened. */
  tenantId(): string | null;
  /** The tenant's models ([] while unopened). */
  models(): ModelRecord[];
  model(id: string): ModelRecord | null;
  /** What secret references resolve to (the tenant's own secrets, then the operator's grants). */
  references(): SecretGrant[];
}

export class HealthScheduler {
  private readonly sql: SqlStorage;
  /** An alarm run is in progress in this instance. */
  private running = false;
  /** What this instance last wrote to the directory (undefined: nothing yet). */
  private reported: number | null | undefined;
  /** Who failed each model's calls in its current streak (one key alone cannot make a model `error`). */
  private readonly streaks = new FailureStreaks();

  constructor(private readonly host: SchedulerHost) {
    this.sql = host.storage.sql;
  }

  /** The tenant was destroyed: nothing was reported for whichever incarnation comes next. */
  forget(): void {
    this.reported = undefined;
  }

  /**
   * Probe models now, on request, and record the results: the given ones, or
   * every model not in maintenance, within the tenant's on-demand bound
   * (src/health/on-demand.ts). Probes run concurrently but bounded, each with a
   * timeout; the registry keeps answering meanwhile (I/O does not block it).
   */
  async runChecks(modelIds: string[] | null): Promise<CheckResult> {
    const models = this.host.models().filter((m) => (modelIds ? modelIds.includes(m.id) : m.status !== "maintenance"));
    const admitted = admitOnDemandCheck(this.host.tenantId() ?? "", models.length);
    if (!admitted.ok) return admitted;
    return { ok: true, value: await this.check(models, "manual") };
  }

  /**
   * The check a registration or a config change runs before it answers: one
   * probe within the model's timeout and at most 10 s; the model as it stands after it.
   */
  async probeModel(id: string): Promise<ModelRecord | null> {
    const model = this.host.model(id);
    if (!model) return null;
    await this.check([model], "manual", FIRST_PROBE_MS);
    return this.host.model(id);
  }

  /**
   * Passive health: a real call's outcome, made with key `keyId` (null: the
   * operator). When one key's failures alone would make the model `error`, it
   * stays `degraded` and one check confirms before this answers (the isolate
   * reports after its response, so no caller waits): the answer is then the
   * check's, so the reporting isolate learns at once that the model is `error`.
   */
  async recordCall(
    modelId: string,
    outcome: HealthOutcome,
    at: string,
    capability: Capability | undefined,
    keyId: string | null,
  ): Promise<HealthCheck | null> {
    const check = recordOutcome(this.host.storage, modelId, outcome, "call", at, capability, this.streaks, keyId);
    // An open breaker set its probe (recordOutcome): the alarm must be armed for it.
    if (check?.status === "error" && !outcome.ok) this.rescheduled();
    const due = this.streaks.takeDue();
    if (due.length === 0) return check;
    return (await this.confirm(due)).find((c) => c.model_id === modelId) ?? check;
  }

  /** The confirming checks of failure streaks one key made: a failed one moves the model to `error`. */
  private async confirm(ids: string[]) {
    try {
      return await this.check(
        this.host.models().filter((m) => ids.includes(m.id)),
        "scheduled",
      );
    } finally {
      for (const id of ids) this.streaks.confirmationDone(id);
    }
  }

  /** The alarm: run the checks that are due, then arm the next one. */
  async alarm(): Promise<void> {
    if (this.host.tenantId() === null) return;
    if (this.running) return;
    this.running = true;
    try {
      // This run is the alarm (a nudge during it arms a new one, left alone by the re-arm below).
      await this.host.storage.deleteAlarm();
      const due = new Set(dueModels(scheduleRows(this.sql), Date.now()).map((m) => m.id));
      await this.check(
        this.host.models().filter((m) => due.has(m.id)),
        "scheduled",
      );
    } finally {
      this.running = false;
    }
    await this.rearm();
  }

  /**
   * The cron watchdog's nudge, for a tenant the directory says is overdue:
   * checks due now run in an alarm at once; otherwise the alarm is armed for the
   * next one (it may only have missed a report). Answers when the watchdog
   * should look again; the watchdog writes that to the directory for all the
   * tenants it nudged at once.
   */
  async watchdog(): Promise<{ nudge: Nudge; overdueAt: number | null }> {
    const now = Date.now();
    if (this.running) return { nudge: "running", overdueAt: now + WATCHDOG_GRACE_MS };
    if (this.host.tenantId() !== null && dueModels(scheduleRows(this.sql), now).length > 0) {
      await this.host.storage.setAlarm(now);
      // The alarm reports when it has run; until then the watchdog waits out the grace period.
      return { nudge: "armed", overdueAt: now + WATCHDOG_GRACE_MS };
    }
    const next = await this.rearm(false);
    return { nudge: next.overdueAt === null ? "idle" : "scheduled", overdueAt: next.overdueAt };
  }

  /** A model write's result, after re-arming when it changed what is due (all its writes are done by then: the re-arm reads them). */
  written<T>({ result, rescheduled }: ModelWrite<T>): WriteResult<T> {
    if (rescheduled) this.rescheduled();
    return result;
  }

  /**
   * Arm the alarm for the next check due (or none), and tell the directory when
   * this tenant counts as overdue (unless `report` is false). An alarm already
   * due is left alone: it is about to run (the watchdog may have just set it).
   */
  async rearm(report = true): Promise<Plan> {
    const tenantId = this.host.tenantId();
    const now = Date.now();
    const next = tenantId ? plan(scheduleRows(this.sql), this.intervalS(), now) : { alarmAt: null, overdueAt: null };
    const current = await this.host.storage.getAlarm();
    if (current === null || current > now) {
      if (next.alarmAt === null) {
        if (current !== null) await this.host.storage.deleteAlarm();
      } else if (current !== next.alarmAt) {
        await this.host.storage.setAlarm(next.alarmAt);
      }
    }
    if (report && tenantId) await this.report(tenantId, next.overdueAt);
    return next;
  }

  private async check(models: ModelRecord[], source: "manual" | "scheduled", maxMs = MAX_PROBE_MS) {
    markStarted(
      this.sql,
      scheduleRows(this.sql).filter((m) => models.some((x) => x.id === m.id)),
      this.intervalS(),
      Date.now(),
    );
    // A model whose real calls failed is checked with one tiny call of the capability that failed.
    const failed = failedCapabilities(this.sql);
    const results = await probeModels(this.host.env, this.host.references(), models, maxMs, failed);
    // Those calls (the breaker's probes, confirming checks) are metered like calls (src/health/probe-usage.ts).
    const spent = results.flatMap(({ model, outcome }) => (failed.has(model.id) ? (probeUsage(model, outcome, Date.now()) ?? []) : []));
    if (spent.length > 0) recordBatch(this.host.storage, crypto.randomUUID(), spent, Date.now());
    const checks = results.flatMap(({ model, outcome }) => {
      const check = recordOutcome(this.host.storage, model.id, outcome, source, new Date().toISOString(), undefined, this.streaks);
      return check ? [{ model_id: model.id, ...check }] : [];
    });
    if (!this.running) await this.rearm();
    return checks;
  }

  /** Tell the directory when the watchdog should look at this tenant (null: never). */
  private async report(tenantId: string, overdueAt: number | null): Promise<void> {
    if (overdueAt === this.reported) return;
    try {
      await reportSchedule(this.host.env.DB, tenantId, overdueAt);
      this.reported = overdueAt;
    } catch (error) {
      // The watchdog finds this tenant overdue and asks again.
      console.error("health schedule: directory not updated", error instanceof Error ? error.message : error);
    }
  }

  /** After a write that changes what is due: re-arm without making the write wait. */
  private rescheduled(): void {
    void this.rearm().catch((error: unknown) => console.error("health schedule: re-arm failed", error instanceof Error ? error.message : error));
  }

  private intervalS(): number {
    return settings(this.host.env).healthCheckIntervalS;
  }
}
