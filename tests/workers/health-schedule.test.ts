/**
 * The health schedule through the real pieces: the probe a registration or a
 * config change runs before answering, each tenant's alarm (driven here with
 * `runDurableObjectAlarm`, the clock with `vi.setSystemTime`), the directory
 * row the object keeps up to date, and the cron watchdog that re-arms lost alarms.
 *
 * The workers project runs with HEALTH_CHECK_INTERVAL_S=0 (vitest.config.ts): no
 * alarm fires by itself, and every fired cron checks every model. Models that
 * test the alarms set their own `health_check.interval_s`.
 */
import {
  createExecutionContext,
  createScheduledController,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { WATCHDOG_GRACE_MS } from "../../src/health/schedule";
import { watchdog } from "../../src/health/watchdog";
import worker from "../../src/worker";
import { api, callTool, createTenant, fakes, openaiModel, registerModel, type Tenant, uniqueId } from "./helpers";

interface Model {
  id: string;
  status: string;
  status_detail: string | null;
  last_checked_at: string | null;
  latency_ms: number | null;
}
interface Check {
  source: string;
  ok: boolean;
  status: string;
  detail: string | null;
}

const MINUTE = 60_000;

async function model(tenant: Tenant, id: string): Promise<Model> {
  return (await api<Model>("GET", `/api/v1/models/${id}`, { token: tenant.adminKey })).body;
}

async function history(tenant: Tenant, id: string): Promise<Check[]> {
  return env.TENANTS.getByName(tenant.id).checks(id, 50);
}

const alarmOf = (tenant: Tenant) => runInDurableObject(env.TENANTS.getByName(tenant.id), (_: TenantRegistry, state) => state.storage.getAlarm());

async function overdueAt(tenantId: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT health_overdue_at AS at FROM tenants WHERE id = ?").bind(tenantId).first<{ at: number | null }>();
  return row!.at;
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("registration and config changes probe at once", () => {
  it("a healthy model answers available, with its first check recorded", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const created = await api<Model>("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("ok", uniqueId("reg")) });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: "ok", status: "available", status_detail: null, last_checked_at: expect.any(String) });
    expect(await history(tenant, "ok")).toMatchObject([{ source: "manual", ok: true, status: "available" }]);
  });

  it("a model whose upstream hangs is stored anyway, and answers within its timeout with degraded and the reason", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("hang");
    await fakes.openai.script(up, [{ kind: "hang" }]);
    const started = Date.now();
    const created = await api<Model>("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: openaiModel("slow", up, { timeout: 2, max_retries: 0, health_check: { probe: "generation" } }),
    });
    expect(Date.now() - started).toBeLessThan(2_000 + 3_000);
    expect(created.status).toBe(201);
    expect(created.body.status).toBe("degraded");
    expect(created.body.status_detail).toMatch(/^failure 1 of 3 before error: .*(did not answer within|timed out)/);
    expect(await model(tenant, "slow")).toMatchObject({ status: "degraded" });
  });

  it("a model whose upstream refuses connections answers degraded with the reason, over MCP too", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const dead = openaiModel("dead", "gpt-fake", { base_url: "http://127.0.0.1:9/v1", max_retries: 0 });
    const created = await api<Model>("POST", "/api/v1/models", { token: tenant.adminKey, body: dead });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: "degraded", status_detail: expect.stringMatching(/^failure 1 of 3 before error: ./) });

    const viaMcp = await callTool(tenant.adminKey, "register_model", { ...dead, id: "dead2" });
    expect(viaMcp.tool.isError).toBeFalsy();
    expect(viaMcp.tool.structuredContent).toMatchObject({ id: "dead2", status: "degraded" });
  });

  it("a config change probes again; a name change or a model in maintenance does not", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("chg");
    await registerModel(tenant, openaiModel("m", up, { max_retries: 0 }));
    const moved = await api<Model>("PATCH", "/api/v1/models/m", { token: tenant.adminKey, body: { config: { base_url: "http://127.0.0.1:9/v1" } } });
    expect(moved.body).toMatchObject({ status: "degraded", status_detail: expect.stringMatching(/^failure 1 of 3 before error: /) });
    const back = await api<Model>("PATCH", "/api/v1/models/m", {
      token: tenant.adminKey,
      body: { config: { base_url: openaiModel("x").config.base_url } },
    });
    expect(back.body.status).toBe("available");
    const probes = (await fakes.openai.requests(up)).length;

    const renamed = await api<Model>("PATCH", "/api/v1/models/m", { token: tenant.adminKey, body: { name: "Renamed" } });
    expect(renamed.body.status).toBe("available");
    await api("PUT", "/api/v1/models/m/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const changed = await api<Model>("PATCH", "/api/v1/models/m", { token: tenant.adminKey, body: { config: { timeout: 9 } } });
    expect(changed.body.status).toBe("maintenance");
    expect((await fakes.openai.requests(up)).length).toBe(probes);
  });
});

describe("each tenant's alarm", () => {
  // A clock far from the real one: alarms armed on it never fire by themselves during the test.
  let now = Date.now() + 86_400_000;
  const advance = (ms: number) => {
    now += ms;
    vi.setSystemTime(now);
  };
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    advance(MINUTE);
  });
  afterEach(() => vi.useRealTimers());

  /** Run the tenant's alarm now, as the runtime would when it is due. */
  const fire = (tenant: Tenant) => runDurableObjectAlarm(env.TENANTS.getByName(tenant.id));
  const scheduled = async (tenant: Tenant, id: string) => (await history(tenant, id)).filter((c) => c.source === "scheduled").length;

  it("checks each model once per interval (its own interval_s), and tells the directory when it would be overdue", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("a", uniqueId("a"), { health_check: { interval_s: 60 } }));
    await registerModel(tenant, openaiModel("b", uniqueId("b"), { health_check: { interval_s: 120 } }));
    const t0 = now;
    expect(await alarmOf(tenant)).toBe(t0 + MINUTE);
    expect(await overdueAt(tenant.id)).toBe(t0 + MINUTE + WATCHDOG_GRACE_MS);

    // Fired early (nothing due): no check, same alarm.
    expect(await fire(tenant)).toBe(true);
    expect([await scheduled(tenant, "a"), await scheduled(tenant, "b")]).toEqual([0, 0]);
    expect(await alarmOf(tenant)).toBe(t0 + MINUTE);

    advance(MINUTE);
    await fire(tenant);
    expect([await scheduled(tenant, "a"), await scheduled(tenant, "b")]).toEqual([1, 0]);
    expect(await alarmOf(tenant)).toBe(t0 + 2 * MINUTE);

    advance(MINUTE);
    await fire(tenant);
    expect([await scheduled(tenant, "a"), await scheduled(tenant, "b")]).toEqual([2, 1]);
    expect(await alarmOf(tenant)).toBe(t0 + 3 * MINUTE);
    expect(await overdueAt(tenant.id)).toBe(t0 + 3 * MINUTE + WATCHDOG_GRACE_MS);
  });

  it("a dead upstream of an idle model is error within 3 intervals, and available after one good check", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("dead");
    await registerModel(tenant, openaiModel("m", up, { max_retries: 0, health_check: { probe: "generation", interval_s: 60 } }));
    expect((await model(tenant, "m")).status).toBe("available");
    await fakes.openai.script(
      up,
      [1, 2, 3].map(() => ({ kind: "status", status: 502 })),
    );
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      advance(MINUTE);
      await fire(tenant);
      seen.push((await model(tenant, "m")).status);
    }
    expect(seen).toEqual(["degraded", "degraded", "error"]);
    advance(MINUTE);
    await fire(tenant);
    expect(await model(tenant, "m")).toMatchObject({ status: "available", status_detail: null });
    expect(await scheduled(tenant, "m")).toBe(4);
  });

  it("keeps its alarm across an eviction", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("m", uniqueId("ev"), { health_check: { interval_s: 60 } }));
    const armed = await alarmOf(tenant);
    await evictDurableObject(env.TENANTS.getByName(tenant.id));
    expect(await alarmOf(tenant)).toBe(armed);
    advance(MINUTE);
    await fire(tenant);
    expect(await scheduled(tenant, "m")).toBe(1);
    expect(await alarmOf(tenant)).toBe(now + MINUTE);
  });

  it("re-arms a lost alarm: the cron watchdog finds the tenant overdue in the directory", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("m", uniqueId("lost"), { health_check: { interval_s: 60 } }));
    const due = now + MINUTE;
    await runInDurableObject(env.TENANTS.getByName(tenant.id), (_: TenantRegistry, state) => state.storage.deleteAlarm());

    // Not overdue yet (the alarm might still be coming): the watchdog leaves it alone.
    const early = await watchdog(env, now);
    expect(early.subrequests).toBe(early.overdue === 0 ? 1 : early.overdue + 2);
    expect(await alarmOf(tenant)).toBeNull();
    advance(MINUTE + WATCHDOG_GRACE_MS);
    const summary = await watchdog(env, now);
    // One query, one call per overdue tenant, one update of them all.
    expect(summary).toMatchObject({ failed: 0, subrequests: summary.overdue + 2 });
    expect(summary.armed).toBeGreaterThanOrEqual(1);
    // The check was due: the alarm is set to run at once, and it re-arms one interval on.
    expect(await alarmOf(tenant)).toBe(now);
    await fire(tenant);
    expect(await scheduled(tenant, "m")).toBe(1);
    expect(await alarmOf(tenant)).toBe(now + MINUTE);
    expect(await overdueAt(tenant.id)).toBe(now + MINUTE + WATCHDOG_GRACE_MS);
    expect(due).toBeLessThan(now);
  });

  it("after a deploy: an object with models and no alarm re-arms when it wakes, or when the cron finds it", async () => {
    // Two tenants as an older version left them: models in storage, no alarm, a directory row with no schedule.
    const old = async () => {
      const id = uniqueId("old");
      await env.DB.prepare("INSERT INTO tenants (id, name) VALUES (?, ?)").bind(id, id).run();
      const stub = env.TENANTS.getByName(id);
      await runInDurableObject(stub, (instance: TenantRegistry, state) => {
        instance.activate(id);
        const { api_key: _, ...config } = openaiModel("m", "gpt-fake", { health_check: { interval_s: 60 } }).config;
        state.storage.sql.exec(
          `INSERT INTO models (id, name, backend_type, config, capabilities, fallbacks, created_at, updated_at)
           VALUES ('m', 'm', 'openai_compatible', ?, '["chat"]', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
          JSON.stringify(config),
        );
        return state.storage.deleteAlarm();
      });
      await evictDurableObject(stub);
      return { id, stub };
    };
    const woken = await old();
    const idle = await old();
    expect(await overdueAt(idle.id)).toBe(0);

    // Any call wakes the object, and a fresh instance with models arms its alarm.
    await woken.stub.listKeys();
    expect(await runInDurableObject(woken.stub, (_: TenantRegistry, state) => state.storage.getAlarm())).toBe(now);

    // Nobody wakes the other: the cron finds it (its directory row was never written) and its check runs.
    const ctx = createExecutionContext();
    const logged = vi.spyOn(console, "log").mockImplementation(() => {});
    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    // The cron's one summary line (for Workers Logs), captured here rather than printed.
    expect(logged).toHaveBeenCalledWith("health sweep", expect.stringContaining('"armed"'));
    logged.mockRestore();
    expect(await runDurableObjectAlarm(idle.stub)).toBe(true);
    const [check] = await idle.stub.checks("m", 1);
    expect(check).toMatchObject({ source: "scheduled", ok: true, status: "available" });
    expect(await overdueAt(idle.id)).toBe(now + MINUTE + WATCHDOG_GRACE_MS);
  });
});

describe("the cron with HEALTH_CHECK_INTERVAL_S=0", () => {
  it("every fired cron checks every model at once, except those in maintenance", async () => {
    const tenant = await createTenant({ grantCanary: true });
    for (const id of ["x", "y", "z"]) await registerModel(tenant, openaiModel(id, uniqueId(id)));
    await api("PUT", "/api/v1/models/z/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const scheduled = async () => {
      const checks = await env.TENANTS.getByName(tenant.id).checksByModel(50);
      return ["x", "y", "z"].map((id) => (checks[id] ?? []).filter((c) => c.source === "scheduled").length);
    };
    for (let round = 1; round <= 2; round++) {
      const summary = await watchdog(env, Date.now());
      expect(summary.failed).toBe(0);
      // The nudged object runs its checks in its alarm, at once.
      await until(`round ${round} of checks`, scheduled, (n) => n[0] === round && n[1] === round);
    }
    expect(await scheduled()).toEqual([2, 2, 0]);
  });
});
