import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createTenant, OPERATOR, uniqueId } from "./helpers";

describe("operator API", () => {
  it("creates a tenant once and lists it; a duplicate id is a 409 that changes nothing", async () => {
    const id = uniqueId("acme");
    const created = await api("POST", "/api/v1/tenants", { token: OPERATOR, body: { id, name: "Acme" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id, name: "Acme" });

    const again = await api("POST", "/api/v1/tenants", { token: OPERATOR, body: { id, name: "Other name" } });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: { code: "conflict", message: `Tenant "${id}" already exists.` } });

    const list = await api<{ tenants: { id: string; name: string }[] }>("GET", "/api/v1/tenants", { token: OPERATOR });
    expect(list.body.tenants.filter((t) => t.id === id)).toEqual([expect.objectContaining({ id, name: "Acme" })]);
  });

  it("refuses bad tenant requests with a message naming the problem", async () => {
    const bad = [
      { raw: "{not json", expect: /not valid JSON/ },
      { raw: "", expect: /empty/ },
      { body: { id: "Bad Id!", name: "x" }, expect: /^id: must match/ },
      { body: { id: "ok-id", name: 42 }, expect: /^name: .*expected string/ },
      { body: { id: "ok-id2", name: "x", extra: true }, expect: /unknown field\(s\) "extra"/ },
    ];
    for (const test of bad) {
      const res = await api("POST", "/api/v1/tenants", { token: OPERATOR, ...test });
      expect(res.status, test.raw ?? JSON.stringify(test.body)).toBe(400);
      expect((res.body as { error: { message: string } }).error.message).toMatch(test.expect);
    }
    const list = await api<{ tenants: { id: string }[] }>("GET", "/api/v1/tenants", { token: OPERATOR });
    expect(list.body.tenants.map((t) => t.id)).not.toContain("ok-id");
  });

  it("rejects a missing or wrong operator token with 401 and a WWW-Authenticate challenge", async () => {
    const missing = await api("GET", "/api/v1/tenants");
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toMatch(
      /^Bearer .*resource_metadata="http:\/\/localhost\/\.well-known\/oauth-protected-resource\/mcp"/,
    );
    const wrong = await api("GET", "/api/v1/tenants", { token: "not-the-token" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ error: { code: "unauthenticated" } });
  });

  it("a tenant key is not an operator token", async () => {
    const tenant = await createTenant();
    const res = await api("GET", "/api/v1/tenants", { token: tenant.adminKey });
    expect(res.status).toBe(401);
  });

  it("issues keys shown once, stores only their hash, and revokes them", async () => {
    const tenant = await createTenant();
    const keys = await api<{ keys: { id: string; role: string }[] }>("GET", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR });
    expect(keys.body.keys.map((k) => k.role).sort()).toEqual(["admin", "user"]);
    expect(keys.text).not.toContain(tenant.adminKey);
    expect(keys.text).not.toContain(tenant.adminKey.slice(-43));

    // Nothing in the tenant's storage holds the key itself.
    const stored = await env.TENANTS.getByName(tenant.id).listKeys();
    expect(JSON.stringify(stored)).not.toContain(tenant.userKey.slice(-43));

    expect((await api("GET", "/api/v1/models", { token: tenant.userKey })).status).toBe(200);
    const revoked = await api("DELETE", `/api/v1/tenants/${tenant.id}/keys/${tenant.userKeyId}`, { token: OPERATOR });
    expect(revoked.body).toEqual({ id: tenant.userKeyId, revoked: true });
    const after = await api("GET", "/api/v1/models", { token: tenant.userKey });
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ error: { message: expect.stringMatching(/unknown or revoked/) } });

    const again = await api("DELETE", `/api/v1/tenants/${tenant.id}/keys/${tenant.userKeyId}`, { token: OPERATOR });
    expect(again.status).toBe(404);
  });

  it("rejects keys for unknown tenants and an invalid role", async () => {
    expect((await api("POST", "/api/v1/tenants/nope-nope/keys", { token: OPERATOR, body: { role: "admin" } })).status).toBe(404);
    const tenant = await createTenant();
    const bad = await api("POST", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR, body: { role: "root" } });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/role/);
  });

  it("deleting a tenant removes its keys and models", async () => {
    const tenant = await createTenant();
    const deleted = await api("DELETE", `/api/v1/tenants/${tenant.id}`, { token: OPERATOR });
    expect(deleted.body).toEqual({ id: tenant.id, deleted: true });
    expect((await api("GET", "/api/v1/models", { token: tenant.adminKey })).status).toBe(401);
    expect((await api("GET", `/api/v1/tenants/${tenant.id}`, { token: OPERATOR })).status).toBe(404);
  });

  it("grants Worker secrets for named hosts, never the gateway's own secrets", async () => {
    const tenant = await createTenant();
    const put = await api("PUT", `/api/v1/tenants/${tenant.id}/grants/UPSTREAM_KEY`, {
      token: OPERATOR,
      body: { hosts: ["api.example.com", "API.example.com"] },
    });
    expect(put.body).toEqual({ name: "UPSTREAM_KEY", hosts: ["api.example.com"] });
    const list = await api("GET", `/api/v1/tenants/${tenant.id}/grants`, { token: OPERATOR });
    expect(list.body).toEqual({ grants: [{ name: "UPSTREAM_KEY", hosts: ["api.example.com"] }] });

    for (const name of ["ADMIN_TOKEN", "SECRETS_KEY"]) {
      const res = await api("PUT", `/api/v1/tenants/${tenant.id}/grants/${name}`, { token: OPERATOR, body: { hosts: ["evil.example"] } });
      expect(res.status).toBe(400);
      expect(res.text).toContain("cannot be granted");
    }
    const badHost = await api("PUT", `/api/v1/tenants/${tenant.id}/grants/X_KEY`, { token: OPERATOR, body: { hosts: ["https://x.com/"] } });
    expect(badHost.status).toBe(400);
    expect(badHost.text).toMatch(/hosts\.0: must be a host name/);

    expect((await api("DELETE", `/api/v1/tenants/${tenant.id}/grants/UPSTREAM_KEY`, { token: OPERATOR })).status).toBe(200);
    expect((await api("GET", `/api/v1/tenants/${tenant.id}/grants`, { token: OPERATOR })).body).toEqual({ grants: [] });
  });

  it("writes admin actions to the audit log without secret values", async () => {
    const tenant = await createTenant({ grantCanary: true });
    // Rows are written before each response (tests/workers/audit.test.ts): no waiting.
    const { results } = await env.DB.prepare("SELECT actor, action, target, detail FROM audit_log WHERE tenant_id = ? ORDER BY id")
      .bind(tenant.id)
      .all<{ actor: string; action: string; target: string }>();
    expect(results.map((r) => r.action)).toEqual(["tenant.create", "key.create", "key.create", "grant.put"]);
    expect(results.every((r) => r.actor === "operator")).toBe(true);
    expect(JSON.stringify(results)).not.toContain(tenant.adminKey);
  });
});

describe("health and routing", () => {
  it("GET /health needs no auth", async () => {
    const res = await api("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok" });
  });

  it("unknown routes are a JSON 404", async () => {
    const res = await api("GET", "/nope");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: "No route for GET /nope." } });
  });

  it("serves protected-resource metadata for MCP clients", async () => {
    const res = await api("GET", "/.well-known/oauth-protected-resource/mcp");
    expect(res.body).toMatchObject({
      resource: "http://localhost/mcp",
      authorization_servers: ["http://localhost"],
      bearer_methods_supported: ["header"],
    });
  });

  it("serves the same protected-resource metadata at the root form, which some MCP clients probe first", async () => {
    const root = await api("GET", "/.well-known/oauth-protected-resource");
    expect(root.status).toBe(200);
    expect(root.body).toEqual((await api("GET", "/.well-known/oauth-protected-resource/mcp")).body);
    expect(root.body).toMatchObject({ resource: "http://localhost/mcp", authorization_servers: ["http://localhost"] });
  });
});
