import { describe, expect, it } from "vitest";
import { api, callTool, CANARY, createTenant, fakes, openaiModel, registerModel, rpc, uniqueId } from "./helpers";

const ADMIN_TOOLS = ["register_model", "remove_model", "set_maintenance", "set_telemetry_export", "update_model"];

async function toolNames(token: string): Promise<string[]> {
  const res = await rpc(token, "tools/list");
  return (res.result?.tools as { name: string }[]).map((t) => t.name).sort();
}

describe("MCP endpoint", () => {
  it("needs a tenant key: 401 with a resource_metadata challenge", async () => {
    const res = await rpc(undefined, "tools/list");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('resource_metadata="http://localhost/.well-known/oauth-protected-resource/mcp"');
  });

  it("offers admin tools only to admin keys", async () => {
    const tenant = await createTenant();
    const user = await toolNames(tenant.userKey);
    const admin = await toolNames(tenant.adminKey);
    expect(user).toEqual(["chat", "check_health", "classify", "complete", "embed", "explain_route", "get_model", "get_usage", "list_models"]);
    expect(admin).toEqual([...user, ...ADMIN_TOOLS].sort());
    const denied = await rpc(tenant.userKey, "tools/call", { name: "register_model", arguments: openaiModel("x") });
    expect(JSON.stringify(denied.error ?? denied.result)).toMatch(/register_model/);
    expect((await api<{ models: unknown[] }>("GET", "/api/v1/models", { token: tenant.adminKey })).body.models).toEqual([]);
  });

  it("declares output schemas and lists models in tool descriptions with their status", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("desc-model"));
    const res = await rpc(tenant.userKey, "tools/list");
    const tools = res.result?.tools as { name: string; description: string; outputSchema?: object }[];
    const chat = tools.find((t) => t.name === "chat")!;
    expect(chat.description).toContain("desc-model (available)"); // probed at registration
    expect(tools.every((t) => t.outputSchema)).toBe(true);
  });

  it("list_models and get_model return content and structuredContent, secrets as references", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("m-chat"));
    await registerModel(tenant, { ...openaiModel("m-embed", "fake-embed"), capabilities: ["embedding"] });

    const list = await callTool(tenant.userKey, "list_models", { capability: "embedding" });
    expect(list.tool.structuredContent).toEqual({
      models: [
        {
          id: "m-embed",
          name: "Model m-embed",
          backend_type: "openai_compatible",
          capabilities: ["embedding"],
          features: [],
          aliases: [],
          load_balance: null,
          feature_checks: {}, // no capability probe (see health-capabilities.test.ts)
          status: "available", // probed at registration
          last_checked_at: expect.any(String),
          latency_ms: expect.any(Number),
        },
      ],
    });
    expect(list.tool.content[0]!.text).toContain("m-embed — Model m-embed");

    const got = await callTool(tenant.userKey, "get_model", { model_id: "m-chat" });
    expect(got.tool.structuredContent).toMatchObject({
      id: "m-chat",
      config: { api_key: "${UPSTREAM_KEY}" },
      recent_checks: [{ source: "manual", ok: true }], // the probe at registration
    });
    expect(JSON.stringify(got.messages)).not.toContain(CANARY);

    const resource = await rpc(tenant.userKey, "resources/read", { uri: "model://m-chat" });
    const contents = resource.result?.contents as { text: string }[];
    expect(JSON.parse(contents[0]!.text)).toMatchObject({ id: "m-chat", status: "available" }); // probed at registration
  });

  it("chat calls the upstream with the granted secret and returns text, finish_reason, usage, model_id, latency", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("up-chat");
    await registerModel(tenant, openaiModel("chatter", upstream));
    const res = await callTool(tenant.userKey, "chat", {
      model_id: "chatter",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there" },
      ],
      max_tokens: 50,
      temperature: 0.2,
      stop: "END",
    });
    expect(res.tool.isError).toBeUndefined();
    expect(res.tool.structuredContent).toMatchObject({
      text: "echo: hello there",
      finish_reason: "stop",
      usage: { prompt_tokens: expect.any(Number), completion_tokens: 3 },
      model_id: "chatter",
      latency_ms: expect.any(Number),
    });
    expect(res.tool.content[0]!.text).toBe("echo: hello there");

    const [sent] = await fakes.openai.requests(upstream);
    expect(sent!.path).toBe("/v1/chat/completions");
    expect(sent!.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(sent!.body).toEqual({
      model: upstream,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there" },
      ],
      max_tokens: 50,
      temperature: 0.2,
      stop: ["END"],
    });
    expect(JSON.stringify(res.messages)).not.toContain(CANARY);
  });

  it("complete returns the completion and says when it was cut by max_tokens", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("completer"));
    const res = await callTool(tenant.userKey, "complete", { model_id: "completer", prompt: "once upon a time", max_tokens: 2 });
    expect(res.tool.structuredContent).toMatchObject({ text: "once upon", finish_reason: "length", model_id: "completer" });
  });

  it("embed returns vectors and their dimensions", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, { ...openaiModel("vec", "fake-embed"), capabilities: ["embedding"] });
    const res = await callTool(tenant.userKey, "embed", { model_id: "vec", input: ["a", "b"] });
    const out = res.tool.structuredContent as { embeddings: number[][]; dimensions: number };
    expect(out.dimensions).toBe(8);
    expect(out.embeddings).toHaveLength(2);
    expect(out.embeddings[0]).not.toEqual(out.embeddings[1]);
  });

  it("streams chat text as progress notifications when the client sends a progressToken", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("streamer"));
    const res = await callTool(
      tenant.userKey,
      "chat",
      { model_id: "streamer", messages: [{ role: "user", content: "one two three four" }] },
      { progressToken: "tok-1" },
    );
    const progress = res.messages.filter((m) => m.method === "notifications/progress");
    const params = progress.map((m) => m.params as { progressToken: string; progress: number; message: string });
    expect(params.length).toBeGreaterThan(3);
    expect(params.every((p) => p.progressToken === "tok-1")).toBe(true);
    expect(params.map((p) => p.message).join("")).toBe("echo: one two three four");
    expect(params.map((p) => p.progress)).toEqual([...params.map((p) => p.progress)].sort((a, b) => a - b));
    expect(res.tool.structuredContent).toMatchObject({ text: "echo: one two three four", finish_reason: "stop" });
  });

  it("keeps the partial text and says so when the upstream stream breaks", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("up-break");
    await registerModel(tenant, openaiModel("breaker", upstream));
    await fakes.openai.script(upstream, [{ kind: "break_stream", afterChunks: 2 }]);
    const res = await callTool(
      tenant.userKey,
      "chat",
      { model_id: "breaker", messages: [{ role: "user", content: "alpha beta gamma delta" }] },
      { progressToken: 7 },
    );
    const out = res.tool.structuredContent as { text: string; finish_reason: string; error?: string };
    expect(out.finish_reason).toBe("error");
    expect(out.text).toBe("echo: alpha ");
    expect(out.error).toMatch(/broke off|ended the stream/);
    expect(await fakes.openai.requests(upstream)).toHaveLength(1); // a started stream is never retried
  });

  it("tool errors a person can act on: unknown model, missing capability, maintenance", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, { ...openaiModel("only-embed", "fake-embed"), capabilities: ["embedding"] });
    const unknown = await callTool(tenant.userKey, "chat", { model_id: "ghost", messages: [{ role: "user", content: "hi" }] });
    expect(unknown.tool).toMatchObject({
      isError: true,
      content: [
        { text: 'Model "ghost" not found. Models of this tenant: "only-embed". [not_found]' },
        { text: "No other model of this tenant can take this call now." },
      ],
    });

    const lacking = await callTool(tenant.userKey, "chat", { model_id: "only-embed", messages: [{ role: "user", content: "hi" }] });
    expect(lacking.tool.isError).toBe(true);
    expect(lacking.tool.content[0]!.text).toMatch(/does not support chat; it supports embedding/);

    await api("PUT", "/api/v1/models/only-embed/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    const maintenance = await callTool(tenant.userKey, "embed", { model_id: "only-embed", input: "x" });
    expect(maintenance.tool.content[0]!.text).toMatch(/in maintenance/);
  });

  it("bad arguments are refused before any upstream call, naming the argument", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("up-args");
    await registerModel(tenant, openaiModel("args", upstream));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ model_id: "args", messages: [] }, /messages/],
      [{ model_id: "args", messages: [{ role: "wizard", content: "hi" }] }, /role/],
      [{ model_id: "args", messages: [{ role: "user", content: "hi" }], temperature: 9 }, /temperature/],
      [{ model_id: "args", messages: [{ role: "user", content: "hi" }], max_tokens: 10_000_000 }, /max_tokens/],
      [{ messages: [{ role: "user", content: "hi" }] }, /model_id/],
    ];
    for (const [args, message] of cases) {
      const res = await rpc(tenant.userKey, "tools/call", { name: "chat", arguments: args });
      const failure = res.error?.message ?? (res.result as { isError?: boolean; content: { text: string }[] }).content[0]!.text;
      expect(res.error ?? (res.result as { isError?: boolean }).isError, JSON.stringify(args)).toBeTruthy();
      expect(failure).toMatch(message);
    }
    expect(await fakes.openai.requests(upstream)).toEqual([]);
  });

  it("admin tools register, update and remove models with the admin API's rules", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const bad = await callTool(tenant.adminKey, "register_model", { ...openaiModel("mcp-made"), backend_type: "nope" });
    expect(bad.tool.isError).toBe(true);
    expect(bad.tool.content[0]!.text).toMatch(/unknown backend type "nope"/);

    const made = await callTool(tenant.adminKey, "register_model", openaiModel("mcp-made"));
    expect(made.tool.structuredContent).toMatchObject({ id: "mcp-made", status: "available" }); // probed at registration
    const updated = await callTool(tenant.adminKey, "update_model", { model_id: "mcp-made", name: "Renamed over MCP" });
    expect(updated.tool.structuredContent).toMatchObject({ name: "Renamed over MCP" });
    const maint = await callTool(tenant.adminKey, "set_maintenance", { model_id: "mcp-made", maintenance: true });
    expect(maint.tool.structuredContent).toMatchObject({ status: "maintenance" });
    const removed = await callTool(tenant.adminKey, "remove_model", { model_id: "mcp-made" });
    expect(removed.tool.structuredContent).toEqual({ id: "mcp-made", removed: true });
    expect((await api<{ models: unknown[] }>("GET", "/api/v1/models", { token: tenant.adminKey })).body.models).toEqual([]);
  });

  it("tenant isolation: another tenant's model is 'not found' over MCP too", async () => {
    const a = await createTenant({ grantCanary: true });
    const b = await createTenant({ grantCanary: true });
    const upstream = uniqueId("up-iso");
    await registerModel(a, openaiModel("private", upstream));
    const res = await callTool(b.userKey, "chat", { model_id: "private", messages: [{ role: "user", content: "hi" }] });
    expect(res.tool.content[0]!.text).toBe(
      'Model "private" not found. This tenant has no models yet (register one with POST /api/v1/models). [not_found]',
    );
    const list = await callTool(b.userKey, "list_models", {});
    expect(list.tool.structuredContent).toEqual({ models: [] });
    expect(await fakes.openai.requests(upstream)).toEqual([]);
  });

  it("a warm call makes no storage round trip; a cold one makes exactly one", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("warm"));
    const args = { model_id: "warm", messages: [{ role: "user", content: "hi" }] };
    const cold = await callTool(tenant.userKey, "chat", args);
    const warm = await callTool(tenant.userKey, "chat", args);
    expect(cold.headers.get("server-timing")).toContain("dur=1");
    expect(warm.headers.get("server-timing")).toContain("dur=0");
    // A write through this isolate is visible at once.
    await api("PATCH", "/api/v1/models/warm", { token: tenant.adminKey, body: { name: "Warm renamed" } });
    const after = await callTool(tenant.userKey, "get_model", { model_id: "warm" });
    expect(after.tool.structuredContent).toMatchObject({ name: "Warm renamed" });
    expect(after.headers.get("server-timing")).toContain("dur=1");
  });
});
