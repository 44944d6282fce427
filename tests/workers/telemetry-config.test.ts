/**
 * The per-tenant OpenTelemetry export's config (docs/observability.md): set
 * over the admin API and MCP by admins only, checked like model config (URL
 * policy, secret references bound to the collector's host), and a collector
 * that cannot be reached loses spans that are counted, on the admin API and the
 * status page. (The spans themselves: tests/e2e/telemetry.e2e.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, openaiModel, registerModel, rpc } from "./helpers";

// Nothing listens on port 9 (discard) here: every export fails at once.
const DEAD_COLLECTOR = "http://127.0.0.1:9/v1/traces";

interface View {
  export: { endpoint: string; protocol: string; headers: Record<string, string>; sampling_ratio: number; capture_content: boolean } | null;
  this_isolate: { exported_spans: number; dropped_spans: number; last_error: string | null };
}

describe("telemetry export config", () => {
  it("an admin sets, reads and removes it; defaults are filled in; a user key is refused", async () => {
    const tenant = await createTenant();
    const set = await api<View>("PUT", "/api/v1/telemetry", { token: tenant.adminKey, body: { endpoint: DEAD_COLLECTOR } });
    expect(set.status, set.text).toBe(200);
    expect(set.body.export).toEqual({ endpoint: DEAD_COLLECTOR, protocol: "http/protobuf", headers: {}, sampling_ratio: 1, capture_content: false });
    expect((await api<View>("GET", "/api/v1/telemetry", { token: tenant.adminKey })).body.export?.endpoint).toBe(DEAD_COLLECTOR);
    expect((await api("GET", "/api/v1/telemetry", { token: tenant.userKey })).status).toBe(403);
    expect((await api("PUT", "/api/v1/telemetry", { token: tenant.userKey, body: { endpoint: DEAD_COLLECTOR } })).status).toBe(403);
    expect((await api<View>("DELETE", "/api/v1/telemetry", { token: tenant.adminKey })).body.export).toBeNull();
    expect((await api<View>("GET", "/api/v1/telemetry", { token: tenant.adminKey })).body.export).toBeNull();
  });

  it("refuses a private endpoint, a literal credential, a secret not bound to the collector's host, and bad fields; nothing changes", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const secret = await api("PUT", "/api/v1/secrets/ELSEWHERE", {
      token: tenant.adminKey,
      body: { value: "otel-secret-value-1", hosts: ["collector.example.com"] },
    });
    expect(secret.status).toBe(200);
    const refused = async (body: Record<string, unknown>) => {
      const res = await api<{ error: { code: string; message: string } }>("PUT", "/api/v1/telemetry", { token: tenant.adminKey, body });
      expect([res.status, res.body.error.code]).toEqual([400, "invalid_request"]);
      return res.body.error.message;
    };
    expect(await refused({ endpoint: "http://169.254.169.254/v1/traces" })).toMatch(/^endpoint: 169\.254\.169\.254 is/);
    expect(await refused({ endpoint: DEAD_COLLECTOR, headers: { authorization: "Bearer abc123" } })).toMatch(/literal secret/);
    expect(await refused({ endpoint: DEAD_COLLECTOR, headers: { "x-api-key": "${ELSEWHERE}" } })).toMatch(
      /ELSEWHERE may not be sent to 127\.0\.0\.1/,
    );
    expect(await refused({ endpoint: DEAD_COLLECTOR, protocol: "grpc" })).toMatch(/protocol/);
    expect(await refused({ endpoint: DEAD_COLLECTOR, sampling_ratio: -1 })).toMatch(/sampling_ratio/);
    expect(await refused({ endpoint: DEAD_COLLECTOR, extra: true })).toMatch(/extra/);
    // The canary Worker secret, granted for 127.0.0.1, may go to a collector there.
    expect(
      (
        await api("PUT", "/api/v1/telemetry", {
          token: tenant.adminKey,
          body: { endpoint: DEAD_COLLECTOR, headers: { authorization: "Bearer ${UPSTREAM_KEY}" } },
        })
      ).status,
    ).toBe(200);
  });

  it("over MCP: set_telemetry_export sets, reads and turns it off (admin keys only)", async () => {
    const tenant = await createTenant();
    const set = await callTool(tenant.adminKey, "set_telemetry_export", { export: { endpoint: DEAD_COLLECTOR, protocol: "http/json" } });
    expect(set.tool.isError).toBeUndefined();
    expect((set.tool.structuredContent as unknown as View).export?.protocol).toBe("http/json");
    const read = await callTool(tenant.adminKey, "set_telemetry_export", {});
    expect((read.tool.structuredContent as unknown as View).export?.endpoint).toBe(DEAD_COLLECTOR);
    const off = await callTool(tenant.adminKey, "set_telemetry_export", { export: null });
    expect((off.tool.structuredContent as unknown as View).export).toBeNull();
    const user = await rpc(tenant.userKey, "tools/call", { name: "set_telemetry_export", arguments: { export: { endpoint: DEAD_COLLECTOR } } });
    expect(JSON.stringify(user.error ?? user.result)).toMatch(/set_telemetry_export/);
    expect((await api<View>("GET", "/api/v1/telemetry", { token: tenant.adminKey })).body.export).toBeNull();
  });

  it("spans a dead collector never took are counted as dropped, on the admin API and the status page", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("traced"));
    await api("PUT", "/api/v1/telemetry", { token: tenant.adminKey, body: { endpoint: DEAD_COLLECTOR } });
    const chat = await api("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: { model: "traced", messages: [{ role: "user", content: "hi" }] },
    });
    expect(chat.status).toBe(200);
    await expect
      .poll(async () => (await api<View>("GET", "/api/v1/telemetry", { token: tenant.adminKey })).body.this_isolate.dropped_spans, { timeout: 8000 })
      .toBeGreaterThanOrEqual(2);
    const page = await api("GET", "/status", { token: tenant.userKey });
    expect(page.text).toMatch(/Trace export/);
    expect(page.text).toMatch(/\d+ dropped/);
    expect(page.text).not.toContain("UPSTREAM_KEY");
  });
});
