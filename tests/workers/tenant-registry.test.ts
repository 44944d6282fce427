import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate, MIGRATIONS } from "../../src/durable/migrations";
import { MAX_RESPONSE_BYTES, MAX_RESPONSES, RESPONSE_TTL_MS } from "../../src/durable/response-store";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { storedModel as record, tenantObject, uniqueId } from "./helpers";

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

describe("stored responses (src/durable/response-store.ts)", () => {
  it("bounded: expired ones are dropped, at most MAX_RESPONSES kept (oldest dropped), too large a row not kept, a revoked key refused", async () => {
    const stub = env.TENANTS.getByName(uniqueId("do"));
    await runInDurableObject(stub, (instance: TenantRegistry, state) => {
      const { incarnation } = instance.activate("t1");
      const operator = null;
      const row = (id: string, created_at: number) => ({ id, created_at, response: `{"id":"${id}"}`, conversation: "[]" });
      const now = 1_000_000_000_000;
      expect(instance.putResponse(operator, row("resp_old", 1), now)).toEqual({ ok: true, value: { id: "resp_old", stored: true } });
      expect(instance.getResponse("resp_old", now + RESPONSE_TTL_MS - 1)?.response).toBe('{"id":"resp_old"}');
      expect(instance.getResponse("resp_old", now + RESPONSE_TTL_MS)).toBeNull();
      // Storing another after the time is up drops the expired row.
      instance.putResponse(operator, row("resp_new", 2), now + RESPONSE_TTL_MS);
      const count = () => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM responses").one().n;
      expect(count()).toBe(1);
      for (let i = 0; i < MAX_RESPONSES + 5; i++) instance.putResponse(operator, row(`resp_${i}`, 10 + i), now + RESPONSE_TTL_MS);
      expect(count()).toBe(MAX_RESPONSES);
      expect(instance.getResponse("resp_new", now + RESPONSE_TTL_MS)).toBeNull();
      expect(instance.getResponse("resp_4", now + RESPONSE_TTL_MS)).toBeNull();
      expect(instance.getResponse("resp_5", now + RESPONSE_TTL_MS)).not.toBeNull();
      const huge = { ...row("resp_huge", 99_999), conversation: "x".repeat(MAX_RESPONSE_BYTES) };
      expect(instance.putResponse(operator, huge, now + RESPONSE_TTL_MS)).toEqual({ ok: true, value: { id: "resp_huge", stored: false } });
      expect(instance.putResponse({ incarnation, keyId: "no-such-key" }, row("resp_x", 5), now).ok).toBe(false);
      expect(instance.deleteResponse({ incarnation, keyId: "no-such-key" }, "resp_5").ok).toBe(false);
      expect(instance.deleteResponse(operator, "resp_5")).toEqual({ ok: true, value: { id: "resp_5" } });
      expect(instance.deleteResponse(operator, "resp_5")).toMatchObject({ ok: false, code: "not_found" });
    });
  });
});
