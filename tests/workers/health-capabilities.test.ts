/**
 * The capability probe (`health_check.probe: "capabilities"`) through the real
 * pieces: the probe runs in the tenant's Durable Object and sends its tiny
 * requests through each backend to the fake upstreams, whose quirks
 * (tests/support/fake-control.ts) make a model refuse or ignore tools and JSON
 * output as real upstreams do. What it finds shows in every model listing and
 * decides which requests a model takes.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, callTool, CANARY, createTenant, fakes, openaiModel, registerModel, type Tenant, uniqueId } from "./helpers";

const CAPABILITIES = { health_check: { probe: "capabilities" } };

interface Finding {
  result: "verified" | "unsupported" | "unconfirmed";
  checked_at: string;
  detail?: string;
}

interface Model {
  features: string[];
  feature_checks: { tools?: Finding; json_schema?: Finding; prefill?: Finding };
  status: string;
  status_detail: string | null;
}

async function model(tenant: Tenant, id: string): Promise<Model> {
  return (await api<Model>("GET", `/api/v1/models/${id}`, { token: tenant.userKey })).body;
}

async function check(tenant: Tenant, id: string) {
  const res = await api<{ checks: { ok: boolean; status: string; detail: string | null }[] }>("POST", `/api/v1/models/${id}/health-check`, {
    token: tenant.adminKey,
  });
  return res.body.checks[0]!;
}

/** A model on the fake OpenAI-compatible upstream with the capability probe; `quirks` set before it is registered (and probed). */
async function openaiProbed(tenant: Tenant, id: string, quirks: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const up = uniqueId(id);
  await fakes.openai.control("quirks", { model: up, ...quirks });
  await registerModel(tenant, { ...openaiModel(id, up, { max_retries: 0, ...CAPABILITIES }), ...extra });
  return up;
}

/** A model on the fake Ollama with the capability probe; its Access secret is the granted canary. */
async function ollamaProbed(tenant: Tenant, id: string, quirks: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const up = uniqueId(id);
  await fakes.ollama.control("pull", { model: up });
  await fakes.ollama.control("quirks", { model: up, ...quirks });
  await registerModel(tenant, {
    id,
    name: `Ollama ${id}`,
    backend_type: "ollama",
    config: {
      base_url: fakes.ollama.url,
      model_name: up,
      headers: { "CF-Access-Client-Id": "probe.access", "CF-Access-Client-Secret": "${UPSTREAM_KEY}" },
      timeout: 5,
      max_retries: 0,
      ...CAPABILITIES,
    },
    ...extra,
  });
  return up;
}

const WEATHER = { type: "function", function: { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } } };
const toolChat = (model: string) => ({ model, messages: [{ role: "user", content: "Oslo" }], tools: [WEATHER] });

describe("capability probe, OpenAI-compatible", () => {
  it("verifies tools and json_schema with one tiny request each; they show everywhere and a request with tools works", async () => {
    const tenant = await createTenant({ grantCanary: true });
    // Declared without features: only the probe can add them.
    const up = await openaiProbed(tenant, "m", {}, { features: [] });

    const got = await model(tenant, "m");
    expect(got).toMatchObject({ status: "available", features: ["tools", "json_schema", "prefill"] });
    expect(got.feature_checks).toMatchObject({
      tools: { result: "verified", detail: "called ping" },
      json_schema: { result: "verified", detail: "answered JSON matching the schema" },
      prefill: { result: "verified", detail: "continued the assistant's unfinished message" },
    });

    // One request per feature, in OpenAI's own shapes: tool_choice auto, a small max_tokens.
    const sent = await fakes.openai.requests(up);
    const probes = sent.filter((r) => r.path === "/v1/chat/completions");
    expect(probes).toHaveLength(3);
    expect(probes[2]!.body).toMatchObject({ messages: [{ role: "user" }, { role: "assistant", content: "1 2 3 4 5 6" }], max_tokens: 32 });
    expect(probes[0]!.body).toMatchObject({ tools: [{ type: "function", function: { name: "ping" } }], tool_choice: "auto", max_tokens: 32 });
    expect(probes[1]!.body).toMatchObject({
      response_format: { type: "json_schema", json_schema: { name: "probe", schema: { required: ["ok"] } } },
      max_tokens: 32,
    });

    const v1 = await api<{ data: { id: string; features: string[]; feature_checks: Model["feature_checks"] }[] }>("GET", "/v1/models", {
      token: tenant.userKey,
    });
    expect(v1.body.data.find((m) => m.id === "m")).toMatchObject({
      features: ["tools", "json_schema", "prefill"],
      feature_checks: { tools: { result: "verified" } },
    });
    const listed = await callTool(tenant.userKey, "list_models", {});
    expect(listed.tool.structuredContent).toMatchObject({ models: [{ id: "m", feature_checks: { json_schema: { result: "verified" } } }] });
    const detail = await callTool(tenant.userKey, "get_model", { model_id: "m" });
    expect(detail.tool.isError).toBeFalsy();
    expect(detail.tool.structuredContent).toMatchObject({
      features: ["tools", "json_schema", "prefill"],
      feature_checks: { tools: { result: "verified" } },
    });

    const answered = await api<{ choices: { message: { tool_calls?: unknown[] } }[] }>("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: toolChat("m"),
    });
    expect(answered.status).toBe(200);
    expect(answered.body.choices[0]!.message.tool_calls).toHaveLength(1);
  });

  it("prefill: a model that starts over instead of continuing loses it, and so does one that refuses it", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await openaiProbed(tenant, "restarts", { prefill: "ignore" }, { features: ["tools", "prefill"] });
    await openaiProbed(tenant, "refuses", { prefill: "refuse" }, { features: ["tools", "prefill"] });
    const restarts = await model(tenant, "restarts");
    expect(restarts.features).toEqual(["tools", "json_schema"]);
    expect(restarts.feature_checks).toMatchObject({
      prefill: { result: "unsupported", detail: "started a new answer instead of continuing the assistant's message" },
    });
    const refuses = await model(tenant, "refuses");
    expect(refuses.features).toEqual(["tools", "json_schema"]);
    expect(refuses.feature_checks).toMatchObject({
      prefill: { result: "unsupported", detail: expect.stringMatching(/assistant prefill is not supported/) },
    });
  });

  it("a model that refuses tools loses them: 400 unsupported_feature naming the probe, fallbacks with tools answer, no secret stored", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("backup", uniqueId("backup")));
    // The refusal echoes the request's key, which must never be stored or shown.
    await openaiProbed(tenant, "m", { tools: "refuse", echo: true }, { features: ["tools", "json_schema"], fallbacks: ["backup"] });
    await openaiProbed(tenant, "alone", { tools: "refuse", echo: true }, { features: ["tools", "json_schema"] });

    const got = await model(tenant, "m");
    expect(got.features).toEqual(["json_schema", "prefill"]);
    expect(got.feature_checks.tools).toMatchObject({ result: "unsupported" });
    expect(got.feature_checks.tools!.detail).toMatch(/'tools' is not supported with this model/);
    expect(got.feature_checks.tools!.detail).toContain("[redacted]");
    expect(got.feature_checks.json_schema).toMatchObject({ result: "verified" });
    expect(got.status).toBe("available"); // a refusal is an answer: the upstream is up

    const refused = await api<{ error: { code: string; message: string } }>("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: toolChat("alone"),
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("unsupported_feature");
    expect(refused.body.error.message).toMatch(/"alone" lacks the tools feature, which tools needs \(the capability probe found it unsupported at /);
    const mcp = await callTool(tenant.userKey, "chat", { model_id: "alone", messages: [{ role: "user", content: "Oslo" }], tools: [WEATHER] });
    expect(mcp.tool.isError).toBe(true);
    expect(mcp.tool.content[0]!.text).toMatch(/capability probe found it unsupported/);

    const viaBackup = await api<{ model: string; fallback?: { attempts: { model_id: string; error: string }[] } }>("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: toolChat("m"),
    });
    expect(viaBackup.status).toBe(200);
    expect(viaBackup.body.model).toBe("backup");
    expect(viaBackup.body.fallback?.attempts[0]).toMatchObject({
      model_id: "m",
      error: expect.stringMatching(/capability probe found it unsupported/),
    });

    const everything = JSON.stringify([
      got,
      refused.body,
      mcp.tool,
      viaBackup.body,
      (await callTool(tenant.userKey, "get_model", { model_id: "m" })).tool,
      (await api("GET", "/v1/models", { token: tenant.userKey })).body,
      await env.TENANTS.getByName(tenant.id).models(),
      await env.TENANTS.getByName(tenant.id).checks("m", 50),
    ]);
    expect(everything).toContain("[redacted]");
    expect(everything).not.toContain(CANARY);
  });

  it("a model that answers text leaves its features as declared (unconfirmed)", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await openaiProbed(tenant, "m", { tools: "ignore", json: "ignore" }, { features: ["tools"] });
    const got = await model(tenant, "m");
    expect(got.features).toEqual(["tools", "prefill"]);
    expect(got.feature_checks).toMatchObject({
      tools: { result: "unconfirmed", detail: "answered with text, not a tool call" },
      json_schema: { result: "unconfirmed", detail: "answered text that is not JSON matching the schema" },
    });
    // tools stays declared: the request goes to the upstream.
    const answered = await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: toolChat("m") });
    expect(answered.status).toBe(200);
    expect((await fakes.openai.requests(up)).at(-1)!.body).toMatchObject({ tools: [WEATHER] });
  });

  it("a 5xx during the probe fails the check like any probe, and keeps what was found before", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await openaiProbed(tenant, "m", {}, { features: [] });
    // The tools request answers; the json_schema request meets a 503.
    await fakes.openai.script(up, [
      { kind: "delay", ms: 0 },
      { kind: "status", status: 503 },
    ]);
    const failed = await check(tenant, "m");
    expect(failed).toMatchObject({ ok: false, status: "degraded" });
    expect(failed.detail).toMatch(/failed \(503\)/);
    const got = await model(tenant, "m");
    expect(got.status_detail).toMatch(/^failure 1 of 3 before error/);
    expect(got.feature_checks).toMatchObject({ tools: { result: "verified" }, json_schema: { result: "verified" } });

    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "available" });
  });

  it("a change to another upstream model drops what was found; a rename keeps it", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await openaiProbed(tenant, "m", { tools: "refuse" }, { features: ["tools", "json_schema"] });
    const renamed = await api<Model>("PATCH", "/api/v1/models/m", { token: tenant.adminKey, body: { name: "Renamed" } });
    expect(renamed.body).toMatchObject({ features: ["json_schema", "prefill"], feature_checks: { tools: { result: "unsupported" } } });

    // Another model, probed without tokens from now on: nothing found about it yet, and its default features.
    const moved = await api<Model>("PATCH", "/api/v1/models/m", {
      token: tenant.adminKey,
      body: { config: { model_name: uniqueId("other"), health_check: { probe: "auto" } } },
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ features: ["tools", "json_schema"], feature_checks: {} });
    expect((await model(tenant, "m")).feature_checks).toEqual({});
  });

  it("a model that does not chat is probed with a generation call instead", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await openaiProbed(tenant, "e", {}, { capabilities: ["embedding"] });
    expect(await model(tenant, "e")).toMatchObject({ status: "available", features: [], feature_checks: {} });
    expect((await fakes.openai.requests(up)).map((r) => r.path)).toEqual(["/v1/embeddings"]);
  });
});

describe("capability probe, Ollama", () => {
  it("verifies tools and format (json_schema) in Ollama's own wire format", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await ollamaProbed(tenant, "m", {}, { features: [] });
    const got = await model(tenant, "m");
    expect(got).toMatchObject({ status: "available", features: ["tools", "json_schema", "prefill"] });
    expect(got.feature_checks).toMatchObject({ tools: { result: "verified" }, json_schema: { result: "verified" } });
    const chats = (await fakes.ollama.requests({ model: up })).filter((r) => r.path === "/api/chat");
    expect(chats.map((r) => r.body)).toMatchObject([
      { tools: [{ type: "function", function: { name: "ping" } }], options: { num_predict: 32 } },
      { format: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] }, options: { num_predict: 32 } },
      { messages: [{ role: "user" }, { role: "assistant", content: "1 2 3 4 5 6" }], options: { num_predict: 32 } },
    ]);

    const answered = await callTool(tenant.userKey, "chat", { model_id: "m", messages: [{ role: "user", content: "Oslo" }], tools: [WEATHER] });
    expect(answered.tool.isError).toBeFalsy();
    expect(answered.tool.structuredContent).toMatchObject({ tool_calls: [{ name: "weather" }] });
  });

  it("Ollama's 'does not support tools' makes tools unsupported; an ignored format leaves json_schema as declared", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await ollamaProbed(tenant, "backup", {}, { features: ["tools"] });
    await ollamaProbed(tenant, "gemma", { tools: "refuse", json: "ignore" }, { features: ["tools", "json_schema"], fallbacks: ["backup"] });
    await ollamaProbed(tenant, "alone", { tools: "refuse" }, { features: ["tools", "json_schema"] });

    const got = await model(tenant, "gemma");
    expect(got.features).toEqual(["json_schema", "prefill"]);
    expect(got.feature_checks.tools).toMatchObject({ result: "unsupported" });
    expect(got.feature_checks.tools!.detail).toMatch(/registry\.ollama\.ai\/library\/gemma-.*:latest does not support tools/);
    expect(got.feature_checks.json_schema).toMatchObject({ result: "unconfirmed" });

    const refused = await callTool(tenant.userKey, "chat", { model_id: "alone", messages: [{ role: "user", content: "Oslo" }], tools: [WEATHER] });
    expect(refused.tool.isError).toBe(true);
    expect(refused.tool.content[0]!.text).toMatch(
      /lacks the tools feature, which tools needs \(the capability probe found it unsupported at .*does not support tools/,
    );
    const v1 = await api<{ error: { code: string } }>("POST", "/v1/chat/completions", { token: tenant.userKey, body: toolChat("alone") });
    expect(v1.status).toBe(400);
    expect(v1.body.error.code).toBe("unsupported_feature");

    const viaBackup = await callTool(tenant.userKey, "chat", { model_id: "gemma", messages: [{ role: "user", content: "Oslo" }], tools: [WEATHER] });
    expect(viaBackup.tool.isError).toBeFalsy();
    expect(viaBackup.tool.structuredContent).toMatchObject({ model_id: "backup", tool_calls: [{ name: "weather" }] });

    const everything = JSON.stringify([
      got,
      await env.TENANTS.getByName(tenant.id).models(),
      await env.TENANTS.getByName(tenant.id).checks("gemma", 50),
    ]);
    expect(everything).not.toContain(CANARY);
  });

  it("a 5xx from Ollama during the probe marks the check failed", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await ollamaProbed(tenant, "m");
    await fakes.ollama.script(up, [{ kind: "status", status: 500 }]);
    expect(await check(tenant, "m")).toMatchObject({ ok: false, status: "degraded" });
    expect((await model(tenant, "m")).status_detail).toMatch(/^failure 1 of 3 before error: .*\(500\)/);
  });
});
