/**
 * `load_balance` on a model, driven through the Worker's /v1 and MCP routes
 * against the fake OpenAI-compatible upstream: a weighted pool's split, the
 * least-latency choice and its shift, sticky conversations, failover within
 * the pool, explain_route, validation at registration and removal, and the
 * move of a pool the previous version stored in `config` (migration 14).
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate, MIGRATIONS } from "../../src/durable/migrations";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { api, callTool, createTenant, fakes, OPERATOR, openaiModel, registerModel, storedModel, type Tenant, uniqueId } from "./helpers";

interface Answer {
  model: string;
  fallback?: { requested: string; attempts: { model_id: string; error: string }[] };
}

async function ask(tenant: Tenant, model: string, body: Record<string, unknown> = {}): Promise<Answer> {
  const res = await exports.default.fetch(
    new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.userKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 16, ...body }),
    }),
  );
  expect(res.status).toBe(200);
  return res.json();
}

/** A tenant with targets `ids` (each on its own fake upstream) and a pool "pool" over them. */
async function pool(ids: string[], balance: Record<string, unknown>, targetConfig: Record<string, unknown> = { max_retries: 0 }) {
  const tenant = await createTenant({ grantCanary: true });
  const ups: Record<string, string> = {};
  for (const id of ids) {
    ups[id] = uniqueId(`lb-${id}`);
    await registerModel(tenant, openaiModel(id, ups[id], targetConfig));
  }
  await registerModel(tenant, { ...openaiModel("pool", uniqueId("lb-pool")), load_balance: balance });
  return { tenant, ups };
}

function tally(answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[a.model] = (counts[a.model] ?? 0) + 1;
  return counts;
}

describe("weighted", () => {
  it("a 3:1 pool splits 1 000 calls within ±5 %", async () => {
    // The test runtime lets one tenant make 100 requests a minute: 20 tenants with the same pool, 50 calls each.
    const tenants = await Promise.all(
      Array.from({ length: 20 }, () =>
        pool(["a", "b"], {
          strategy: "weighted",
          targets: [
            { model_id: "a", weight: 3 },
            { model_id: "b", weight: 1 },
          ],
        }),
      ),
    );
    const answers = (
      await Promise.all(
        tenants.map(async ({ tenant }) => {
          const mine: Answer[] = [];
          for (let batch = 0; batch < 5; batch++) mine.push(...(await Promise.all(Array.from({ length: 10 }, () => ask(tenant, "pool")))));
          return mine;
        }),
      )
    ).flat();
    const counts = tally(answers);
    expect(counts.a! + counts.b!).toBe(1000);
    expect(counts.a! / 1000).toBeGreaterThanOrEqual(0.7);
    expect(counts.a! / 1000).toBeLessThanOrEqual(0.8);
    // The pool model's own upstream is not a target: it answered nothing.
    expect(counts.pool).toBeUndefined();
  }, 120_000);

  it("fails over within the pool, then to the model's fallbacks; a target in error is skipped", async () => {
    const { tenant, ups } = await pool(["a", "b"], { strategy: "weighted", targets: [{ model_id: "a" }, { model_id: "b" }] });
    await registerModel(tenant, openaiModel("spare", uniqueId("lb-spare")));
    expect((await api("PATCH", "/api/v1/models/pool", { token: tenant.adminKey, body: { fallbacks: ["spare"] } })).status).toBe(200);
    for (const id of ["a", "b"]) await fakes.openai.script(ups[id]!, [{ kind: "status", status: 500 }]);
    const rescued = await ask(tenant, "pool");
    expect(rescued.model).toBe("spare");
    expect(rescued.fallback?.attempts.map((a) => a.model_id).sort()).toEqual(["a", "b"]);

    await api("PUT", "/api/v1/models/a/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask(tenant, "pool")));
    expect(tally(answers)).toEqual({ b: 20 });
  });
});

describe("least_latency", () => {
  it("sends most calls to the faster target, and shifts when it slows", async () => {
    const { tenant, ups } = await pool(["fast", "slow"], { strategy: "least_latency", targets: [{ model_id: "fast" }, { model_id: "slow" }] });
    const slowly = (ms: number) => Array.from({ length: 200 }, () => ({ kind: "delay", ms }));
    await fakes.openai.script(ups.slow!, slowly(400));
    // The slow one gets its first measuring call, then one call in 20 at random: of 50 calls it takes
    // 3.4 on average, and more than 12 (fast under 38) about once in 300 000 runs. Its 400 ms keeps a
    // scheduling hiccup on the fast one (it would need over a second) from reordering the two.
    const before: Answer[] = [];
    for (let i = 0; i < 50; i++) before.push(await ask(tenant, "pool"));
    expect(tally(before).fast ?? 0).toBeGreaterThanOrEqual(38);

    // The fast one slows down well past the other; the other is quick again.
    await fakes.openai.script(ups.fast!, slowly(800));
    await fakes.openai.script(ups.slow!, []);
    const after: Answer[] = [];
    for (let i = 0; i < 30; i++) after.push(await ask(tenant, "pool"));
    // Once the averages cross (within the first few calls) only the 1-in-20 exploration reaches the
    // fast one: 8 or more of the last 20 happens about once in 300 000 runs.
    expect(tally(after.slice(10)).slow ?? 0).toBeGreaterThanOrEqual(13);

    const explained = await callTool(tenant.userKey, "explain_route", { model_id: "pool", capability: "chat" });
    const lb = (
      explained.tool.structuredContent as { load_balance: { strategy: string; next: string; why: string; targets: Record<string, unknown>[] } }
    ).load_balance;
    expect(lb).toMatchObject({ strategy: "least_latency", sticky: false });
    expect(lb.targets.map((t) => t.model_id)).toEqual(["fast", "slow"]);
    const avg = Object.fromEntries(lb.targets.map((t) => [t.model_id, t.avg_first_token_ms as number]));
    expect(avg.fast!).toBeGreaterThan(avg.slow!);
    expect(lb.targets.every((t) => t.breaker === "closed" && t.usable === true)).toBe(true);
  }, 60_000);
});

describe("sticky", () => {
  it("a conversation stays on its target until that target fails, then stays on the one that took over", async () => {
    const { tenant, ups } = await pool(["x", "y"], { strategy: "weighted", sticky: true, targets: [{ model_id: "x" }, { model_id: "y" }] });
    const conversation = (turn: number) => ({
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "first question" },
        ...Array.from({ length: turn }, (_, i) => [
          { role: "assistant", content: `answer ${i}` },
          { role: "user", content: `follow-up ${i}` },
        ]).flat(),
      ],
    });
    const first: Answer[] = [];
    for (let turn = 0; turn < 10; turn++) first.push(await ask(tenant, "pool", conversation(turn)));
    const home = first[0]!.model;
    expect(tally(first)).toEqual({ [home]: 10 });
    // A client's `user` keeps its calls together too, whatever the messages.
    const byUser = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ask(tenant, "pool", { user: "alice", messages: [{ role: "user", content: `q${i}` }] })),
    );
    expect(Object.keys(tally(byUser))).toHaveLength(1);

    const other = home === "x" ? "y" : "x";
    await fakes.openai.script(
      ups[home]!,
      Array.from({ length: 20 }, () => ({ kind: "status", status: 500 })),
    );
    const moved: Answer[] = [];
    for (let turn = 10; turn < 16; turn++) moved.push(await ask(tenant, "pool", conversation(turn)));
    expect(tally(moved)).toEqual({ [other]: 6 });
    expect(moved[0]!.fallback?.attempts[0]?.model_id).toBe(home);
  });
});

describe("validation at registration", () => {
  it("refuses unknown targets, weights that are not positive, and nested pools, naming the field", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("a"));
    const register = (id: string, load_balance: unknown) =>
      api<{ error: { message: string } }>("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel(id), load_balance } });

    const unknown = await register("p1", { strategy: "weighted", targets: [{ model_id: "a" }, { model_id: "ghost" }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/^load_balance\.targets\[1\]\.model_id: model "ghost" is not registered/);

    const zero = await register("p2", { strategy: "weighted", targets: [{ model_id: "a", weight: 0 }] });
    expect(zero.status).toBe(400);
    expect(zero.body.error.message).toMatch(/load_balance.*targets.*weight/);

    const strategy = await register("p3", { strategy: "round_robin", targets: [{ model_id: "a" }] });
    expect(strategy.status).toBe(400);
    expect(strategy.body.error.message).toMatch(/load_balance.*strategy/);

    expect((await register("p4", { strategy: "weighted", targets: [{ model_id: "a" }] })).status).toBe(201);
    const nested = await register("p5", { strategy: "weighted", targets: [{ model_id: "p4" }] });
    expect(nested.status).toBe(400);
    expect(nested.body.error.message).toMatch(/targets\[0\]\.model_id: model "p4" has its own load_balance/);
    const intoTarget = await api<{ error: { message: string } }>("PATCH", "/api/v1/models/a", {
      token: tenant.adminKey,
      body: { load_balance: { strategy: "weighted", targets: [{ model_id: "a" }] } },
    });
    expect(intoTarget.status).toBe(400);
    expect(intoTarget.body.error.message).toMatch(/^load_balance: this model is a target of "p4"/);
    const models = (await api<{ models: { id: string }[] }>("GET", "/api/v1/models", { token: tenant.adminKey })).body.models;
    expect(models.map((m) => m.id).sort()).toEqual(["a", "p4"]);
  });

  it("refuses load_balance inside config, saying it is a field of the model beside fallbacks", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("a"));
    const balance = { strategy: "weighted", targets: [{ model_id: "a" }] };
    const registered = await api<{ error: { message: string } }>("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: openaiModel("p", "gpt-fake", { load_balance: balance }),
    });
    expect(registered.status).toBe(400);
    expect(registered.body.error.message).toMatch(/^config\.load_balance: load_balance is a field of the model, beside fallbacks, not of its config/);
    const patched = await api<{ error: { message: string } }>("PATCH", "/api/v1/models/a", {
      token: tenant.adminKey,
      body: { config: { load_balance: balance } },
    });
    expect(patched.status).toBe(400);
    expect(patched.body.error.message).toMatch(/field of the model, beside fallbacks/);
    // The MCP tool says the same.
    const viaMcp = await callTool(tenant.adminKey, "register_model", openaiModel("q", "gpt-fake", { load_balance: balance }));
    expect(JSON.stringify(viaMcp.tool)).toMatch(/field of the model, beside fallbacks/);
  });

  it("stores the pool as the model's own field: shown by the API and get_model, replaced by PATCH, removed by null", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("a"));
    await registerModel(tenant, openaiModel("b"));
    const balance = { strategy: "least_latency", targets: [{ model_id: "a" }, { model_id: "b", weight: 2 }], sticky: true };
    const created = await api<{ load_balance: unknown; config: Record<string, unknown> }>("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: { ...openaiModel("p"), load_balance: balance },
    });
    expect(created.status).toBe(201);
    expect(created.body.load_balance).toEqual(balance);
    expect(created.body.config).not.toHaveProperty("load_balance");
    const got = await callTool(tenant.adminKey, "get_model", { model_id: "p" });
    expect((got.tool.structuredContent as { load_balance: unknown }).load_balance).toEqual(balance);

    const narrowed = await api<{ load_balance: unknown }>("PATCH", "/api/v1/models/p", {
      token: tenant.adminKey,
      body: { load_balance: { strategy: "weighted", targets: [{ model_id: "b" }] } },
    });
    expect(narrowed.body.load_balance).toEqual({ strategy: "weighted", targets: [{ model_id: "b" }] });
    // A PATCH that does not name it keeps it.
    expect(
      (await api<{ load_balance: unknown }>("PATCH", "/api/v1/models/p", { token: tenant.adminKey, body: { name: "Pool" } })).body.load_balance,
    ).toEqual({
      strategy: "weighted",
      targets: [{ model_id: "b" }],
    });
    const removed = await api<{ load_balance: unknown }>("PATCH", "/api/v1/models/p", { token: tenant.adminKey, body: { load_balance: null } });
    expect(removed.status).toBe(200);
    expect(removed.body.load_balance).toBeNull();
  });

  it("refuses to remove a pool's target, naming the pool, as it refuses a fallback's", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("a"));
    await registerModel(tenant, openaiModel("b"));
    await registerModel(tenant, { ...openaiModel("p"), load_balance: { strategy: "weighted", targets: [{ model_id: "a" }, { model_id: "b" }] } });
    const refused = await api<{ error: { message: string } }>("DELETE", "/api/v1/models/a", { token: tenant.adminKey });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/"a" is a target of the load_balance of p; remove it from their load_balance\.targets first/);
    await api("PATCH", "/api/v1/models/p", {
      token: tenant.adminKey,
      body: { load_balance: { strategy: "weighted", targets: [{ model_id: "b" }] } },
    });
    expect((await api("DELETE", "/api/v1/models/a", { token: tenant.adminKey })).status).toBe(200);
  });
});

describe("budgets", () => {
  it("reserve the worst case of the dearest target: a pool priced at nothing over a priced target is held to the target's price", async () => {
    const priced = { max_retries: 0, pricing: { input_per_mtok: 1000, output_per_mtok: 1000 } };
    const { tenant, ups } = await pool(["dear"], { strategy: "weighted", targets: [{ model_id: "dear" }] }, priced);
    // $0.05 a month at $1000 per million tokens: 50 tokens' worth; the call's worst case is over 100.
    expect((await api("PUT", `/api/v1/tenants/${tenant.id}/budget`, { token: OPERATOR, body: { period: "month", cost_usd: 0.05 } })).status).toBe(
      200,
    );
    const refused = await api<{ error: { code: string } }>("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: { model: "pool", max_tokens: 100, messages: [{ role: "user", content: "hi" }] },
    });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("budget_exceeded");
    expect(await fakes.openai.requests(ups.dear!)).toHaveLength(0);
  });
});

describe("a pool the previous version stored in config (migration 14)", () => {
  it("moves config.load_balance into the model's load_balance column, leaving the rest of the config", async () => {
    const stub = env.TENANTS.getByName(uniqueId("do"));
    await runInDurableObject(stub, (instance: TenantRegistry, state) => {
      instance.activate("t");
      expect(instance.insertModel(null, storedModel("a")).ok).toBe(true);
      // The registry as the previous version left it: schema 13, no column, the pool inside config.
      const sql = state.storage.sql;
      sql.exec("ALTER TABLE models DROP COLUMN load_balance");
      sql.exec("UPDATE schema_version SET version = ?", MIGRATIONS.length - 1);
      const balance = { strategy: "weighted", targets: [{ model_id: "a", weight: 3 }, { model_id: "p" }], sticky: true };
      const config = { base_url: "https://api.example.com/v1", model_name: "m", timeout: 60, max_retries: 2, load_balance: balance };
      sql.exec(
        `INSERT INTO models (id, name, backend_type, config, capabilities, fallbacks, created_at, updated_at)
         VALUES ('p', 'p', 'openai_compatible', ?, '["chat"]', '[]', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
        JSON.stringify(config),
      );
      expect(migrate(state.storage)).toBe(MIGRATIONS.length);
      const moved = instance.getModel("p")!;
      expect(moved.load_balance).toEqual(balance);
      expect(moved.config).toEqual({ base_url: "https://api.example.com/v1", model_name: "m", timeout: 60, max_retries: 2 });
      expect(instance.getModel("a")!.load_balance).toBeNull();
      // And the move holds: the pool's target cannot be removed from under it.
      expect(instance.deleteModel(null, "a")).toMatchObject({ ok: false, code: "conflict" });
    });
  });
});
