/**
 * The `worker` backend type: the example backend Worker (examples/backend-worker)
 * runs beside the gateway behind the service binding EXAMPLE_BACKEND, in front of
 * its own fake OpenAI-compatible upstream. Grants, registration against what the
 * Worker declares, calls whole and streamed, embeddings, health, and the gateway's
 * retries, breaker and fallbacks when the Worker's calls fail.
 */
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { fakeUpstream } from "../support/fake-control-client";
import { api, callTool, createTenant, OPERATOR, openaiModel, registerModel, type Tenant, uniqueId } from "./helpers";

const upstream = fakeUpstream(inject("backendUpstreamUrl"));

async function grantBinding(tenantId: string, name = "EXAMPLE_BACKEND") {
  return api("PUT", `/api/v1/tenants/${tenantId}/grants/${name}`, { token: OPERATOR, body: { binding: true } });
}

const workerModel = (id: string, model: string, config: Record<string, unknown> = {}) => ({
  id,
  name: `Worker model ${id}`,
  backend_type: "worker",
  config: { binding: "EXAMPLE_BACKEND", model, ...config },
});

async function granted(): Promise<Tenant> {
  const tenant = await createTenant({ grantCanary: true });
  expect((await grantBinding(tenant.id)).status).toBe(200);
  return tenant;
}

describe("granting a service binding", () => {
  it("the operator grants a service binding by name; the gateway's own bindings and anything else are refused, naming it", async () => {
    const tenant = await createTenant();
    const ok = await grantBinding(tenant.id);
    expect(ok.body).toEqual({ name: "EXAMPLE_BACKEND", hosts: [], binding: true });
    expect((await api("GET", `/api/v1/tenants/${tenant.id}/grants`, { token: OPERATOR })).body).toEqual({
      grants: [{ name: "EXAMPLE_BACKEND", hosts: [], binding: true }],
    });

    for (const own of ["DB", "OAUTH_KV", "AI"]) {
      const refused = await grantBinding(tenant.id, own);
      expect(refused.status).toBe(400);
      expect(refused.text).toContain(`${own} is one of the gateway's own bindings`);
    }
    // The tenants' Durable Object namespace is no service binding.
    const tenants = await grantBinding(tenant.id, "TENANTS");
    expect(tenants.status).toBe(400);
    expect(tenants.text).toContain("TENANTS is not a service binding of this gateway");
    // A var is no service binding.
    const variable = await grantBinding(tenant.id, "ALLOWED_PRIVATE_HOSTS");
    expect(variable.status).toBe(400);
    expect(variable.text).toContain("ALLOWED_PRIVATE_HOSTS is not a service binding of this gateway");
  });
});

describe("registering a worker model", () => {
  it("a binding not granted to this tenant, or one of the gateway's own, is refused with a 400 naming it; nothing is stored", async () => {
    const tenant = await createTenant();
    const notGranted = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: workerModel("w", "gpt-fake") });
    expect(notGranted.status).toBe(400);
    expect(notGranted.text).toContain("config.binding: the service binding EXAMPLE_BACKEND is not granted to this tenant");

    await grantBinding(tenant.id);
    for (const [own, why] of [
      ["DB", "is one of the gateway's own bindings"],
      ["AI", "is one of the gateway's own bindings"],
      ["OAUTH_KV", "is one of the gateway's own bindings"],
      ["TENANTS", "is not a service binding of this gateway"],
      ["ADMIN_TOKEN", "is not a service binding of this gateway"],
    ]) {
      const refused = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: workerModel("w", "gpt-fake", { binding: own }) });
      expect(refused.status).toBe(400);
      expect(refused.text).toContain(`config.binding: ${own} ${why}`);
    }
    // Another tenant's grant is not this one's.
    const other = await createTenant();
    const elsewhere = await api("POST", "/api/v1/models", { token: other.adminKey, body: workerModel("w", "gpt-fake") });
    expect(elsewhere.status).toBe(400);
    expect((await api<{ models: unknown[] }>("GET", "/api/v1/models", { token: tenant.adminKey })).body.models).toEqual([]);
  });

  it("takes its capabilities and features from the Worker's describe(), and its first status from the Worker's health check", async () => {
    const tenant = await granted();
    const chat = await registerModel(tenant, workerModel("w-chat", "gpt-fake"));
    expect(chat).toMatchObject({ capabilities: ["chat", "completion"], features: ["tools", "json_schema"], status: "available" });
    const embed = await registerModel(tenant, workerModel("w-embed", "fake-embed"));
    expect(embed).toMatchObject({ capabilities: ["embedding"], features: [], status: "available" });

    const more = await api("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: { ...workerModel("w-x", "fake-embed"), capabilities: ["chat"] },
    });
    expect(more.status).toBe(400);
    expect(more.text).toContain("capabilities: the backend Worker of this model does not declare chat (it declares embedding)");
  });
});

describe("calls through the backend Worker", () => {
  it("chat whole and streamed, completion, embeddings: answers, usage and the upstream's requests are the Worker's work", async () => {
    const tenant = await granted();
    await registerModel(tenant, workerModel("w-chat", "gpt-fake"));
    await registerModel(tenant, workerModel("w-embed", "fake-embed"));

    const whole = await callTool(tenant.userKey, "chat", {
      model_id: "w-chat",
      messages: [{ role: "user", content: "hello there" }],
      max_tokens: 50,
    });
    expect(whole.tool.isError).toBeFalsy();
    expect(whole.tool.structuredContent).toMatchObject({ model_id: "w-chat", text: "echo: hello there", finish_reason: "stop" });
    expect((whole.tool.structuredContent as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBeGreaterThan(0);

    const streamed = await callTool(
      tenant.userKey,
      "chat",
      { model_id: "w-chat", messages: [{ role: "user", content: "one two three" }] },
      { progressToken: "p" },
    );
    expect(streamed.tool.structuredContent).toMatchObject({ text: "echo: one two three" });
    const progress = streamed.messages.filter((m) => m.method === "notifications/progress");
    expect(progress.length).toBeGreaterThan(1);

    const completion = await callTool(tenant.userKey, "complete", { model_id: "w-chat", prompt: "Once" });
    expect(completion.tool.structuredContent).toMatchObject({ text: expect.stringContaining("Once") });

    const embedded = await callTool(tenant.userKey, "embed", { model_id: "w-embed", input: ["ab", "cde"] });
    expect(embedded.tool.isError).toBeFalsy();
    expect(embedded.tool.structuredContent).toMatchObject({ dimensions: 8 });
    expect((embedded.tool.structuredContent as { embeddings: number[][] }).embeddings).toHaveLength(2);

    const sent = await upstream.requests("gpt-fake");
    const chats = sent.filter((r) => r.path === "/v1/chat/completions").map((r) => r.body);
    expect(chats).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ model: "gpt-fake", max_tokens: 50, messages: [{ role: "user", content: "hello there" }] }),
        expect.objectContaining({ stream: true, messages: [{ role: "user", content: "one two three" }] }),
      ]),
    );
  });

  it("/v1 streams the Worker's answer as SSE, and a parameter the Worker does not declare is refused by name", async () => {
    const tenant = await granted();
    await registerModel(tenant, workerModel("w-chat", "gpt-fake"));
    const res = await api("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: { model: "w-chat", stream: true, messages: [{ role: "user", content: "stream me" }] },
    });
    expect(res.status).toBe(200);
    expect(res.text).toContain("data: [DONE]");
    const text = res.text
      .split("\n")
      .filter((l) => l.startsWith("data: {"))
      .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "")
      .join("");
    expect(text).toBe("echo: stream me");

    const refused = await api("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: { model: "w-chat", messages: [{ role: "user", content: "hi" }], logprobs: true },
    });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain("logprobs");
  });

  it("a Worker reporting itself unhealthy (its upstream down) is seen by the health check", async () => {
    const tenant = await granted();
    const name = uniqueId("w-health");
    await upstream.script(name, []);
    await registerModel(tenant, workerModel("w-h", name));
    const { tool } = await callTool(tenant.adminKey, "check_health", { model_id: "w-h" });
    expect((tool.structuredContent as { checks: { status: string }[] }).checks[0]).toMatchObject({ status: "available" });

    await registerModel(tenant, workerModel("w-gone", "no-such-model"));
    const gone = await callTool(tenant.adminKey, "check_health", { model_id: "w-gone" });
    const [check] = (gone.tool.structuredContent as { checks: { status: string; detail: string }[] }).checks;
    expect(check!.status).not.toBe("available");
    expect(check!.detail).toContain(
      "backend Worker EXAMPLE_BACKEND (model no-such-model) reports itself unhealthy: no-such-model is not in the upstream's model list",
    );
  });

  it("a failing RPC is retried, then goes to the fallback; after three failures the breaker skips the Worker", async () => {
    const tenant = await granted();
    const primary = uniqueId("w-primary");
    await upstream.script(primary, []);
    await registerModel(tenant, openaiModel("backup", "gpt-fake", { max_retries: 0 }));
    await registerModel(tenant, { ...workerModel("primary", primary, { max_retries: 1 }), fallbacks: ["backup"] });

    // Two 503s: the Worker throws "unavailable" twice; the gateway retried once, then the backup answered.
    await upstream.script(primary, [
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
    ]);
    const first = await callTool(tenant.userKey, "chat", { model_id: "primary", messages: [{ role: "user", content: "hi" }] });
    const out = first.tool.structuredContent as { model_id: string; fallback?: { attempts: { model_id: string; error: string }[] } };
    expect(out.model_id).toBe("backup");
    expect(out.fallback?.attempts[0]?.error).toMatch(/backend Worker EXAMPLE_BACKEND \(model w-primary-[^)]+\) failed: the upstream answered 503/);
    expect((await upstream.requests(primary)).filter((r) => r.path === "/v1/chat/completions")).toHaveLength(2);

    // A request the Worker refuses as invalid is final: not retried, no fallback.
    await upstream.script(primary, [{ kind: "status", status: 400, body: { error: { message: "bad things" } } }]);
    const invalid = await callTool(tenant.userKey, "chat", { model_id: "primary", messages: [{ role: "user", content: "hi" }] });
    expect(invalid.tool.isError).toBe(true);
    expect(invalid.tool.content[0]!.text).toMatch(/rejected the request: the upstream answered 400.*\[invalid_request\]/);

    // Down for good: three failed calls open the breaker, and the next call skips the Worker.
    await upstream.script(primary, [{ kind: "down_for", ms: 60_000 }]);
    for (let i = 0; i < 3; i++) await callTool(tenant.userKey, "chat", { model_id: "primary", messages: [{ role: "user", content: `try ${i}` }] });
    const before = (await upstream.requests(primary)).length;
    const skipped = await callTool(tenant.userKey, "chat", { model_id: "primary", messages: [{ role: "user", content: "skip" }] });
    const skippedOut = skipped.tool.structuredContent as { model_id: string; fallback?: { attempts: { error: string }[] } };
    expect(skippedOut.model_id).toBe("backup");
    expect(skippedOut.fallback?.attempts[0]?.error).toMatch(/circuit open/);
    expect(await upstream.requests(primary)).toHaveLength(before);
  });
});
