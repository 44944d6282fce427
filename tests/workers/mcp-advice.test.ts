/**
 * Tool errors that point the way: a call refused because its model is down, in
 * maintenance, lacks the capability or a feature, is rate limited, or the
 * budget is spent names what would work instead (the tenant's healthy models
 * with that capability and those features) or when to retry, in the text and
 * in structuredContent, so an agent can recover on its own.
 */
import { describe, expect, it } from "vitest";
import { ToolErrorContent } from "../../src/mcp/advice";
import { api, callTool, createTenant, fakes, OPERATOR, openaiModel, registerModel, type Tenant, type ToolResult, uniqueId } from "./helpers";
import { connectClient } from "./mcp-client";

const HI = [{ role: "user", content: "hi" }];
const WEATHER = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } };

/** A refused call through the 2026-07-28 client: the error in the first text, the advice in a second one and in structuredContent. */
async function refusal(tenant: Tenant, tool: string, args: Record<string, unknown>) {
  const client = await connectClient(tenant.userKey);
  const result = (await client.callTool({ name: tool, arguments: args })) as ToolResult;
  await client.close();
  expect(result.isError, JSON.stringify(result)).toBe(true);
  return { text: result.content.map((c) => c.text).join(" "), error: ToolErrorContent.parse(result.structuredContent).error };
}

/** A tenant with a healthy chat model "backup" (tools too), an embedding model, and the model under test. */
async function tenantWith(model: Record<string, unknown>) {
  const tenant = await createTenant({ grantCanary: true });
  await registerModel(tenant, { ...openaiModel("backup"), features: ["tools"] });
  await registerModel(tenant, { ...openaiModel("vectors", "fake-embed"), capabilities: ["embedding"] });
  await registerModel(tenant, model);
  return tenant;
}

describe("tool errors that point the way", () => {
  it("a model that is down names the healthy chat model", async () => {
    const up = uniqueId("down");
    const tenant = await tenantWith(openaiModel("flaky", up, { timeout: 1, max_retries: 0, health_check: { probe: "generation" } }));
    await fakes.openai.script(
      up,
      Array.from({ length: 8 }, () => ({ kind: "status", status: 500 })),
    );
    let status = "available";
    for (let i = 0; i < 8 && status !== "error"; i++) {
      const res = await api<{ checks: { status: string }[] }>("POST", "/api/v1/models/flaky/health-check", { token: tenant.adminKey });
      status = res.body.checks[0]!.status;
    }
    expect(status).toBe("error");
    const { text, error } = await refusal(tenant, "chat", { model_id: "flaky", messages: HI });
    expect(error).toMatchObject({ code: "model_unavailable", alternatives: ["backup"] });
    expect(text).toMatch(/is down.*\[model_unavailable\] Models that could take this call now: backup\.$/);
  });

  it("a model in maintenance names the other model with the capability", async () => {
    const tenant = await tenantWith({ ...openaiModel("resting", "fake-embed"), capabilities: ["embedding"] });
    await api("PUT", "/api/v1/models/resting/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const { text, error } = await refusal(tenant, "embed", { model_id: "resting", input: "x" });
    expect(error).toMatchObject({ code: "model_unavailable", alternatives: ["vectors"] });
    expect(text).toContain("Models that could take this call now: vectors.");
  });

  it("a model lacking the capability names the models that have it", async () => {
    const tenant = await tenantWith({ ...openaiModel("embed-only", "fake-embed"), capabilities: ["embedding"] });
    const { error } = await refusal(tenant, "chat", { model_id: "embed-only", messages: HI });
    expect(error.alternatives).toEqual(["backup"]);
  });

  it("a model lacking a feature names only the models with that feature", async () => {
    const tenant = await tenantWith({ ...openaiModel("plain"), features: [] }); // chat, no tools
    await registerModel(tenant, { ...openaiModel("plain-too"), features: [] }); // also chat, no tools: no help
    const { text, error } = await refusal(tenant, "chat", { model_id: "plain", messages: HI, tools: [WEATHER] });
    expect(error).toMatchObject({ code: "unsupported_feature", alternatives: ["backup"] });
    expect(text).toContain("Models that could take this call now: backup.");
  });

  it("a rate-limited model names another model and when to retry", async () => {
    const tenant = await tenantWith(openaiModel("busy", uniqueId("busy"), { rate_limit: 1 }));
    expect((await callTool(tenant.userKey, "chat", { model_id: "busy", messages: HI })).tool.isError).toBeUndefined();
    const { text, error } = await refusal(tenant, "chat", { model_id: "busy", messages: HI });
    expect(error).toMatchObject({ code: "rate_limited", alternatives: ["backup"], retry_after_s: expect.any(Number) });
    expect(error.retry_after_s).toBeGreaterThan(0);
    expect(text).toMatch(/Models that could take this call now: backup\. Retry after \d+ s\.$/);
  });

  it("an exhausted budget says when it resets", async () => {
    const tenant = await tenantWith(openaiModel("priced", uniqueId("priced"), { pricing: { input_per_mtok: 1000, output_per_mtok: 1000 } }));
    await api("PUT", `/api/v1/tenants/${tenant.id}/budget`, { token: OPERATOR, body: { period: "month", tokens: 10 } });
    const before = Date.now();
    const { text, error } = await refusal(tenant, "chat", { model_id: "priced", messages: HI });
    expect(error.code).toBe("budget_exceeded");
    const resets = Date.parse(error.resets_at!);
    expect(resets).toBeGreaterThan(before);
    expect(Math.abs(resets - (before + error.retry_after_s! * 1000))).toBeLessThan(5_000);
    const nextMonth = new Date(before);
    expect(new Date(resets).getUTCDate()).toBe(1);
    expect(new Date(resets).getUTCMonth()).toBe((nextMonth.getUTCMonth() + 1) % 12);
    expect(text).toMatch(/Retry after \d+ s\.$/);
  });

  it("a 2025-era client gets the advice as text, and no structuredContent its SDK would check against the outputSchema", async () => {
    const tenant = await tenantWith({ ...openaiModel("resting-too"), features: ["tools"] });
    await api("PUT", "/api/v1/models/resting-too/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const legacy = await callTool(tenant.userKey, "chat", { model_id: "resting-too", messages: HI }); // JSON-RPC as of 2025-06-18
    expect(legacy.tool.isError).toBe(true);
    expect(legacy.tool.structuredContent).toBeUndefined();
    expect(legacy.tool.content.map((c) => c.text)).toEqual([
      'Model "resting-too" is in maintenance (set by an admin); try another model. [model_unavailable]',
      "Models that could take this call now: backup.",
    ]);
  });

  it("with no model to turn to, says so", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("lonely"));
    await api("PUT", "/api/v1/models/lonely/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const { text, error } = await refusal(tenant, "chat", { model_id: "lonely", messages: HI });
    expect(error.alternatives).toEqual([]);
    expect(text).toContain("No other model of this tenant can take this call now.");
  });
});
