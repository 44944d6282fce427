/**
 * What a call is charged when it does not simply succeed, and what a budget
 * does to what is sent: timed-out attempts are charged what the upstream may
 * have generated, `max_tokens` always reaches the upstream under a budget,
 * images count by number and size class, fields that multiply cost are refused
 * under a budget, and a hold nobody settled is charged at its worst case.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { DEFAULT_MAX_TOKENS, IMAGE_TOKENS, WORST_CASE_TOKENS_PER_S } from "../../src/usage/cost";
import { api, createTenant, env, fakes, openaiModel, registerModel, uniqueId } from "./helpers";

interface Totals {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  estimated_requests: number;
}

async function usage(token: string) {
  const report = await api<{ totals: Totals; budgets: { used: { tokens: number } }[] }>("GET", "/api/v1/usage", { token });
  expect(report.status, report.text).toBe(200);
  return report.body;
}

async function tenantWith(config: Record<string, unknown> = {}, budget?: Record<string, unknown>) {
  const tenant = await createTenant({ grantCanary: true });
  const up = uniqueId("spend");
  await registerModel(tenant, { ...openaiModel("gpt", up, config), features: ["vision"] });
  if (budget) {
    const set = await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, { token: tenant.adminKey, body: { budget } });
    expect(set.status, set.text).toBe(200);
  }
  return { tenant, up };
}

const chat = (content: unknown, extra: Record<string, unknown> = {}) => ({ model: "gpt", messages: [{ role: "user", content }], ...extra });

describe("spend of calls that fail", () => {
  it("non-streamed calls that time out are charged their prompt and what the upstream could have generated meanwhile", async () => {
    const { tenant, up } = await tenantWith({ timeout: 1, max_retries: 0 });
    const CALLS = 20;
    await fakes.openai.script(
      up,
      Array.from({ length: CALLS }, () => ({ kind: "hang" })),
    );
    const answers = await Promise.all(
      Array.from({ length: CALLS }, () =>
        api("POST", "/v1/chat/completions", { token: tenant.userKey, body: chat("write forever", { max_tokens: 32768 }) }),
      ),
    );
    for (const a of answers) expect(a.status).toBe(504);
    const { totals } = await usage(tenant.adminKey);
    expect(totals).toMatchObject({ requests: CALLS, errors: CALLS, estimated_requests: CALLS });
    // Each attempt ran its 1 s timeout: at 250 tokens a second it could have generated about 250 tokens.
    expect(totals.completion_tokens).toBeGreaterThanOrEqual(CALLS * WORST_CASE_TOKENS_PER_S);
    expect(totals.completion_tokens).toBeLessThan(CALLS * WORST_CASE_TOKENS_PER_S * 2);
    expect(totals.prompt_tokens).toBeGreaterThan(0);
  });

  it("a stream that timed out waiting for its first token is charged its prompt, and each retry counts", async () => {
    const { tenant, up } = await tenantWith({ timeout: 5, first_token_timeout: 1, max_retries: 1 });
    await fakes.openai.script(up, [{ kind: "no_first_token" }, { kind: "no_first_token" }]);
    const res = await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: chat("hello there", { stream: true, max_tokens: 100 }) });
    expect(res.status).toBe(504);
    expect(await fakes.openai.requests(up)).toHaveLength(2);
    const { totals } = await usage(tenant.adminKey);
    expect(totals).toMatchObject({ requests: 1, errors: 1, completion_tokens: 0 });
    // Two attempts, each charged the prompt estimate.
    expect(totals.prompt_tokens % 2).toBe(0);
    expect(totals.prompt_tokens).toBeGreaterThan(0);
  });
});

describe("what a budget changes in what is sent", () => {
  it("max_tokens reaches the upstream under a budget (the amount held); without a budget nothing is added", async () => {
    const { tenant, up } = await tenantWith({}, { period: "day", tokens: 1_000_000 });
    expect((await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: chat("bounded") })).status).toBe(200);
    expect((await api("POST", "/v1/chat/completions", { token: tenant.adminKey, body: chat("unbounded") })).status).toBe(200);
    const sent = (await fakes.openai.requests<{ max_tokens?: number; messages: { content: string }[] }>(up)).map((r) => r.body);
    expect(sent.map((b) => [b.messages[0]!.content, b.max_tokens])).toEqual([
      ["bounded", DEFAULT_MAX_TOKENS],
      ["unbounded", undefined],
    ]);
  });

  it("concurrent calls without max_tokens: only as many as the budget holds at their worst case are admitted, each bounded upstream", async () => {
    const { tenant, up } = await tenantWith({}, { period: "day", tokens: 10_000 });
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => api("POST", "/v1/chat/completions", { token: tenant.userKey, body: chat("hi") })),
    );
    const admitted = answers.filter((a) => a.status === 200);
    expect(admitted.length).toBeGreaterThan(0);
    // 10 000 tokens hold at most two worst cases of a few prompt tokens + 4096.
    expect(admitted.length).toBeLessThanOrEqual(2);
    for (const a of answers.filter((a) => a.status !== 200)) expect(a.status).toBe(429);
    const sent = await fakes.openai.requests<{ max_tokens?: number }>(up);
    expect(sent.map((r) => r.body.max_tokens)).toEqual(admitted.map(() => DEFAULT_MAX_TOKENS));
  });

  it("images count by number and size class, not by the length of their URL", async () => {
    const { tenant, up } = await tenantWith({}, { period: "day", tokens: 4 * IMAGE_TOKENS.other - 1 + DEFAULT_MAX_TOKENS });
    const images = (detail: "low" | "high") =>
      Array.from({ length: 4 }, (_, i) => ({ type: "image_url", image_url: { url: `https://img.example/${i}.png`, detail } }));
    const big = await api<{ error: { code: string; message: string } }>("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: chat([{ type: "text", text: "what?" }, ...images("high")]),
    });
    expect(big.status).toBe(429);
    expect(big.body.error.code).toBe("budget_exceeded");
    const small = await api("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: chat([{ type: "text", text: "what?" }, ...images("low")]),
    });
    expect(small.status, small.text).toBe(200);
    expect(await fakes.openai.requests(up)).toHaveLength(1);
  });

  it("fields that multiply what a call costs are refused under a budget, naming the field, and pass without one", async () => {
    const { tenant, up } = await tenantWith({}, { period: "day", tokens: 1_000_000 });
    for (const extra of [{ service_tier: "priority" }, { web_search_options: {} }, { modalities: ["text", "audio"] }]) {
      const res = await api<{ error: { message: string } }>("POST", "/v1/chat/completions", { token: tenant.userKey, body: chat("hi", extra) });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.body.error.message).toMatch(new RegExp(`^${Object.keys(extra)[0]}: multiplies what a call costs`));
    }
    expect(await fakes.openai.requests(up)).toHaveLength(0);
    expect((await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: chat("hi", { service_tier: "flex" }) })).status).toBe(200);
    expect((await api("POST", "/v1/chat/completions", { token: tenant.adminKey, body: chat("hi", { service_tier: "priority" }) })).status).toBe(200);
    const sent = await fakes.openai.requests<{ service_tier?: string }>(up);
    expect(sent.map((r) => r.body.service_tier)).toEqual(["flex", "priority"]);
  });
});

describe("holds nobody settled", () => {
  it("a reservation whose call never reported is charged at its worst case once it expires, not given away", async () => {
    const { tenant } = await tenantWith({}, { period: "month", tokens: 1_000_000 });
    const fourHoursAgo = Date.now() - 4 * 3_600_000;
    await runInDurableObject(env.TENANTS.getByName(tenant.id), (_instance: TenantRegistry, state) => {
      state.storage.sql.exec(
        "INSERT INTO reservations (id, key_id, model_id, tokens, cost_nano, at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "lost-call",
        tenant.userKeyId,
        "gpt",
        4321,
        0,
        fourHoursAgo,
        fourHoursAgo + 3 * 3_600_000,
      );
    });
    // The next budgeted call settles it.
    expect((await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: chat("next", { max_tokens: 5 }) })).status).toBe(200);
    const report = await usage(tenant.adminKey);
    expect(report.totals).toMatchObject({ requests: 2, errors: 1 });
    expect(report.totals.completion_tokens).toBeGreaterThanOrEqual(4321);
    expect(report.budgets[0]!.used.tokens).toBeGreaterThanOrEqual(4321);
  });
});
