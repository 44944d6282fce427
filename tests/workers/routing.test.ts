/** Fallbacks, per-model upstream rate limits, and explain_route. */
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, fakes, openaiModel, registerModel, uniqueId } from "./helpers";

const hi = { messages: [{ role: "user", content: "hi" }] };

async function withFallback() {
  const tenant = await createTenant({ grantCanary: true });
  const primaryUp = uniqueId("primary");
  const backupUp = uniqueId("backup");
  await registerModel(tenant, openaiModel("backup", backupUp));
  await registerModel(tenant, { ...openaiModel("primary", primaryUp, { max_retries: 0 }), fallbacks: ["backup"] });
  return { tenant, primaryUp, backupUp };
}

describe("fallbacks", () => {
  it("answer when the model fails before its first token, and the result says who answered", async () => {
    const { tenant, primaryUp, backupUp } = await withFallback();
    await fakes.openai.script(primaryUp, [{ kind: "status", status: 503 }]);
    const res = await callTool(tenant.userKey, "chat", { model_id: "primary", ...hi });
    expect(res.tool.structuredContent).toMatchObject({
      text: "echo: hi",
      model_id: "backup",
      fallback: { requested: "primary", attempts: [{ model_id: "primary", error: expect.stringMatching(/failed \(503\)/) }] },
    });
    expect(await fakes.openai.requests(backupUp)).toHaveLength(1);
  });

  it("are skipped when the model answers", async () => {
    const { tenant, backupUp } = await withFallback();
    const res = await callTool(tenant.userKey, "chat", { model_id: "primary", ...hi });
    expect(res.tool.structuredContent).toMatchObject({ model_id: "primary" });
    expect(res.tool.structuredContent).not.toHaveProperty("fallback");
    expect(await fakes.openai.requests(backupUp)).toEqual([]);
  });

  it("answer when the model is in maintenance, without calling it", async () => {
    const { tenant, primaryUp } = await withFallback();
    await api("PUT", "/api/v1/models/primary/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const res = await callTool(tenant.userKey, "chat", { model_id: "primary", ...hi });
    expect(res.tool.structuredContent).toMatchObject({ model_id: "backup" });
    expect(await fakes.openai.requests(primaryUp)).toEqual([]);
  });

  it("are never used once a stream has started", async () => {
    const { tenant, primaryUp, backupUp } = await withFallback();
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const res = await callTool(
      tenant.userKey,
      "chat",
      { model_id: "primary", messages: [{ role: "user", content: "a b c d" }] },
      { progressToken: 1 },
    );
    expect(res.tool.structuredContent).toMatchObject({ model_id: "primary", finish_reason: "error", text: "echo: a " });
    expect(await fakes.openai.requests(backupUp)).toEqual([]);
  });

  it("are not used for a request the upstream rejects as invalid", async () => {
    const { tenant, primaryUp, backupUp } = await withFallback();
    await fakes.openai.script(primaryUp, [{ kind: "status", status: 400 }]);
    const res = await callTool(tenant.userKey, "chat", { model_id: "primary", ...hi });
    expect(res.tool.isError).toBe(true);
    expect(await fakes.openai.requests(backupUp)).toEqual([]);
  });

  it("when every model fails, the error names each one", async () => {
    const { tenant, primaryUp, backupUp } = await withFallback();
    await fakes.openai.script(primaryUp, [{ kind: "status", status: 500 }]);
    await fakes.openai.script(backupUp, [
      { kind: "status", status: 502 },
      { kind: "status", status: 502 },
      { kind: "status", status: 502 },
    ]);
    const res = await callTool(tenant.userKey, "chat", { model_id: "primary", ...hi });
    expect(res.tool.content[0]!.text).toMatch(/Model "primary" and its fallbacks failed: primary: .*\(500\).* \| backup: .*\(502\)/);
  });
});

describe("rate_limit", () => {
  it("caps requests per minute to the upstream and says when to retry", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("limited");
    await registerModel(tenant, openaiModel("limited", up, { rate_limit: 2 }));
    const first = await callTool(tenant.userKey, "chat", { model_id: "limited", ...hi });
    const second = await callTool(tenant.userKey, "chat", { model_id: "limited", ...hi });
    const third = await callTool(tenant.userKey, "chat", { model_id: "limited", ...hi });
    expect(first.tool.isError).toBeUndefined();
    expect(second.tool.isError).toBeUndefined();
    expect(third.tool.isError).toBe(true);
    expect(third.tool.content[0]!.text).toMatch(/rate limit of 2\/min is used up.*\[rate_limited\]/);
    expect(await fakes.openai.requests(up)).toHaveLength(2);
  });
});

describe("explain_route", () => {
  it("shows host, fallback order, status and rate budget without calling any model", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("explained");
    await registerModel(tenant, { ...openaiModel("emb-only", up), capabilities: ["embedding"] });
    await registerModel(tenant, openaiModel("backup", up, { rate_limit: 30 }));
    await registerModel(tenant, { ...openaiModel("primary", up), fallbacks: ["emb-only", "backup"] });
    await api("PUT", "/api/v1/models/primary/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const probed = await fakes.openai.requests(up); // the probes at registration

    const res = await callTool(tenant.userKey, "explain_route", { model_id: "primary", capability: "chat" });
    const host = new URL(`${(await import("vitest")).inject("openaiUrl")}`).host;
    expect(res.tool.structuredContent).toEqual({
      model_id: "primary",
      capability: "chat",
      features: [],
      would_answer: "backup",
      steps: [
        {
          model_id: "primary",
          backend_type: "openai_compatible",
          upstream: host,
          status: "maintenance",
          usable: false,
          reason: "in maintenance (set by an admin)",
          rate_limit_per_minute: null,
          rate_budget_left: null,
          breaker: "closed",
        },
        {
          model_id: "emb-only",
          backend_type: "openai_compatible",
          upstream: host,
          status: "available", // probed at registration
          usable: false,
          reason: "does not support chat",
          rate_limit_per_minute: null,
          rate_budget_left: null,
          breaker: "closed",
        },
        {
          model_id: "backup",
          backend_type: "openai_compatible",
          upstream: host,
          status: "available", // probed at registration
          usable: true,
          reason: null,
          rate_limit_per_minute: 30,
          rate_budget_left: 30,
          breaker: "closed",
        },
      ],
    });
    expect(await fakes.openai.requests(up)).toEqual(probed);

    const http = await api("GET", "/api/v1/models/primary/route?capability=chat", { token: tenant.userKey });
    expect(http.body).toEqual(res.tool.structuredContent);
    expect((await api("GET", "/api/v1/models/primary/route?capability=fly", { token: tenant.userKey })).status).toBe(400);
    expect((await api("GET", "/api/v1/models/nope/route?capability=chat", { token: tenant.userKey })).status).toBe(404);
  });
});
