/**
 * Budgets: a request is admitted only when its worst case fits what is left,
 * in the tenant's Durable Object, so concurrent requests cannot overshoot; an
 * exhausted budget answers 429 budget_exceeded and nothing reaches the
 * upstream; periods reset at 00:00 UTC and on the 1st (an injected clock).
 */
import { describe, expect, it } from "vitest";
import { periodEnd, periodStart } from "../../src/usage/budget";
import { api, callTool, createTenant, env, fakes, OPERATOR, openaiModel, registerModel, uniqueId } from "./helpers";

const chatBody = (content: string, max_tokens = 5) => ({ model: "gpt", max_tokens, messages: [{ role: "user", content }] });

async function budgeted(budget: Record<string, unknown>) {
  const tenant = await createTenant({ grantCanary: true });
  const up = uniqueId("budget");
  await registerModel(tenant, openaiModel("gpt", up));
  const set = await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, { token: tenant.adminKey, body: { budget } });
  expect(set.status, set.text).toBe(200);
  return { tenant, up };
}

describe("budgets", () => {
  it("a key budget under 20 concurrent requests: admitted spend never exceeds it, and the request after exhaustion gets 429 with nothing sent upstream", async () => {
    const BUDGET = 50;
    const { tenant, up } = await budgeted({ period: "day", tokens: BUDGET });
    const send = () =>
      api<{ usage?: { total_tokens: number }; error?: { code: string; message: string } }>("POST", "/v1/chat/completions", {
        token: tenant.userKey,
        body: chatBody("count me"),
      });

    const burst = await Promise.all(Array.from({ length: 20 }, send));
    const admitted = burst.filter((r) => r.status === 200);
    const refused = burst.filter((r) => r.status === 429);
    expect(admitted.length + refused.length).toBe(20);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(r.body.error?.code).toBe("budget_exceeded");
    const spent = admitted.reduce((n, r) => n + r.body.usage!.total_tokens, 0);
    expect(spent).toBeLessThanOrEqual(BUDGET);
    expect(await fakes.openai.requests(up)).toHaveLength(admitted.length);
    for (const r of admitted) expect(r.headers.get("x-gateway-budget-remaining")).toMatch(/^tokens=\d+$/);

    // Spend what is left, one request at a time, until the budget refuses.
    let last = await send();
    let sequential = last.status === 200 ? 1 : 0;
    while (last.status === 200 && sequential < 20) {
      last = await send();
      if (last.status === 200) sequential++;
    }
    expect(last.status).toBe(429);
    expect(last.body.error?.code).toBe("budget_exceeded");
    expect(last.body.error?.message).toMatch(new RegExp(`key ${tenant.userKeyId}'s token budget of ${BUDGET} tokens per day`));
    const tomorrow = new Date(periodEnd("day", Date.now())).toISOString();
    expect(last.body.error?.message).toContain(`resets at ${tomorrow}`);
    const retryAfter = Number(last.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);

    const calls = admitted.length + sequential;
    expect(await fakes.openai.requests(up)).toHaveLength(calls);
    const report = await api<{
      totals: { requests: number; total_tokens: number };
      budgets: { key_id: string; used: { tokens: number }; in_flight: { tokens: number } }[];
    }>("GET", "/api/v1/usage", { token: tenant.adminKey });
    expect(report.body.totals.requests).toBe(calls);
    expect(report.body.totals.total_tokens).toBeLessThanOrEqual(BUDGET);
    expect(report.body.budgets).toEqual([
      expect.objectContaining({
        scope: "key",
        key_id: tenant.userKeyId,
        used: { tokens: report.body.totals.total_tokens, cost_usd: 0 },
        in_flight: { tokens: 0, cost_usd: 0 },
      }),
    ]);
    // Other keys of the tenant have no budget.
    expect((await api("POST", "/v1/chat/completions", { token: tenant.adminKey, body: chatBody("admin") })).status).toBe(200);
  });

  it("the operator's tenant budget applies to every key; MCP answers isError; removing it lifts it", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("tb");
    await registerModel(tenant, openaiModel("gpt", up, { pricing: { input_per_mtok: 1000, output_per_mtok: 1000 } }));
    const path = `/api/v1/tenants/${tenant.id}/budget`;
    expect((await api("PUT", path, { token: tenant.adminKey, body: { period: "month", cost_usd: 1 } })).status).toBe(401);
    expect((await api("PUT", path, { token: OPERATOR, body: { period: "week", tokens: 1 } })).status).toBe(400);
    expect((await api("PUT", path, { token: OPERATOR, body: { period: "month" } })).status).toBe(400);
    // $0.05 a month at $1000 per million tokens: 50 tokens' worth.
    const set = await api("PUT", path, { token: OPERATOR, body: { period: "month", cost_usd: 0.05 } });
    expect(set.body).toEqual({ tenant_id: tenant.id, budget: { period: "month", cost_usd: 0.05 } });

    const ok = await api("POST", "/v1/chat/completions", { token: tenant.adminKey, body: chatBody("hello", 20) });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-gateway-budget-remaining")).toMatch(/^cost_usd=0\.0\d+$/);
    // Worst case: ceil(chars / 4) of the messages + 4096 default max_tokens, far over what is left.
    const refused = await callTool(tenant.userKey, "chat", { model_id: "gpt", messages: [{ role: "user", content: "no max_tokens" }] });
    expect(refused.tool.isError).toBe(true);
    expect(refused.tool.content[0]?.text).toMatch(
      /Budget exceeded: the tenant's cost budget of \$0\.05 per month.*resets at \d{4}-\d{2}-01T00:00:00\.000Z.*\[budget_exceeded\]/,
    );
    expect(await fakes.openai.requests(up)).toHaveLength(1);

    const usage = await api<{ budgets: { scope: string; remaining: { cost_usd: number } }[] }>("GET", `/api/v1/tenants/${tenant.id}/usage`, {
      token: OPERATOR,
    });
    expect(usage.body.budgets[0]).toMatchObject({ scope: "tenant", period: "month" });
    expect(usage.body.budgets[0]!.remaining.cost_usd).toBeGreaterThan(0);

    expect((await api("DELETE", path, { token: OPERATOR })).status).toBe(200);
    const free = await callTool(tenant.userKey, "chat", { model_id: "gpt", messages: [{ role: "user", content: "no max_tokens" }] });
    expect(free.tool.isError).toBeFalsy();
  });

  it("a key created with a budget, changed and removed by an admin key", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("gpt", uniqueId("kb")));
    const created = await api<{ id: string; key: string; budget: unknown }>("POST", "/api/v1/keys", {
      token: tenant.adminKey,
      body: { role: "user", budget: { period: "day", tokens: 10 } },
    });
    expect(created.status).toBe(201);
    expect(created.body.budget).toEqual({ period: "day", tokens: 10 });
    const tooBig = await api("POST", "/v1/chat/completions", { token: created.body.key, body: chatBody("hi", 50) });
    expect(tooBig.status).toBe(429);
    expect(await api("PATCH", `/api/v1/keys/${created.body.id}`, { token: tenant.adminKey, body: { budget: null } })).toMatchObject({ status: 200 });
    expect((await api("POST", "/v1/chat/completions", { token: created.body.key, body: chatBody("hi", 50) })).status).toBe(200);
    expect((await api("PATCH", `/api/v1/keys/key_nope`, { token: tenant.adminKey, body: { budget: null } })).status).toBe(404);
    expect(
      (await api("PATCH", `/api/v1/keys/${created.body.id}`, { token: tenant.adminKey, body: { budget: { period: "day", tokens: -1 } } })).status,
    ).toBe(400);
  });
});

describe("budget periods (an injected clock)", () => {
  it("periods are UTC days from 00:00 and months from the 1st", () => {
    const t = Date.UTC(2028, 1, 29, 23, 59, 59, 999); // a leap day, the last millisecond
    expect(new Date(periodStart("day", t)).toISOString()).toBe("2028-02-29T00:00:00.000Z");
    expect(new Date(periodEnd("day", t)).toISOString()).toBe("2028-03-01T00:00:00.000Z");
    expect(new Date(periodStart("month", t)).toISOString()).toBe("2028-02-01T00:00:00.000Z");
    expect(new Date(periodEnd("month", t)).toISOString()).toBe("2028-03-01T00:00:00.000Z");
    expect(new Date(periodEnd("month", Date.UTC(2026, 11, 31, 12))).toISOString()).toBe("2027-01-01T00:00:00.000Z");
  });

  it("a day budget resets at 00:00 UTC and a month budget on the 1st, in the tenant's object", async () => {
    const tenant = await createTenant();
    const key = tenant.userKeyId;
    const stub = env.TENANTS.getByName(tenant.id);
    await stub.setBudget(null, key, { period: "day", tokens: 100 }, "2026-11-01T00:00:00Z");
    await stub.setBudget(null, null, { period: "month", tokens: 150 }, "2026-11-01T00:00:00Z");
    const ask = async (tokens: number, now: number) => {
      const id = crypto.randomUUID();
      return { id, verdict: await stub.reserveUsage(null, { id, key_id: key, model_id: "m", tokens, cost_nano: 0 }, now) };
    };
    const settle = (reservation: string, tokens: number, at: number) =>
      stub.recordUsage(
        null,
        crypto.randomUUID(),
        [{ at, key_id: key, model_id: "m", ok: true, prompt_tokens: tokens, completion_tokens: 0, estimated: false, cost_nano: 0, reservation }],
        at,
      );

    const evening = Date.UTC(2026, 10, 29, 23, 59);
    const first = await ask(80, evening);
    expect(first.verdict).toMatchObject({ ok: true, held: true, left: { tokens: 100 } });
    // While the call is in flight its worst case is held: 80 + 30 > 100.
    expect((await ask(30, evening)).verdict).toMatchObject({
      ok: false,
      refusal: { scope: { kind: "key", key_id: key }, limit: "tokens", resets_at: Date.UTC(2026, 10, 30) },
    });
    // Settled with what it really used (70): the rest is released.
    await settle(first.id, 70, evening);
    const second = await ask(30, evening);
    expect(second.verdict).toMatchObject({ ok: true, left: { tokens: 30 } });
    await settle(second.id, 30, evening);
    expect((await ask(1, Date.UTC(2026, 10, 29, 23, 59, 59, 999))).verdict.ok).toBe(false);

    // 00:00 UTC: the key's day budget starts afresh; the tenant's month budget (150) has 50 left.
    const midnight = Date.UTC(2026, 10, 30);
    expect((await ask(60, midnight)).verdict).toMatchObject({
      ok: false,
      refusal: { scope: { kind: "tenant" }, limit: "tokens", resets_at: Date.UTC(2026, 11, 1) },
    });
    const third = await ask(50, midnight);
    expect(third.verdict).toMatchObject({ ok: true, left: { tokens: 50 } });
    await settle(third.id, 50, midnight);
    expect((await ask(1, Date.UTC(2026, 10, 30, 23))).verdict.ok).toBe(false);

    // The 1st: both start afresh.
    expect((await ask(100, Date.UTC(2026, 11, 1))).verdict).toMatchObject({ ok: true, left: { tokens: 100 } });
  });
});
