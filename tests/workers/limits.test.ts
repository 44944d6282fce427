/** Limits against unbounded consumption: per-tenant request rate, body size, argument caps. */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { MAX_KEYS } from "../../src/durable/key-store";
import { MAX_MODELS } from "../../src/durable/model-store";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, fakes, OPERATOR, openaiModel, registerModel, rpc, storedModel, uniqueId } from "./helpers";

describe("limits", () => {
  it("a noisy tenant hits its rate limit with Retry-After, and another tenant is not slowed", async () => {
    const noisy = await createTenant();
    const quiet = await createTenant();
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof api>> | undefined;
    for (let i = 0; i < 105 && !limited; i++) {
      const res = await api("GET", "/api/v1/models", { token: noisy.userKey });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(99);
    expect(limited?.headers.get("retry-after")).toBe("60");
    expect(limited?.body).toMatchObject({ error: { code: "rate_limited" } });
    // MCP too, as a JSON-RPC caller would see it: HTTP 429.
    const mcp = await rpc(noisy.userKey, "tools/list");
    expect(mcp.status).toBe(429);
    expect((await api("GET", "/api/v1/models", { token: quiet.userKey })).status).toBe(200);
  });

  it("caps request bodies on /mcp and /v1 with 413, before any work", async () => {
    const tenant = await createTenant();
    const big = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(1_100_000) }] });
    expect((await api("POST", "/v1/chat/completions", { token: tenant.userKey, raw: big })).status).toBe(413);
    const mcp = await api("POST", "/mcp", {
      token: tenant.userKey,
      raw: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "chat", arguments: { model_id: "m", messages: [{ role: "user", content: "x".repeat(1_100_000) }] } },
      }),
      headers: { accept: "application/json, text/event-stream", host: "localhost" },
    });
    expect(mcp.status).toBe(413);
  });

  it("caps messages, input items and max_tokens before any upstream call", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("caps");
    await registerModel(tenant, openaiModel("m", up));
    await registerModel(tenant, { ...openaiModel("e", up), capabilities: ["embedding"] });
    const probed = await fakes.openai.requests(up); // the embedding model's probe at registration
    const many = Array.from({ length: 300 }, () => ({ role: "user", content: "hi" }));
    const cases = [
      await callTool(tenant.userKey, "chat", { model_id: "m", messages: many }),
      await callTool(tenant.userKey, "chat", { model_id: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 128_001 }),
      await callTool(tenant.userKey, "embed", { model_id: "e", input: Array.from({ length: 2049 }, () => "x") }),
    ];
    for (const res of cases) expect(res.tool.isError).toBe(true);
    expect(cases.map((c) => c.tool.content[0]!.text)).toEqual([
      expect.stringMatching(/messages/),
      expect.stringMatching(/max_tokens/),
      expect.stringMatching(/input/),
    ]);
    expect(await fakes.openai.requests(up)).toEqual(probed);
  });
  it("embed and /v1/embeddings name the input caps: 2048 strings per call, 50 000 characters per string", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("embed-caps");
    await registerModel(tenant, { ...openaiModel("e", up), capabilities: ["embedding"] });
    const probed = await fakes.openai.requests(up);
    const long = "x".repeat(50_001);
    const cases: [unknown, string][] = [
      [Array.from({ length: 2049 }, () => "x"), "input: at most 2048 strings per call"],
      [[], "input: at least one string"],
      [long, "input: at most 50000 characters per string"],
      [["a", long], "input.1: at most 50000 characters per string"],
      ["", "input: an empty string cannot be embedded"],
      [["a", 5], "input: item 1: Invalid input: expected string, received number"],
      [5, "input: expected a string or an array of at most 2048 strings"],
    ];
    for (const [input, message] of cases) {
      const mcp = await callTool(tenant.userKey, "embed", { model_id: "e", input });
      expect(mcp.tool.isError, message).toBe(true);
      // The MCP SDK words an argument refusal itself: "Input validation error: Invalid arguments for tool embed: <zod's message>".
      expect(mcp.tool.content[0]!.text, message).toBe(`Input validation error: Invalid arguments for tool embed: ${message}`);
      const v1 = await api("POST", "/v1/embeddings", { token: tenant.userKey, body: { model: "e", input } });
      expect(v1.status, message).toBe(400);
      expect((v1.body as { error: { message: string } }).error.message, message).toBe(message);
    }
    expect(await fakes.openai.requests(up)).toEqual(probed);
  });
});

describe("request bodies are capped while they are read, on every route", () => {
  /** A chunked body (no Content-Length) of `total` bytes, counting how much the gateway pulled. */
  function endless(total: number) {
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    const seen = { pulled: 0 };
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (seen.pulled >= total) return controller.close();
        seen.pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    return { body, seen };
  }

  async function post(path: string, token: string | undefined, contentType: string, total: number) {
    const { body, seen } = endless(total);
    const headers: Record<string, string> = { "content-type": contentType };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await exports.default.fetch(new Request(`http://localhost${path}`, { method: "POST", headers, body }));
    return { status: response.status, body: await response.json<{ error?: { code: string } }>(), pulled: seen.pulled };
  }

  it("a chunked JSON body on the admin API and /v1 stops being read at 1 MiB: 413", async () => {
    const tenant = await createTenant();
    for (const [path, token] of [
      ["/api/v1/models", tenant.adminKey],
      ["/v1/chat/completions", tenant.userKey],
      ["/api/v1/tenants", OPERATOR],
    ] as const) {
      const res = await post(path, token, "application/json", 8 * 1024 * 1024);
      expect(res.status).toBe(413);
      expect(res.body.error?.code).toBe("payload_too_large");
      expect(res.pulled).toBeLessThanOrEqual(1024 * 1024 + 2 * 64 * 1024);
    }
  });

  it("unauthenticated form posts (consent, status sign-in) are capped far lower", async () => {
    for (const path of ["/authorize", "/status/login"]) {
      const res = await post(path, undefined, "application/x-www-form-urlencoded", 256 * 1024);
      expect(res.status).toBe(413);
      expect(res.pulled).toBeLessThanOrEqual(16 * 1024 + 2 * 64 * 1024);
    }
  });
});

describe("how much one tenant may hold", () => {
  it("models: 200 at most, the next registration is a 409 that says so", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await runInDurableObject(env.TENANTS.getByName(tenant.id), (instance: TenantRegistry) => {
      for (let i = 0; i < MAX_MODELS; i++) {
        const written = instance.insertModel(null, storedModel(`m${i}`));
        if (!written.ok) throw new Error(written.message);
      }
    });
    const over = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("one-more") });
    expect(over.status).toBe(409);
    expect(over.text).toContain("at most 200 models");
  });

  it("a model's config: at most 16 KiB as JSON; a tenant's registry: at most 1 MiB in all (each a clear error, nothing stored)", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const big = await api("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: openaiModel("big", "gpt-fake", { headers: { "x-padding": "a".repeat(20_000) } }),
    });
    expect(big.status).toBe(400);
    expect(big.text).toMatch(/config: at most 16384 bytes as JSON \(this one is 2\d{4}\)/);

    // Registry size: fill it in the object with configs of ~15 KiB, then the API refuses the next one by name.
    const padded = { base_url: "https://api.example.com/v1", model_name: "m", headers: { "x-padding": "p".repeat(15_000) } };
    await runInDurableObject(env.TENANTS.getByName(tenant.id), (instance: TenantRegistry) => {
      for (let i = 0; i < 69; i++) {
        const written = instance.insertModel(null, storedModel(`p${i}`, { config: padded }));
        if (!written.ok) throw new Error(written.message);
      }
    });
    const over = await api("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: openaiModel("one-more", "gpt-fake", { headers: { "x-pad-1": "q".repeat(7_500), "x-pad-2": "q".repeat(7_500) } }),
    });
    expect(over.status, over.text).toBe(409);
    expect(over.text).toMatch(/at most 1048576 bytes of config, pools, names and descriptions in all/);
    expect((await api("GET", "/api/v1/models/one-more", { token: tenant.adminKey })).status).toBe(404);
    // A small model still fits.
    expect((await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("small") })).status).toBe(201);
  });

  it("API keys: 100 at most", async () => {
    const tenant = await createTenant(); // holds 2 keys already
    await runInDurableObject(env.TENANTS.getByName(tenant.id), (instance: TenantRegistry) => {
      for (let i = 2; i < MAX_KEYS; i++) {
        const written = instance.createKey(null, {
          id: `key_${i}`,
          hash: `hash-${i}`,
          role: "user",
          name: null,
          created_at: new Date().toISOString(),
        });
        if (!written.ok) throw new Error(written.message);
      }
    });
    const over = await api("POST", "/api/v1/keys", { token: tenant.adminKey, body: { role: "user" } });
    expect(over.status).toBe(409);
    expect(over.text).toContain("at most 100 API keys");
  });

  it("headers: 32 per model, fallbacks: 8 per model; each past the limit is a 400 naming the field", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const headers = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-h${i}`, "v"]));
    const many = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("h", "gpt-fake", { headers }) });
    expect(many.status).toBe(400);
    expect(many.text).toMatch(/config\.headers.*at most 32 headers/);
    const fallbacks = Array.from({ length: 9 }, (_, i) => `f${i}`);
    const tooMany = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel("f"), fallbacks } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.text).toContain("fallbacks");
  });

  it("an on-demand health check over HTTP is for admins only", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("m"));
    expect((await api("POST", "/api/v1/models/m/health-check", { token: tenant.userKey })).status).toBe(403);
    expect((await api("POST", "/api/v1/models/m/health-check", { token: tenant.adminKey })).status).toBe(200);
  });
});
