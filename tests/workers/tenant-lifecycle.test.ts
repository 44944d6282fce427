/**
 * Tenant lifecycle across D1 and the tenant's Durable Object: a credential for
 * an unknown tenant leaves no trace, a bad key for a known one is cheap, and
 * create and delete are all-or-nothing (a half-finished one can be finished,
 * and nothing cached for a deleted tenant can write into it or its successor).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { FAILED_AUTH_BURST } from "../../src/tenants/auth-throttle";
import { api, createTenant, openaiModel, OPERATOR, registerModel, tenantObject, uniqueId } from "./helpers";

const bogusKey = (tenantId: string) => `mgw_${tenantId}_${"x".repeat(43)}`;

function tables(tenantId: string): Promise<number> {
  return runInDurableObject(env.TENANTS.getByName(tenantId), (_instance: TenantRegistry, state) => {
    return state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM sqlite_master").one().n;
  });
}

describe("credentials that match nothing", () => {
  it("a key naming a tenant that does not exist is refused and creates no storage in that tenant's object", async () => {
    const ghost = uniqueId("ghost");
    const res = await api("GET", "/api/v1/models", { token: bogusKey(ghost) });
    expect(res.status).toBe(401);
    expect(await tables(ghost)).toBe(0);
  });

  it("a bad key for a real tenant loads none of its registry, and a repeat is refused without a round trip", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("m1"));
    const snapshot = await tenantObject(tenant.id).snapshot("not-a-key-hash");
    expect(snapshot).toMatchObject({ tenantId: tenant.id, key: null, models: [], grants: [] });

    const key = bogusKey(tenant.id);
    const first = await api("GET", "/api/v1/models", { token: key });
    const again = await api("GET", "/api/v1/models", { token: key });
    expect([first.status, again.status]).toEqual([401, 401]);
    expect(first.headers.get("server-timing")).toContain("dur=1");
    expect(again.headers.get("server-timing")).toContain("dur=0");
  });
});

describe("made-up keys of a real tenant", () => {
  const randomKey = (tenantId: string) =>
    `mgw_${tenantId}_${btoa(String(Math.random()))
      .replace(/[^A-Za-z0-9]/g, "")
      .padEnd(43, "q")
      .slice(0, 43)}`;

  it("cost its object a bounded number of lookups per isolate, then get 429 without one; known keys and other tenants go on", async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    // A key that authenticated before the flood is vouched for by this isolate's cache.
    expect((await api("GET", "/api/v1/models", { token: tenant.userKey })).status).toBe(200);
    const answers: { status: number; trips: string }[] = [];
    for (let i = 0; i < FAILED_AUTH_BURST + 5; i++) {
      const res = await api("GET", "/api/v1/models", { token: randomKey(tenant.id) });
      answers.push({ status: res.status, trips: /storage;desc="round trips";dur=(\d+)/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? "?" });
    }
    expect(answers.slice(0, FAILED_AUTH_BURST)).toEqual(Array(FAILED_AUTH_BURST).fill({ status: 401, trips: "1" }));
    expect(answers.slice(FAILED_AUTH_BURST)).toEqual(Array(5).fill({ status: 429, trips: "0" }));
    const refused = await api("GET", "/api/v1/models", { token: randomKey(tenant.id) });
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(JSON.stringify(refused.body)).toMatch(/not valid/);

    expect((await api("GET", "/api/v1/models", { token: tenant.userKey })).status).toBe(200);
    expect((await api("GET", "/api/v1/models", { token: other.userKey })).status).toBe(200);
    expect((await api("GET", "/api/v1/models", { token: randomKey(other.id) })).status).toBe(401);
  });
});

describe("deleting a tenant", () => {
  it("leaves no write path: a caller still holding the old generation cannot write, before or after the id is re-created", async () => {
    const tenant = await createTenant();
    const stub = tenantObject(tenant.id);
    // What a warm isolate elsewhere still holds after the delete: the old generation, with the old admin key's authority.
    const generation = await generationOf(tenant.id);
    expect(generation).toEqual(expect.any(String));
    expect((await stub.snapshot("not-a-key-hash")).incarnation).toBeNull(); // a key that matches nothing learns no generation
    const oldAdmin = { incarnation: generation!, keyId: tenant.adminKeyId };

    expect((await api("DELETE", `/api/v1/tenants/${tenant.id}`, { token: OPERATOR })).status).toBe(200);
    const key = { id: "key_planted", hash: "planted", role: "admin" as const, name: null, created_at: new Date().toISOString() };
    expect(await stub.createKey(oldAdmin, key)).toMatchObject({ ok: false, code: "not_found" });
    expect(await stub.createKey(null, key)).toMatchObject({ ok: false, code: "not_found" });
    expect(await tables(tenant.id)).toBe(0);

    expect((await api("POST", "/api/v1/tenants", { token: OPERATOR, body: { id: tenant.id, name: "Again" } })).status).toBe(201);
    expect(await stub.createKey(oldAdmin, key)).toMatchObject({ ok: false, code: "not_found" });
    expect(await stub.insertModel(oldAdmin, { ...modelRecord("planted") })).toMatchObject({ ok: false, code: "not_found" });
    expect((await api("GET", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR })).body).toEqual({ keys: [] });
    expect((await api("GET", "/api/v1/models", { token: tenant.adminKey })).status).toBe(401);
  });

  it("a delete that wiped the object but not the directory row can be finished, and the keys are dead meanwhile", async () => {
    const tenant = await createTenant();
    await tenantObject(tenant.id).destroy(); // as if the D1 delete had failed after the wipe
    expect((await api("GET", "/api/v1/models", { token: tenant.adminKey })).status).toBe(401);
    const listed = await api<{ tenants: { id: string }[] }>("GET", "/api/v1/tenants", { token: OPERATOR });
    expect(listed.body.tenants.map((t) => t.id)).toContain(tenant.id);
    expect((await api("DELETE", `/api/v1/tenants/${tenant.id}`, { token: OPERATOR })).status).toBe(200);
    expect((await api("GET", `/api/v1/tenants/${tenant.id}`, { token: OPERATOR })).status).toBe(404);
  });
});

describe("creating a tenant", () => {
  it("a create whose object was never opened (the directory row exists alone) is finished by a retry, not refused with 409", async () => {
    const id = uniqueId("half");
    await env.DB.prepare("INSERT INTO tenants (id, name) VALUES (?, ?)").bind(id, "Half made").run();
    const retry = await api("POST", "/api/v1/tenants", { token: OPERATOR, body: { id, name: "Half made" } });
    expect(retry.status).toBe(201);
    const key = await api<{ key: string }>("POST", `/api/v1/tenants/${id}/keys`, { token: OPERATOR, body: { role: "admin" } });
    expect((await api("GET", "/api/v1/models", { token: key.body.key })).status).toBe(200);
    expect((await api("POST", "/api/v1/tenants", { token: OPERATOR, body: { id, name: "Twice" } })).status).toBe(409);
  });
});

describe("a key revoked elsewhere", () => {
  it("cannot write while this isolate's cache still holds it: the object checks the acting key in the same call", async () => {
    const tenant = await createTenant({ grantCanary: true });
    // Warm this isolate's cache with the admin key.
    expect((await api("GET", "/api/v1/keys", { token: tenant.adminKey })).status).toBe(200);
    // Revoked through another isolate: straight at the object, so this isolate's cache is not told.
    expect(await tenantObject(tenant.id).deleteKey(null, tenant.adminKeyId)).toMatchObject({ ok: true });

    const minted = await api<{ error: { code: string; message: string } }>("POST", "/api/v1/keys", {
      token: tenant.adminKey,
      body: { role: "admin" },
    });
    expect(minted.status).toBe(403);
    expect(minted.body.error.message).toContain("revoked");
    const model = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("planted") });
    expect(model.status).toBe(403);
    const keys = await api<{ keys: { id: string }[] }>("GET", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR });
    expect(keys.body.keys.map((k) => k.id)).toEqual([tenant.userKeyId]);
  });

  it("a user key cannot make an admin write even when it reaches the object directly", async () => {
    const tenant = await createTenant();
    const incarnation = (await generationOf(tenant.id))!;
    const asUser = { incarnation, keyId: tenant.userKeyId };
    const key = { id: "key_user_made", hash: "user-made", role: "admin" as const, name: null, created_at: new Date().toISOString() };
    expect(await tenantObject(tenant.id).createKey(asUser, key)).toMatchObject({ ok: false, code: "forbidden" });
    expect(await tenantObject(tenant.id).createKey({ incarnation, keyId: tenant.adminKeyId }, key)).toMatchObject({ ok: true });
  });
});

async function generationOf(tenantId: string): Promise<string | null> {
  return runInDurableObject(env.TENANTS.getByName(tenantId), (_instance: TenantRegistry, state) => {
    return state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'generation'").toArray()[0]?.value ?? null;
  });
}

function modelRecord(id: string) {
  const now = new Date().toISOString();
  return {
    id,
    name: id,
    description: null,
    backend_type: "openai_compatible",
    config: { base_url: "https://api.example.com/v1", model_name: "m" },
    capabilities: ["chat" as const],
    features: [],
    feature_checks: {},
    fallbacks: [],
    aliases: [],
    load_balance: null,
    status: "initializing" as const,
    last_checked_at: null,
    status_detail: null,
    latency_ms: null,
    created_at: now,
    updated_at: now,
  };
}
