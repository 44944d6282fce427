/**
 * End to end for usage and budgets under `wrangler dev`: the official `openai`
 * client's calls are counted with the upstream's own numbers, a real MCP client
 * reads the same report with `get_usage`, and a key budget answers 429
 * budget_exceeded (with the remaining budget on every answer before it).
 */
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { connectModern, fakes, gatewayFor, openaiFor, ResponseRecorder, structured, type Tenant } from "./helpers";

const UP = `gpt-e2e-usage-${Date.now() % 1e8}`;

let dev: WranglerDev;
const recorder = new ResponseRecorder();
const { api, createTenant, registerModel } = gatewayFor(recorder, () => dev);
let tenant: Tenant;

const client = (key: string) => openaiFor(dev.url, key, recorder);

interface Report {
  totals: { requests: number; prompt_tokens: number; completion_tokens: number; cost_usd: number };
  groups: { model_id?: string; requests: number }[];
}

beforeAll(async () => {
  dev = await startWranglerDev({});
  tenant = await createTenant({ id: "usage", name: "Usage", grantCanary: true });
  await registerModel(tenant, {
    id: "gpt",
    name: "Chat on the fake OpenAI",
    backend_type: "openai_compatible",
    config: {
      base_url: `${inject("openaiUrl")}/v1`,
      model_name: UP,
      api_key: "${UPSTREAM_KEY}",
      timeout: 10,
      pricing: { input_per_mtok: 3, output_per_mtok: 15 },
    },
  });
});

afterAll(async () => {
  await dev?.dispose();
});

describe("usage and budgets end to end", () => {
  it("counts the openai client's calls with the upstream's numbers, and MCP get_usage reads the same", async () => {
    const openai = client(tenant.userKey);
    const whole = await openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "count me once" }] });
    let streamed: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "and me streamed" }],
      stream: true,
      stream_options: { include_usage: true },
    })) {
      streamed = chunk.usage ?? streamed;
    }
    const prompt = whole.usage!.prompt_tokens + streamed!.prompt_tokens;
    const completion = whole.usage!.completion_tokens + streamed!.completion_tokens;

    const admin = await api<Report>("GET", "/api/v1/usage", { token: tenant.adminKey });
    expect(admin.status).toBe(200);
    expect(admin.body.totals).toMatchObject({ requests: 2, prompt_tokens: prompt, completion_tokens: completion });
    expect(admin.body.totals.cost_usd).toBeCloseTo((prompt * 3 + completion * 15) / 1e6, 12);
    expect(await fakes.openai.requests(UP)).toHaveLength(2);

    const session = await connectModern(dev.url, tenant.adminKey, recorder);
    try {
      const report = structured<Report>(await session.callTool("get_usage", {}));
      expect(report.totals).toEqual(admin.body.totals);
    } finally {
      await session.close();
    }
  });

  it("a key budget: the remaining budget on each answer, then 429 budget_exceeded and nothing sent upstream", async () => {
    const key = await api<{ id: string; key: string }>("POST", "/api/v1/keys", {
      token: tenant.adminKey,
      body: { role: "user", budget: { period: "day", tokens: 60 } },
    });
    expect(key.status).toBe(201);
    const openai = client(key.body.key);
    const before = (await fakes.openai.requests(UP)).length;
    const { response } = await openai.chat.completions
      .create({ model: "gpt", max_tokens: 5, messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(response.headers.get("x-gateway-budget-remaining")).toMatch(/^tokens=\d+$/);
    const refused = await openai.chat.completions.create({ model: "gpt", max_tokens: 100, messages: [{ role: "user", content: "too much" }] }).then(
      () => null,
      (error: unknown) => error as { status: number; code: string; headers: Headers },
    );
    expect(refused).toMatchObject({ status: 429, code: "budget_exceeded" });
    expect(Number(refused?.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await fakes.openai.requests(UP)).toHaveLength(before + 1);
  });
});
