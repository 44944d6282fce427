/**
 * Usage counting: every call counted once, with the upstream's own numbers,
 * against the tenant, the key and the model that answered; the same numbers
 * through the admin API, the operator API and the MCP tool; nothing of one
 * tenant visible to another.
 */
import { exports } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, fakes, OPERATOR, openaiModel, registerModel, type Tenant, uniqueId, openaiClient } from "./helpers";

interface Totals {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  estimated_requests: number;
  cost_usd: number;
}
interface Report {
  granularity: string;
  key_id: string | null;
  totals: Totals;
  groups: (Totals & { model_id?: string; key_id?: string; day?: string })[];
  budgets: unknown[];
}

export async function usage(token: string, query = ""): Promise<Report> {
  const res = await api<Report>("GET", `/api/v1/usage${query}`, { token });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

const group = (report: Report, id: string) => report.groups.find((g) => g.model_id === id || g.key_id === id || g.day === id);

async function tenantWithModels(): Promise<{ tenant: Tenant; up: string }> {
  const tenant = await createTenant({ grantCanary: true });
  const up = uniqueId("use");
  await registerModel(tenant, openaiModel("gpt", up, { pricing: { input_per_mtok: 2, output_per_mtok: 8 } }));
  await registerModel(tenant, { ...openaiModel("vec", "fake-embed"), capabilities: ["embedding"] });
  await registerModel(tenant, {
    id: "sst",
    name: "sst",
    backend_type: "workers_ai",
    config: { model_name: "@cf/huggingface/distilbert-sst-2-int8", timeout: 2 },
  });
  return { tenant, up };
}

describe("usage counting", () => {
  it("counts every call once with the upstream's own usage: chat, completion, embedding, classification, streamed and not", async () => {
    const { tenant, up } = await tenantWithModels();
    const openai = openaiClient(tenant.userKey);
    const seen: { prompt: number; completion: number }[] = [];
    const add = (u: { prompt_tokens: number; completion_tokens?: number } | null | undefined) => {
      expect(u).toBeTruthy();
      seen.push({ prompt: u!.prompt_tokens, completion: u!.completion_tokens ?? 0 });
    };

    add((await openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "count this call" }] })).usage);
    let streamed: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "and this streamed one" }],
      stream: true,
      stream_options: { include_usage: true },
    })) {
      streamed = chunk.usage ?? streamed;
    }
    add(streamed);
    add((await openai.completions.create({ model: "gpt", prompt: "once upon a time" })).usage);
    // Streamed without include_usage: the gateway still asks the upstream for usage, and counts it.
    for await (const chunk of await openai.completions.create({ model: "gpt", prompt: "a b c", stream: true })) void chunk;
    const direct = await fakes.openai.requests<{ stream?: boolean; stream_options?: unknown }>(up);
    const streams = direct.filter((r) => r.body.stream);
    expect(streams).toHaveLength(2);
    expect(streams.every((r) => JSON.stringify(r.body.stream_options) === '{"include_usage":true}')).toBe(true);
    seen.push({ prompt: 0, completion: "a b c …continued".split(" ").length }); // the fake's stream usage counts the completion only
    // MCP chat, streamed with a progressToken.
    const mcp = await callTool(tenant.userKey, "chat", { model_id: "gpt", messages: [{ role: "user", content: "via mcp" }] }, { progressToken: "p" });
    const mcpUsage = mcp.tool.structuredContent?.usage as { prompt_tokens: number; completion_tokens: number };
    add(mcpUsage);

    const embedded = await openai.embeddings.create({ model: "vec", input: ["alpha beta", "gamma"], encoding_format: "float" });
    expect(embedded.usage.prompt_tokens).toBe(3); // the fake's own count, passed on unchanged
    const classified = await callTool(tenant.userKey, "classify", { model_id: "sst", text: "I love this" });
    expect(classified.tool.isError).toBeFalsy();

    const report = await usage(tenant.adminKey);
    const gpt = group(report, "gpt")!;
    const prompt = seen.reduce((n, s) => n + s.prompt, 0);
    const completion = seen.reduce((n, s) => n + s.completion, 0);
    expect(gpt).toMatchObject({ requests: 5, errors: 0, prompt_tokens: prompt, completion_tokens: completion, estimated_requests: 0 });
    expect(gpt.cost_usd).toBeCloseTo((prompt * 2 + completion * 8) / 1e6, 12);
    expect(group(report, "vec")).toMatchObject({ requests: 1, prompt_tokens: 3, completion_tokens: 0, estimated_requests: 0, cost_usd: 0 });
    // Workers AI classifiers report no usage: the gateway's estimate, ceil(chars / 4), marked as such.
    expect(group(report, "sst")).toMatchObject({
      requests: 1,
      prompt_tokens: Math.ceil("I love this".length / 4),
      completion_tokens: 0,
      estimated_requests: 1,
    });
    expect(report.totals.requests).toBe(7);
    // The default range (the last 30 days) reads daily rows; a range within the last 7 days reads hourly ones, with the same sums.
    expect(report.granularity).toBe("day");
    const hourly = await usage(tenant.adminKey, `?from=${new Date(Date.now() - 3_600_000).toISOString()}`);
    expect(hourly.granularity).toBe("hour");
    expect(hourly.totals).toEqual(report.totals);

    // Reading again counts nothing twice.
    expect((await usage(tenant.adminKey)).totals).toEqual(report.totals);
  });

  it("cached and reasoning tokens: the upstream's figures in get_usage, streamed and not, each edge's own usage, and the cache price", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("cache");
    const pricing = { input_per_mtok: 2, output_per_mtok: 8, cache_read_per_mtok: 0.5 };
    await registerModel(tenant, openaiModel("gpt", up, { pricing }));
    const openai = openaiClient(tenant.userKey);
    await fakes.openai.script(up, [
      { kind: "cache_usage", cached: 1000, reasoning: 7 },
      { kind: "cache_usage", cached: 2000, reasoning: 11 },
      { kind: "cache_usage", cached: 500, reasoning: 3 },
      { kind: "cache_usage", cached: 300, reasoning: 5 },
    ]);
    const whole = await openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "a long cached prefix" }] });
    expect(whole.usage?.prompt_tokens_details?.cached_tokens).toBe(1000);
    expect(whole.usage?.completion_tokens_details?.reasoning_tokens).toBe(7);
    let streamed: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "again, streamed" }],
      stream: true,
      stream_options: { include_usage: true },
    })) {
      streamed = chunk.usage ?? streamed;
    }
    expect(streamed?.prompt_tokens_details?.cached_tokens).toBe(2000);
    expect(streamed?.completion_tokens_details?.reasoning_tokens).toBe(11);
    // Anthropic's usage counts cached prompt tokens apart from input_tokens.
    const messages = await api<{ usage: Record<string, number> }>("POST", "/v1/messages", {
      token: tenant.userKey,
      body: { model: "gpt", max_tokens: 50, messages: [{ role: "user", content: "as a message" }] },
    });
    expect(messages.status, messages.text).toBe(200);
    expect(messages.body.usage.cache_read_input_tokens).toBe(500);

    // The Responses API's usage has them under input_tokens_details / output_tokens_details.
    const responded = await openai.responses.create({ model: "gpt", input: "as a response", store: false });
    expect(responded.usage).toMatchObject({ input_tokens_details: { cached_tokens: 300 }, output_tokens_details: { reasoning_tokens: 5 } });

    const report = await usage(tenant.adminKey);
    const gpt = group(report, "gpt")!;
    const prompt = whole.usage!.prompt_tokens + streamed!.prompt_tokens + messages.body.usage.input_tokens! + 500 + responded.usage!.input_tokens;
    const completion =
      whole.usage!.completion_tokens + streamed!.completion_tokens + messages.body.usage.output_tokens! + responded.usage!.output_tokens;
    expect(gpt).toMatchObject({
      requests: 4,
      prompt_tokens: prompt,
      completion_tokens: completion,
      cached_tokens: 3800,
      cache_write_tokens: 0,
      reasoning_tokens: 26,
      estimated_requests: 0,
    });
    // Cached tokens at the cache price, the rest of the prompt at the input price.
    expect(gpt.cost_usd).toBeCloseTo(((prompt - 3800) * 2 + 3800 * 0.5 + completion * 8) / 1e6, 12);
    const mcp = await callTool(tenant.adminKey, "get_usage", {});
    expect((mcp.tool.structuredContent as unknown as Report).totals).toEqual(report.totals);
  });

  it("counts a call against the fallback that answered, and a failed call as an error", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const [down, backup] = [uniqueId("down"), uniqueId("backup")];
    await registerModel(tenant, openaiModel("backup", backup));
    await registerModel(tenant, { ...openaiModel("primary", down, { max_retries: 0 }), fallbacks: ["backup"] });
    await fakes.openai.script(down, [{ kind: "status", status: 500 }]);
    const answered = await openaiClient(tenant.userKey).chat.completions.create({
      model: "primary",
      messages: [{ role: "user", content: "who answers" }],
    });
    expect(answered.model).toBe("backup");

    await registerModel(tenant, openaiModel("alone", down, { max_retries: 0 }));
    await fakes.openai.script(down, [{ kind: "status", status: 500 }]);
    const failed = await api("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: { model: "alone", messages: [{ role: "user", content: "x" }] },
    });
    expect(failed.status).toBe(502);

    const report = await usage(tenant.adminKey);
    expect(group(report, "backup")).toMatchObject({
      requests: 1,
      errors: 0,
      prompt_tokens: answered.usage!.prompt_tokens,
      completion_tokens: answered.usage!.completion_tokens,
    });
    expect(group(report, "primary")).toBeUndefined();
    expect(group(report, "alone")).toMatchObject({ requests: 1, errors: 1, prompt_tokens: 0, completion_tokens: 0 });
  });

  it("a client that disconnects mid-stream: the call is settled with what was generated", async () => {
    const { tenant, up } = await tenantWithModels();
    await fakes.openai.script(up, [{ kind: "slow_stream", delayMs: 150 }]);
    const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
    const controller = new AbortController();
    const res = await exports.default.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.userKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt", stream: true, messages: [{ role: "user", content: words }] }),
        signal: controller.signal,
      }),
    );
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    controller.abort();

    let report = await usage(tenant.adminKey);
    for (let i = 0; i < 100 && report.totals.requests === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      report = await usage(tenant.adminKey);
    }
    const gpt = group(report, "gpt")!;
    expect(gpt.requests).toBe(1);
    // Whatever the upstream generated before the call ended is counted, never more than the whole reply.
    expect(gpt.completion_tokens).toBeGreaterThan(0);
    expect(gpt.completion_tokens).toBeLessThan(`echo: ${words}`.split(" ").length);
    expect(gpt).toMatchObject({ errors: 1, estimated_requests: 1 });
  });
});

describe("reading usage", () => {
  it("groups by key and day, and gives the operator and MCP the same numbers", async () => {
    const { tenant } = await tenantWithModels();
    await openaiClient(tenant.userKey).chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "from the user key" }] });
    await openaiClient(tenant.adminKey).chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "from the admin key" }] });

    const byKey = await usage(tenant.adminKey, "?group_by=key");
    expect(group(byKey, tenant.userKeyId)).toMatchObject({ requests: 1 });
    expect(group(byKey, tenant.adminKeyId)).toMatchObject({ requests: 1 });
    const today = new Date().toISOString().slice(0, 10);
    const byDay = await usage(tenant.adminKey, `?group_by=day&from=${today}`);
    expect(byDay.groups).toEqual([expect.objectContaining({ day: today, requests: 2 })]);

    const operator = await api<Report>("GET", `/api/v1/tenants/${tenant.id}/usage?group_by=key`, { token: OPERATOR });
    expect(operator.status).toBe(200);
    expect(operator.body.groups).toEqual(byKey.groups);

    const mcpAdmin = await callTool(tenant.adminKey, "get_usage", { group_by: "key" });
    expect((mcpAdmin.tool.structuredContent as unknown as Report).groups).toEqual(byKey.groups);
    // A user key sees its own calls only.
    const mcpUser = await callTool(tenant.userKey, "get_usage", {});
    const own = mcpUser.tool.structuredContent as unknown as Report;
    expect(own.key_id).toBe(tenant.userKeyId);
    expect(own.totals.requests).toBe(1);

    const old = await usage(tenant.adminKey, "?from=2020-01-01&to=2020-02-01");
    expect(old).toMatchObject({ granularity: "day", totals: { requests: 0 } });
    expect((await api("GET", "/api/v1/usage?group_by=week", { token: tenant.adminKey })).status).toBe(400);
    expect((await api("GET", "/api/v1/usage?from=yesterday", { token: tenant.adminKey })).status).toBe(400);
  });

  it("another tenant's usage is never visible; a user key cannot read the tenant's usage or set budgets", async () => {
    const { tenant } = await tenantWithModels();
    const other = await createTenant();
    await openaiClient(tenant.userKey).chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "mine" }] });
    expect((await usage(other.adminKey)).totals.requests).toBe(0);
    expect((await callTool(other.userKey, "get_usage", {})).tool.structuredContent).toMatchObject({ totals: { requests: 0 } });

    expect((await api("GET", "/api/v1/usage", { token: tenant.userKey })).status).toBe(403);
    const budget = { budget: { period: "day", tokens: 10 } };
    expect((await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, { token: tenant.userKey, body: budget })).status).toBe(403);
    expect((await api("POST", "/api/v1/keys", { token: tenant.userKey, body: { role: "user", ...budget } })).status).toBe(403);
    // Another tenant's key ids are unknown here.
    expect((await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, { token: other.adminKey, body: budget })).status).toBe(404);
    expect((await usage(tenant.adminKey)).budgets).toEqual([]);
  });
});
