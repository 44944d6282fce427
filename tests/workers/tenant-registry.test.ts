import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate, MIGRATIONS } from "../../src/durable/migrations";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import type { ModelRecord } from "../../src/models/schema";
import { tenantObject, uniqueId } from "./helpers";

function record(id: string, overrides: Partial<ModelRecord> = {}): ModelRecord {
  return {
    id,
    name: id,
    description: null,
    backend_type: "openai_compatible",
    config: { base_url: "https://api.example.com/v1", model_name: "m", timeout: 60, max_retries: 2 },
    capabilities: ["chat"],
    features: [],
    feature_checks: {},
    fallbacks: [],
    status: "initializing",
    status_detail: null,
    last_checked_at: null,
    latency_ms: null,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    ...overrides,
  };
}

describe("TenantRegistry Durable Object", () => {
  it("migrates its schema when opened, records the version, and migrating again changes nothing", async () => {
    const stub = env.TENANTS.getByName(uniqueId("do"));
    await runInDurableObject(stub, (instance: TenantRegistry, state) => {
      instance.activate("t1");
      const version = state.storage.sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;
      expect(version).toBe(MIGRATIONS.length);
      expect(migrate(state.storage)).toBe(MIGRATIONS.length);
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM schema_version").one().n).toBe(1);
      expect(instance.snapshot("none").tenantId).toBe("t1");
    });
  });

  it("inserts atomically: a duplicate or a dangling fallback writes nothing", async () => {
    const stub = env.TENANTS.getByName(uniqueId("do"));
    await runInDurableObject(stub, (instance: TenantRegistry) => {
      instance.activate("t");
      expect(instance.insertModel(null, record("a")).ok).toBe(true);
      expect(instance.insertModel(null, record("a", { name: "again" }))).toMatchObject({ ok: false, code: "conflict" });
      expect(instance.insertModel(null, record("b", { fallbacks: ["a", "zzz"] }))).toMatchObject({ ok: false, code: "invalid_request" });
      expect(instance.models().map((m) => [m.id, m.name])).toEqual([["a", "a"]]);
    });
  });

  it("replaces only the version the caller read (optimistic concurrency)", async () => {
    const stub = env.TENANTS.getByName(uniqueId("do"));
    await runInDurableObject(stub, (instance: TenantRegistry) => {
      instance.activate("t");
      instance.insertModel(null, record("a"));
      const first = instance.replaceModel(null, record("a", { name: "one", updated_at: "2026-01-02T00:00:00.000Z" }), "2026-01-01T00:00:00.000Z");
      expect(first.ok).toBe(true);
      const stale = instance.replaceModel(null, record("a", { name: "two", updated_at: "2026-01-03T00:00:00.000Z" }), "2026-01-01T00:00:00.000Z");
      expect(stale).toMatchObject({ ok: false, code: "conflict" });
      expect(instance.getModel("a")?.name).toBe("one");
    });
  });

  it("keeps maintenance through a config update", async () => {
    const stub = env.TENANTS.getByName(uniqueId("do"));
    await runInDurableObject(stub, (instance: TenantRegistry) => {
      instance.activate("t");
      instance.insertModel(null, record("a"));
      const set = instance.setStatus(null, "a", "maintenance", "2026-01-02T00:00:00.000Z");
      expect(set.ok).toBe(true);
      instance.replaceModel(null, record("a", { name: "renamed", updated_at: "2026-01-03T00:00:00.000Z" }), "2026-01-02T00:00:00.000Z");
      expect(instance.getModel("a")).toMatchObject({ name: "renamed", status: "maintenance" });
    });
  });

  it("destroy empties the tenant and leaves an unopened registry", async () => {
    const stub = tenantObject(uniqueId("do"));
    await stub.activate("t");
    await stub.createKey(null, { id: "k1", hash: "h1", role: "admin", name: null, created_at: "2026-01-01T00:00:00.000Z" });
    expect((await stub.snapshot("h1")).key?.id).toBe("k1");
    await stub.destroy();
    expect(await stub.snapshot("h1")).toEqual({ tenantId: null, incarnation: null, key: null, models: [], grants: [] });
  });
});
