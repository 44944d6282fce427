/**
 * Scale evidence: 2,000 tenants with 3 models each, on the fake OpenAI-compatible
 * upstream, as a deploy finds them (models in storage, no alarm, no schedule in
 * the directory). The test drives the cron (the watchdog, through a counting env)
 * and the alarms (`runDurableObjectAlarm`, as the runtime would when they are
 * due), and moves the clock (`vi.setSystemTime`) one interval at a time.
 *
 * It shows: the cron's subrequests per invocation stay under the Workers limit
 * (1000) whatever the number of tenants; every model is checked once per
 * interval, and not more; one tenant whose upstream hangs delays nobody else.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { WATCHDOG_BATCH, watchdog } from "../../src/health/watchdog";
import { pool } from "../../src/util/pool";
import { fakes, uniqueId, upstreamUrl } from "./helpers";

const TENANTS = 2_000;
/** Three models per tenant: one on the fake OpenAI-compatible upstream (HTTP), two on the fake Workers AI binding. */
const MODELS = [
  { id: "chat", backend: "openai_compatible", capabilities: ["chat"], model_name: "gpt-fake" },
  { id: "edge", backend: "workers_ai", capabilities: ["chat"], model_name: "@cf/meta/llama-3.1-8b-instruct" },
  { id: "embed", backend: "workers_ai", capabilities: ["embedding"], model_name: "@cf/baai/bge-small-en-v1.5" },
] as const;
const INTERVAL_MS = 60_000;
const SUBREQUEST_LIMIT = 1_000;
/** Alarms the test runs at once (in production each runs on its own; here they share one workerd thread). */
const ALARMS_AT_ONCE = 10;
/** Tenants whose alarms run right alongside the hanging one, and must all finish while it still waits. */
const NEIGHBOURS = ALARMS_AT_ONCE;
/** The hanging model's timeout, and so how long its tenant's checks take. */
const HANG_MS = 15_000;

const ids = Array.from({ length: TENANTS }, (_, i) => `scale-${i}`);
const hanging = ids[0]!;
const hangUp = uniqueId("scale-hang");

let now = Date.now() + 7 * 86_400_000;
const advance = (ms: number) => {
  now += ms;
  vi.setSystemTime(now);
};

/** The env the cron gets, counting every D1 statement run and every Durable Object call it makes. */
function countingEnv() {
  let count = 0;
  const statement = (s: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(s, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop);
        if (typeof value !== "function") return value;
        if (prop === "bind") return (...args: unknown[]) => statement(target.bind(...args));
        return (...args: unknown[]) => {
          count++;
          return Reflect.apply(value, target, args) as unknown;
        };
      },
    });
  const DB = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => statement(target.prepare(query));
      if (prop === "batch" || prop === "exec") throw new Error(`the watchdog is not expected to use D1 ${String(prop)}`);
      return Reflect.get(target, prop);
    },
  });
  const TENANTS_NS = new Proxy(env.TENANTS, {
    get(target, prop) {
      if (prop !== "getByName") return Reflect.get(target, prop);
      return (name: string) => {
        const stub = target.getByName(name);
        return new Proxy(stub, {
          get(s, method) {
            const value: unknown = Reflect.get(s, method);
            if (typeof value !== "function") return value;
            return (...args: unknown[]) => {
              count++;
              return Reflect.apply(value, s, args) as unknown;
            };
          },
        });
      };
    },
  });
  return { env: { ...env, DB, TENANTS: TENANTS_NS } as Env, count: () => count };
}

/** Fire the cron once: its summary, and the subrequests counted from outside. */
async function cron() {
  const counted = countingEnv();
  const summary = await watchdog(counted.env, now);
  return { ...summary, counted: counted.count() };
}

/** Scheduled checks recorded by one tenant, per model, in one string ("1,1,1"). */
function countChecks(state: DurableObjectState): string {
  return MODELS.map(
    ({ id }) =>
      state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM health_checks WHERE model_id = ? AND source = 'scheduled'", id).one().n,
  ).join();
}

/** Run one tenant's alarm handler, as the runtime does when it is due; how long it took, and its checks so far. */
function alarm(id: string): Promise<{ ms: number; checks: string }> {
  return runInDurableObject(env.TENANTS.getByName(id), async (instance: TenantRegistry, state) => {
    const started = performance.now();
    await instance.alarm();
    return { ms: performance.now() - started, checks: countChecks(state) };
  });
}

/**
 * Every tenant's alarm once, ALARMS_AT_ONCE at a time, the hanging tenant's alongside. `firstDone`:
 * whether the hanging tenant's alarm had finished when the first NEIGHBOURS others had all finished.
 */
async function runAlarms(tenants = ids) {
  let hangingDone = false;
  const hangingRun = tenants.includes(hanging)
    ? alarm(hanging).then((run) => {
        hangingDone = true;
        return run;
      })
    : null;
  const others = tenants.filter((id) => id !== hanging);
  const first = await pool(others.slice(0, NEIGHBOURS), ALARMS_AT_ONCE, alarm);
  const firstDone = hangingDone;
  const rest = await pool(others.slice(NEIGHBOURS), ALARMS_AT_ONCE, alarm);
  return { others: [...first, ...rest], hanging: hangingRun, firstDone };
}

/** Tenants whose checks so far are not `expected` for every model. */
const off = (runs: { checks: string }[], expected: number) => runs.filter((r) => r.checks !== MODELS.map(() => expected).join());

beforeAll(async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(now);
  const seedStart = performance.now();
  // The directory: rows as the D1 migration leaves them (no schedule reported yet).
  for (let i = 0; i < TENANTS; i += 500) {
    await env.DB.batch(ids.slice(i, i + 500).map((id) => env.DB.prepare("INSERT INTO tenants (id, name) VALUES (?, ?)").bind(id, id)));
  }
  // Each object as a deploy finds it: three models in storage, no alarm armed.
  await pool(ids, 50, (id) =>
    runInDurableObject(env.TENANTS.getByName(id), (instance: TenantRegistry, state) => {
      instance.activate(id);
      for (const model of MODELS) {
        const stuck = id === hanging && model.id === "chat";
        const config = {
          model_name: stuck ? hangUp : model.model_name,
          ...(model.backend === "openai_compatible" && { base_url: upstreamUrl() }),
          timeout: stuck ? HANG_MS / 1000 : 5,
          max_retries: 0,
          health_check: { interval_s: INTERVAL_MS / 1000, ...(stuck && { probe: "generation" }) },
        };
        state.storage.sql.exec(
          `INSERT INTO models (id, name, backend_type, config, capabilities, fallbacks, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
          model.id,
          model.id,
          model.backend,
          JSON.stringify(config),
          JSON.stringify(model.capabilities),
        );
      }
    }),
  );
  console.log("seeded in", Math.round(performance.now() - seedStart), "ms");
  // That tenant's chat model's upstream never answers (its checks wait out the 15 s timeout).
  await fakes.openai.script(
    hangUp,
    [1, 2].map(() => ({ kind: "hang" })),
  );
}, 300_000);

afterAll(() => vi.useRealTimers());

describe(`${TENANTS} tenants x ${MODELS.length} models`, () => {
  it("the cron re-arms every tenant in bounded runs, each within the subrequest limit, then costs one query", async () => {
    const runs = [];
    for (;;) {
      const run = await cron();
      runs.push(run);
      expect(run.counted).toBe(run.subrequests);
      expect(run.counted).toBeLessThanOrEqual(WATCHDOG_BATCH + 2);
      expect(run.counted).toBeLessThan(SUBREQUEST_LIMIT);
      if (run.overdue === 0) break;
      expect(run.failed).toBe(0);
    }
    // ceil(2000 / 800) runs re-arm everyone; then the cron finds nobody overdue.
    expect(runs.map((r) => [r.overdue, r.armed, r.counted])).toEqual([
      [800, 800, 802],
      [800, 800, 802],
      [400, 400, 402],
      [0, 0, 1],
    ]);
    console.log("cron runs after a deploy (overdue, armed, subrequests):", JSON.stringify(runs.map((r) => [r.overdue, r.armed, r.counted])));
  }, 300_000);

  it("every model is checked once per interval; a hanging upstream delays only its own tenant", async () => {
    const started = performance.now();
    const first = await runAlarms();
    const hangingRun = await first.hanging!;
    expect(off([...first.others, hangingRun], 1)).toEqual([]);
    // The hanging tenant's alarm waited out its upstream's timeout; the alarms run alongside it
    // had all finished before it did (none waited for it), and so had their checks.
    expect(hangingRun.ms).toBeGreaterThanOrEqual(HANG_MS - 1_000);
    expect(first.firstDone).toBe(false);
    const slowest = Math.max(...first.others.map((r) => r.ms));
    const [stuck] = await env.TENANTS.getByName(hanging).checks("chat", 1);
    expect(stuck).toMatchObject({ source: "scheduled", ok: false });
    // Steady state: every alarm re-armed and reported, so the cron costs one query.
    expect(await cron()).toMatchObject({ overdue: 0, counted: 1 });
    console.log(
      `round 1: ${TENANTS * MODELS.length} checks in ${Math.round(performance.now() - started)} ms; ` +
        `slowest other tenant's alarm ${Math.round(slowest)} ms, the hanging tenant's ${Math.round(hangingRun.ms)} ms`,
    );

    // Half an interval on, alarms that fire early check nothing (a sample of tenants, the hanging one included).
    advance(INTERVAL_MS / 2);
    const early = await runAlarms(ids.slice(0, 200));
    expect(off([...early.others, await early.hanging!], 1)).toEqual([]);

    // One interval after the first checks: each model once more, and the cron still costs one query.
    advance(INTERVAL_MS / 2);
    const second = await runAlarms();
    expect(off([...second.others, await second.hanging!], 2)).toEqual([]);
    expect(await cron()).toMatchObject({ overdue: 0, counted: 1 });
  }, 600_000);
});
