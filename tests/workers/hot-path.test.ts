/**
 * The per-request path: no storage round trip on a warm isolate, exactly one on
 * a cold one, on every route a tenant key calls per request (the Server-Timing
 * header counts them; timing itself is the benchmark's business, not a test's).
 * And what the isolate keeps between requests (built backends, resolved secrets,
 * MCP tool definitions, the hashes of keys seen) never outlives a change to the
 * model, secret, key, grant or registry it came from, and never crosses tenants.
 */
import { describe, expect, it, vi } from "vitest";
import { api, callTool, createTenant, env, fakes, OPERATOR, openaiModel, registerModel, rpc, type Tenant, uniqueId } from "./helpers";

function trips(headers: Headers): number {
  const match = /storage;[^,]*dur=(\d+)/.exec(headers.get("server-timing") ?? "");
  if (!match) throw new Error(`no storage round trips in Server-Timing: ${headers.get("server-timing")}`);
  return Number(match[1]);
}

const HI = [{ role: "user", content: "hi" }];

/** Every per-request route a tenant key uses, each answering 2xx. */
function routes(tenant: Tenant, model: string): Record<string, () => Promise<{ status: number; headers: Headers }>> {
  const v1 = (path: string, body: unknown) => api("POST", path, { token: tenant.userKey, body });
  const mcp = (method: string, params: Record<string, unknown> = {}) => rpc(tenant.userKey, method, params);
  return {
    "GET /v1/models": () => api("GET", "/v1/models", { token: tenant.userKey }),
    "POST /v1/chat/completions": () => v1("/v1/chat/completions", { model, messages: HI }),
    "POST /v1/chat/completions (stream)": () => v1("/v1/chat/completions", { model, messages: HI, stream: true }),
    "POST /v1/completions": () => v1("/v1/completions", { model, prompt: "hi" }),
    "POST /v1/messages (x-api-key)": () =>
      api("POST", "/v1/messages", { headers: { "x-api-key": tenant.userKey }, body: { model, max_tokens: 16, messages: HI } }),
    "POST /v1/messages (stream)": () => v1("/v1/messages", { model, max_tokens: 16, messages: HI, stream: true }),
    "POST /v1/messages/count_tokens": () => v1("/v1/messages/count_tokens", { model, messages: HI }),
    "POST /v1/responses": () => v1("/v1/responses", { model, input: "hi", store: false }),
    "POST /v1/responses (stream)": () => v1("/v1/responses", { model, input: "hi", store: false, stream: true }),
    "POST /v1/responses/input_tokens": () => v1("/v1/responses/input_tokens", { model, input: "hi" }),
    "MCP tools/list": () => mcp("tools/list"),
    "MCP tools/call chat": () => mcp("tools/call", { name: "chat", arguments: { model_id: model, messages: HI } }),
    "MCP tools/call list_models": () => mcp("tools/call", { name: "list_models", arguments: {} }),
    "MCP tools/call explain_route": () => mcp("tools/call", { name: "explain_route", arguments: { model_id: model, capability: "chat" } }),
    "MCP resources/list": () => mcp("resources/list"),
  };
}

describe("storage round trips per request", () => {
  it("every per-request route makes none when warm and exactly one when cold", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("hot"));
    const seen: Record<string, [number, number]> = {};
    for (const [name, call] of Object.entries(routes(tenant, "hot"))) {
      // A registry write through this isolate drops the tenant's cached snapshot: the next request is cold.
      await api("PATCH", "/api/v1/models/hot", { token: tenant.adminKey, body: { name: `Hot ${name}` } });
      const cold = await call();
      const warm = await call();
      expect([name, cold.status, warm.status]).toEqual([name, 200, 200]);
      seen[name] = [trips(cold.headers), trips(warm.headers)];
    }
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((name) => [name, [1, 0]])));
  });
});

describe("what the isolate keeps between requests", () => {
  const chat = (tenant: Tenant, model: string) => callTool(tenant.userKey, "chat", { model_id: model, messages: HI });

  it("a changed model config is used at once, not the backend built before it", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const [before, after] = [uniqueId("cfg-before"), uniqueId("cfg-after")];
    await registerModel(tenant, openaiModel("moving", before));
    expect((await chat(tenant, "moving")).tool.isError).toBeUndefined();
    const patched = await api("PATCH", "/api/v1/models/moving", { token: tenant.adminKey, body: { config: { model_name: after } } });
    expect(patched.status).toBe(200);
    expect((await chat(tenant, "moving")).tool.isError).toBeUndefined();
    expect((await fakes.openai.requests(before)).length).toBe(1);
    expect((await fakes.openai.requests(after)).length).toBe(1);
  });

  it("a tenant secret stored again is sent with its new value at once", async () => {
    const tenant = await createTenant();
    const upstream = uniqueId("rotated");
    const put = (value: string) => api("PUT", "/api/v1/secrets/MY_KEY", { token: tenant.adminKey, body: { value, hosts: ["127.0.0.1"] } });
    await put("sk-first-value-1234");
    await registerModel(tenant, openaiModel("rotating", upstream, { api_key: "${MY_KEY}", max_retries: 0 }));
    await chat(tenant, "rotating");
    await put("sk-second-value-5678");
    const second = await chat(tenant, "rotating");
    expect(second.tool.isError).toBeUndefined();
    expect((await fakes.openai.requests(upstream)).map((r) => r.headers.authorization)).toEqual([
      "Bearer sk-first-value-1234",
      "Bearer sk-second-value-5678",
    ]);
  });

  it("a revoked grant stops the next call, though a backend using it was built", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("revoked");
    await registerModel(tenant, openaiModel("granted", upstream, { max_retries: 0 }));
    expect((await chat(tenant, "granted")).tool.isError).toBeUndefined();
    const revoked = await api("DELETE", `/api/v1/tenants/${tenant.id}/grants/UPSTREAM_KEY`, { token: OPERATOR });
    expect(revoked.status).toBeLessThan(300);
    const refused = await chat(tenant, "granted");
    expect(refused.tool.isError).toBe(true);
    expect(refused.tool.content[0]!.text).toContain("UPSTREAM_KEY");
    expect((await fakes.openai.requests(upstream)).length).toBe(1);
  });

  it("a key revoked after warm calls is refused at once, on /v1 and MCP, though this isolate knows its hash", async () => {
    const tenant = await createTenant();
    const issued = await api<{ id: string; key: string }>("POST", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR, body: { role: "user" } });
    const models = () => api("GET", "/v1/models", { token: issued.body.key });
    expect((await models()).status).toBe(200);
    const warm = await models();
    expect([warm.status, trips(warm.headers)]).toEqual([200, 0]);
    const revoked = await api("DELETE", `/api/v1/tenants/${tenant.id}/keys/${issued.body.id}`, { token: OPERATOR });
    expect(revoked.status).toBe(200);
    expect((await models()).status).toBe(401);
    expect((await rpc(issued.body.key, "tools/list")).status).toBe(401);
    // The tenant's other keys still work.
    expect((await api("GET", "/v1/models", { token: tenant.userKey })).status).toBe(200);
  });

  it("tool descriptions follow the registry, per tenant and per role", async () => {
    const a = await createTenant({ grantCanary: true });
    const b = await createTenant({ grantCanary: true });
    const chatDescription = async (token: string) => {
      const tools = (await rpc(token, "tools/list")).result?.tools as { name: string; description: string }[];
      return { names: tools.map((t) => t.name), chat: tools.find((t) => t.name === "chat")!.description };
    };
    await registerModel(a, openaiModel("only-in-a"));
    const before = await chatDescription(a.userKey);
    expect(before.chat).toContain("only-in-a");
    expect((await chatDescription(b.userKey)).chat).not.toContain("only-in-a");
    await registerModel(a, openaiModel("added-later"));
    expect((await chatDescription(a.userKey)).chat).toContain("added-later (");
    // The same registry, another role: the admin tools appear for the admin key only.
    expect((await chatDescription(a.adminKey)).names).toContain("register_model");
    expect((await chatDescription(a.userKey)).names).not.toContain("register_model");
  });

  it("tools act for the caller's own key, also when another key's request defined them", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("acting"));
    const second = await api<{ id: string; key: string }>("POST", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR, body: { role: "admin" } });
    // The first admin key's request defines this registry's admin tools; the second key's call uses them.
    await rpc(tenant.adminKey, "tools/list");
    const removed = await callTool(second.body.key, "remove_model", { model_id: "acting" });
    expect(removed.tool.structuredContent).toEqual({ id: "acting", removed: true });
    await vi.waitFor(async () => {
      const row = await env.DB.prepare("SELECT actor FROM audit_log WHERE tenant_id = ? AND action = ?")
        .bind(tenant.id, "model.remove")
        .first<{ actor: string }>();
      expect(row?.actor).toBe(`key:${second.body.id}`);
    });
  });
});
