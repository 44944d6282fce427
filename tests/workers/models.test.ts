import { describe, expect, it } from "vitest";
import { api, callTool, CANARY, createTenant, openaiModel, registerModel, type Tenant, upstreamUrl } from "./helpers";

async function modelIds(tenant: Tenant): Promise<string[]> {
  const res = await api<{ models: { id: string }[] }>("GET", "/api/v1/models", { token: tenant.adminKey });
  return res.body.models.map((m) => m.id);
}

describe("model registry over the admin API", () => {
  it("registers a model with defaults applied, a derived id, and secret references kept as references", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const res = await api("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: {
        name: "Llama 3.2 on the office GPU",
        backend_type: "external_api",
        config: { base_url: upstreamUrl(), model_name: "llama3.2", api_key: "${UPSTREAM_KEY}" },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: "llama-3.2-on-the-office-gpu",
      backend_type: "openai_compatible",
      capabilities: ["chat", "completion"],
      fallbacks: [],
      aliases: [],
      load_balance: null,
      status: "available", // probed at registration
      config: { api_key: "${UPSTREAM_KEY}", timeout: 60, max_retries: 2 },
    });
    expect(res.text).not.toContain(CANARY);

    const got = await api("GET", "/api/v1/models/llama-3.2-on-the-office-gpu", { token: tenant.userKey });
    expect(got.body).toEqual(res.body);
  });

  it("defaults an embedding model's capabilities to embedding", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const model = await registerModel(tenant, openaiModel("emb", "text-embedding-3-small"));
    expect(model.capabilities).toEqual(["embedding"]);
  });

  it("lists with capability and status filters", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("chatty"));
    await registerModel(tenant, { ...openaiModel("vectors", "fake-embed"), capabilities: ["embedding"] });
    const chat = await api<{ models: { id: string }[] }>("GET", "/api/v1/models?capability=chat", { token: tenant.userKey });
    expect(chat.body.models.map((m) => m.id)).toEqual(["chatty"]);
    const none = await api<{ models: unknown[] }>("GET", "/api/v1/models?status=error", { token: tenant.userKey });
    expect(none.body.models).toEqual([]);
    const bad = await api("GET", "/api/v1/models?capability=dance", { token: tenant.userKey });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/capability/);
  });

  it("refuses each kind of bad registration with a message naming the field, and stores nothing", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const good = openaiModel("good");
    const cases: [string, unknown, number, RegExp][] = [
      ["malformed JSON", undefined, 400, /not valid JSON/],
      [
        "unknown backend type",
        { ...good, backend_type: "skynet" },
        400,
        /backend_type: unknown backend type "skynet"; known types are ollama, huggingface, workers_ai, openai_compatible, anthropic, worker, external_api/,
      ],
      ["missing base_url", { ...good, config: { model_name: "m" } }, 400, /config\.base_url: /],
      ["wrong type", { ...good, config: { ...good.config, timeout: "fast" } }, 400, /config\.timeout: .*expected number/],
      ["typo in config", { ...good, config: { ...good.config, modle_name: "x" } }, 400, /config: unknown field\(s\) "modle_name"/],
      ["bad id", { ...good, id: "Has Spaces" }, 400, /^id: must match/],
      [
        "literal api key",
        { ...good, config: { ...good.config, api_key: "sk-live-123456" } },
        400,
        /config\.api_key holds a literal secret.*"\$\{NAME\}"/,
      ],
      [
        "literal auth header",
        { ...good, config: { ...good.config, headers: { Authorization: "Bearer abc123" } } },
        400,
        /config\.headers\.Authorization holds a literal secret/,
      ],
      ["ungranted secret", { ...good, config: { ...good.config, api_key: "${HF_TOKEN}" } }, 400, /secret HF_TOKEN is unknown or not granted/],
      [
        "operator's own secret",
        { ...good, config: { ...good.config, headers: { "x-api-key": "${ADMIN_TOKEN}" } } },
        400,
        /ADMIN_TOKEN is unknown or not granted/,
      ],
      [
        "capability the backend lacks",
        { ...good, capabilities: ["classification"] },
        400,
        /capabilities: backend type openai_compatible cannot serve classification/,
      ],
      ["unknown capability", { ...good, capabilities: ["dance"] }, 400, /capabilities\.0: /],
      [
        "plain http to a public host",
        { ...good, config: { ...good.config, base_url: "http://api.example.com/v1" } },
        400,
        /config\.base_url: must use https/,
      ],
      ["credentials in the URL", { ...good, config: { ...good.config, base_url: "https://u:p@api.example.com/v1" } }, 400, /credentials in URLs/],
      ["unknown fallback", { ...good, fallbacks: ["ghost"] }, 400, /fallbacks: no model with id "ghost"/],
      ["own fallback", { ...good, fallbacks: ["good"] }, 400, /cannot be its own fallback/],
      ["missing name", { ...good, name: undefined }, 400, /^name: /],
    ];
    for (const [label, body, status, message] of cases) {
      const res =
        body === undefined
          ? await api("POST", "/api/v1/models", { token: tenant.adminKey, raw: '{"id": "x",' })
          : await api("POST", "/api/v1/models", { token: tenant.adminKey, body });
      expect(res.status, label).toBe(status);
      expect((res.body as { error: { message: string } }).error.message, label).toMatch(message);
    }
    expect(await modelIds(tenant)).toEqual([]);
  });

  it("binds a granted secret to its hosts: a model elsewhere cannot use it", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const res = await api("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: openaiModel("exfil", "gpt-fake", { base_url: "https://attacker.example/v1" }),
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain("secret UPSTREAM_KEY may not be sent to attacker.example; it is bound to 127.0.0.1");
    expect(await modelIds(tenant)).toEqual([]);
  });

  it("refuses a duplicate id with 409 and keeps the first model", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("dup"));
    const again = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel("dup"), name: "Second" } });
    expect(again.status).toBe(409);
    const kept = await api("GET", "/api/v1/models/dup", { token: tenant.adminKey });
    expect(kept.body).toMatchObject({ name: "Model dup" });
  });

  it("updates by merging config, validates the result, and refuses a bad update without changing anything", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const before = await registerModel(tenant, openaiModel("m1"));
    const patched = await api("PATCH", "/api/v1/models/m1", { token: tenant.adminKey, body: { name: "Renamed", config: { timeout: 30 } } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: "Renamed", config: { timeout: 30, model_name: "gpt-fake", api_key: "${UPSTREAM_KEY}" } });
    expect(patched.body.updated_at).not.toBe(before.updated_at);
    expect(patched.body.created_at).toBe(before.created_at);

    const bad = await api("PATCH", "/api/v1/models/m1", { token: tenant.adminKey, body: { config: { base_url: "not a url" } } });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/config\.base_url/);
    const removeField = await api("PATCH", "/api/v1/models/m1", { token: tenant.adminKey, body: { config: { model_name: null } } });
    expect(removeField.status).toBe(400);
    expect(removeField.text).toMatch(/config\.model_name/);
    const after = await api("GET", "/api/v1/models/m1", { token: tenant.adminKey });
    expect(after.body).toEqual(patched.body);

    expect((await api("PATCH", "/api/v1/models/ghost", { token: tenant.adminKey, body: { name: "x" } })).status).toBe(404);
  });

  it("removes a model, but not one that another model falls back to", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("backup"));
    await registerModel(tenant, { ...openaiModel("primary"), fallbacks: ["backup"] });
    const blocked = await api("DELETE", "/api/v1/models/backup", { token: tenant.adminKey });
    expect(blocked.status).toBe(409);
    expect(blocked.text).toContain("fallback of primary");
    expect((await api("DELETE", "/api/v1/models/primary", { token: tenant.adminKey })).body).toEqual({ id: "primary", removed: true });
    expect((await api("DELETE", "/api/v1/models/backup", { token: tenant.adminKey })).status).toBe(200);
    expect(await modelIds(tenant)).toEqual([]);
    expect((await api("DELETE", "/api/v1/models/backup", { token: tenant.adminKey })).status).toBe(404);
  });

  it("sets and clears maintenance (admin only)", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("mx"));
    const denied = await api("PUT", "/api/v1/models/mx/status", { token: tenant.userKey, body: { status: "maintenance" } });
    expect(denied.status).toBe(403);
    const set = await api("PUT", "/api/v1/models/mx/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    expect(set.body).toMatchObject({ status: "maintenance" });
    const bad = await api("PUT", "/api/v1/models/mx/status", { token: tenant.adminKey, body: { status: "error" } });
    expect(bad.status).toBe(400);
    const cleared = await api("PUT", "/api/v1/models/mx/status", { token: tenant.adminKey, body: { status: "available" } });
    expect(cleared.body).toMatchObject({ status: "available" });
  });

  it("refuses oversized bodies with 413", async () => {
    const tenant = await createTenant();
    const res = await api("POST", "/api/v1/models", { token: tenant.adminKey, raw: JSON.stringify({ name: "x".repeat(1_100_000) }) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: { code: "payload_too_large" } });
  });
});

describe("roles and tenant isolation", () => {
  it("a user key can read but not write models or keys", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("ro"));
    expect((await api("GET", "/api/v1/models/ro", { token: tenant.userKey })).status).toBe(200);
    for (const [method, path, body] of [
      ["POST", "/api/v1/models", openaiModel("nope")],
      ["PATCH", "/api/v1/models/ro", { name: "x" }],
      ["DELETE", "/api/v1/models/ro", undefined],
      ["POST", "/api/v1/keys", { role: "admin" }],
      ["GET", "/api/v1/keys", undefined],
    ] as const) {
      const res = await api(method, path, { token: tenant.userKey, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body).toMatchObject({ error: { code: "forbidden" } });
    }
    expect(await modelIds(tenant)).toEqual(["ro"]);
  });

  it("a tenant admin manages its own keys", async () => {
    const tenant = await createTenant();
    const created = await api<{ id: string; key: string; role: string }>("POST", "/api/v1/keys", {
      token: tenant.adminKey,
      body: { role: "user", name: "ci" },
    });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(new RegExp(`^mgw_${tenant.id}_`));
    expect((await api("GET", "/api/v1/models", { token: created.body.key })).status).toBe(200);
    const list = await api<{ keys: { id: string; name: string | null }[] }>("GET", "/api/v1/keys", { token: tenant.adminKey });
    expect(list.body.keys.find((k) => k.id === created.body.id)?.name).toBe("ci");
    expect(list.text).not.toContain(created.body.key);
    expect((await api("DELETE", `/api/v1/keys/${created.body.id}`, { token: tenant.adminKey })).status).toBe(200);
    expect((await api("GET", "/api/v1/models", { token: created.body.key })).status).toBe(401);
  });

  it("an unknown model id lists the tenant's own ids, in order, the same on MCP, /v1 and the admin API", async () => {
    const mine = await createTenant({ grantCanary: true });
    const other = await createTenant({ grantCanary: true });
    await registerModel(other, openaiModel("gpt-4o")); // another tenant's: never listed, and still "not found"
    for (const id of ["llama3", "gpt-4o-mini", "gpt-4.1"]) await registerModel(mine, openaiModel(id));
    const few = 'Model "gpt-4o" not found. Models of this tenant: "gpt-4.1", "gpt-4o-mini", "llama3".';
    const mcp = await callTool(mine.userKey, "chat", { model_id: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(mcp.tool.content[0]!.text).toBe(`${few} [not_found]`);
    const v1 = await api<{ error: { message: string } }>("POST", "/v1/chat/completions", {
      token: mine.userKey,
      body: { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] },
    });
    expect(v1.status).toBe(404);
    expect(v1.body.error.message).toBe(few);
    expect((await api<{ error: { message: string } }>("GET", "/api/v1/models/gpt-4o", { token: mine.adminKey })).body.error.message).toBe(few);

    // Past ten models, the first ten, and where to see the rest.
    for (let i = 0; i < 9; i++) await registerModel(mine, openaiModel(`model-${i}`));
    const many = await api<{ error: { message: string } }>("POST", "/v1/chat/completions", {
      token: mine.userKey,
      body: { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] },
    });
    expect(many.body.error.message).toBe(
      'Model "gpt-4o" not found. The first 10 of this tenant\'s 12 models: "gpt-4.1", "gpt-4o-mini", "llama3", ' +
        '"model-0", "model-1", "model-2", "model-3", "model-4", "model-5", "model-6" (list_models or GET /v1/models lists them all).',
    );
  });

  it("another tenant's model ids behave exactly like ids that do not exist", async () => {
    const a = await createTenant({ grantCanary: true });
    const b = await createTenant({ grantCanary: true });
    await registerModel(a, openaiModel("secret-model"));
    const theirs = await api("GET", "/api/v1/models/secret-model", { token: b.adminKey });
    const nobody = await api("GET", "/api/v1/models/no-such-model", { token: b.adminKey });
    expect(theirs.status).toBe(404);
    const none = "This tenant has no models yet (register one with POST /api/v1/models).";
    expect(theirs.body).toEqual({ error: { code: "not_found", message: `Model "secret-model" not found. ${none}` } });
    expect(nobody.body).toEqual({ error: { code: "not_found", message: `Model "no-such-model" not found. ${none}` } });
    expect((await api("PATCH", "/api/v1/models/secret-model", { token: b.adminKey, body: { name: "pwned" } })).status).toBe(404);
    expect((await api("DELETE", "/api/v1/models/secret-model", { token: b.adminKey })).status).toBe(404);
    expect(await modelIds(b)).toEqual([]);
    // B may even register its own model with the same id; A's is untouched.
    await registerModel(b, openaiModel("secret-model"));
    expect((await api("GET", "/api/v1/models/secret-model", { token: a.adminKey })).body).toMatchObject({ name: "Model secret-model" });
  });

  it("a key forged for another tenant's id is rejected", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const forged = a.adminKey.replace(`mgw_${a.id}_`, `mgw_${b.id}_`);
    expect((await api("GET", "/api/v1/models", { token: forged })).status).toBe(401);
    expect((await api("GET", "/api/v1/models", { token: "garbage" })).status).toBe(401);
    expect((await api("GET", "/api/v1/models")).status).toBe(401);
  });
});
