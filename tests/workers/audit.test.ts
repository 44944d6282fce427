/**
 * The audit log is not best effort: an admin change is made only once its row
 * is written (outcome `done` by the time the response is sent), and when D1
 * refuses audit rows, the change is refused too and nothing changes.
 * The outage is real: a trigger makes D1 reject every insert into audit_log.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, callTool, createTenant, env, OPERATOR, openaiModel, registerModel, uniqueId } from "./helpers";

interface Row {
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
}

async function rows(tenantId: string): Promise<Row[]> {
  const { results } = await env.DB.prepare("SELECT actor, action, target, outcome FROM audit_log WHERE tenant_id = ? ORDER BY id")
    .bind(tenantId)
    .all<Row>();
  return results;
}

/** Make D1 refuse audit rows; the gateway's error line for each refused write is captured (and returned), not printed. */
async function auditDown() {
  await env.DB.prepare("CREATE TRIGGER audit_down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END").run();
  return vi.spyOn(console, "error").mockImplementation(() => {});
}

/** The actions of the "audit write failed" lines logged. */
const failedWrites = (errors: { mock: { calls: unknown[][] } }) =>
  errors.mock.calls.filter(([m]) => m === "audit write failed").map(([, action]) => action);

afterEach(async () => {
  vi.restoreAllMocks();
  await env.DB.prepare("DROP TRIGGER IF EXISTS audit_down").run();
});

describe("audit log", () => {
  it("every admin change has its row, complete, when the response arrives", async () => {
    const tenant = await createTenant({ grantCanary: true });
    // No waiting: each row was written before its response.
    const created = await rows(tenant.id);
    expect(created).toEqual([
      { actor: "operator", action: "tenant.create", target: tenant.id, outcome: "done" },
      { actor: "operator", action: "key.create", target: tenant.adminKeyId, outcome: "done" },
      { actor: "operator", action: "key.create", target: tenant.userKeyId, outcome: "done" },
      { actor: "operator", action: "grant.put", target: "UPSTREAM_KEY", outcome: "done" },
    ]);
    await registerModel(tenant, openaiModel("m"));
    const key = await api<{ id: string }>("POST", "/api/v1/keys", { token: tenant.adminKey, body: { role: "user" } });
    expect((await api("DELETE", `/api/v1/keys/${key.body.id}`, { token: tenant.adminKey })).status).toBe(200);
    const actor = `key:${tenant.adminKeyId}`;
    expect((await rows(tenant.id)).slice(4)).toEqual([
      { actor, action: "model.register", target: "m", outcome: "done" },
      { actor, action: "key.create", target: key.body.id, outcome: "done" },
      { actor, action: "key.revoke", target: key.body.id, outcome: "done" },
    ]);
    // A refused change (a duplicate id) changed nothing and leaves no row.
    expect((await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("m") })).status).toBe(409);
    expect(await rows(tenant.id)).toHaveLength(7);
  });

  it("when the audit log cannot be written, tenant admin changes are refused and nothing changes", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("kept"));
    const errors = await auditDown();

    const register = await api<{ error: { code: string; message: string } }>("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: openaiModel("new"),
    });
    expect(register.status).toBe(503);
    expect(register.body.error.code).toBe("audit_unavailable");
    expect(register.body.error.message).toMatch(/Nothing was changed/);
    expect((await api("DELETE", "/api/v1/models/kept", { token: tenant.adminKey })).status).toBe(503);
    expect((await api("PUT", "/api/v1/models/kept/status", { token: tenant.adminKey, body: { status: "maintenance" } })).status).toBe(503);
    expect((await api("PUT", "/api/v1/secrets/MINE", { token: tenant.adminKey, body: { value: "v-123456789", hosts: ["127.0.0.1"] } })).status).toBe(
      503,
    );
    expect((await api("POST", "/api/v1/keys", { token: tenant.adminKey, body: { role: "admin" } })).status).toBe(503);
    expect((await api("DELETE", `/api/v1/keys/${tenant.userKeyId}`, { token: tenant.adminKey })).status).toBe(503);
    const viaMcp = await callTool(tenant.adminKey, "register_model", openaiModel("via-mcp"));
    expect(viaMcp.tool.isError).toBe(true);
    expect(new Set(failedWrites(errors))).toEqual(
      new Set(["model.register", "model.remove", "model.status", "secret.put", "key.create", "key.revoke"]),
    );

    await env.DB.prepare("DROP TRIGGER audit_down").run();
    const models = await api<{ models: { id: string; status: string }[] }>("GET", "/api/v1/models", { token: tenant.userKey });
    expect(models.status).toBe(200); // the user key still works: it was not revoked
    // As registration left it (probed: available): the refused changes changed nothing.
    expect(models.body.models.map((m) => [m.id, m.status])).toEqual([["kept", "available"]]);
    expect((await api<{ secrets: unknown[] }>("GET", "/api/v1/secrets", { token: tenant.adminKey })).body.secrets).toEqual([]);
    expect((await api<{ keys: unknown[] }>("GET", "/api/v1/keys", { token: tenant.adminKey })).body.keys).toHaveLength(2);
  });

  it("when the audit log cannot be written, operator changes are refused and nothing changes", async () => {
    const tenant = await createTenant();
    const errors = await auditDown();
    const id = uniqueId("t");
    expect((await api("POST", "/api/v1/tenants", { token: OPERATOR, body: { id, name: "Never" } })).status).toBe(503);
    expect((await api("POST", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR, body: { role: "admin" } })).status).toBe(503);
    expect((await api("DELETE", `/api/v1/tenants/${tenant.id}/keys/${tenant.adminKeyId}`, { token: OPERATOR })).status).toBe(503);
    expect((await api("PUT", `/api/v1/tenants/${tenant.id}/grants/UPSTREAM_KEY`, { token: OPERATOR, body: { hosts: ["127.0.0.1"] } })).status).toBe(
      503,
    );
    expect((await api("DELETE", `/api/v1/tenants/${tenant.id}`, { token: OPERATOR })).status).toBe(503);
    expect(new Set(failedWrites(errors))).toEqual(new Set(["tenant.create", "key.create", "key.revoke", "grant.put", "tenant.delete"]));

    await env.DB.prepare("DROP TRIGGER audit_down").run();
    expect((await api("GET", `/api/v1/tenants/${id}`, { token: OPERATOR })).status).toBe(404);
    expect((await api("GET", `/api/v1/tenants/${tenant.id}`, { token: OPERATOR })).status).toBe(200);
    expect((await api<{ keys: unknown[] }>("GET", `/api/v1/tenants/${tenant.id}/keys`, { token: OPERATOR })).body.keys).toHaveLength(2);
    expect((await api<{ grants: unknown[] }>("GET", `/api/v1/tenants/${tenant.id}/grants`, { token: OPERATOR })).body.grants).toEqual([]);
    expect((await api("GET", "/api/v1/models", { token: tenant.adminKey })).status).toBe(200);
  });
});
