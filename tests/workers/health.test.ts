/**
 * Health through the real pieces: checks run in the tenant's Durable Object
 * against the fake upstream, passive health from real calls, the cron sweep.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, callTool, CANARY, createTenant, fakes, openaiModel, registerModel, type Tenant, uniqueId } from "./helpers";

/** A model probed with a one-token chat, so the fake's scripted faults apply to its checks. */
async function probedModel(tenant: Tenant, id: string, config: Record<string, unknown> = {}) {
  const up = uniqueId(id);
  await registerModel(tenant, openaiModel(id, up, { max_retries: 0, health_check: { probe: "generation" }, ...config }));
  return up;
}

async function status(tenant: Tenant, id: string) {
  const res = await api<{ status: string; status_detail: string | null }>("GET", `/api/v1/models/${id}`, { token: tenant.adminKey });
  return res.body;
}

async function check(tenant: Tenant, id: string) {
  const res = await api<{ checks: { ok: boolean; status: string; detail: string | null }[] }>("POST", `/api/v1/models/${id}/health-check`, {
    token: tenant.adminKey,
  });
  return res.body.checks[0]!;
}

/** Let waitUntil'd passive-health reports land. */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe("health checks on demand", () => {
  it("move a model through available, degraded and error, and back, with history", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await probedModel(tenant, "m", { timeout: 1 });
    // Registration probed it once already (see "registration and config changes probe at once").
    expect((await status(tenant, "m")).status).toBe("available");
    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "available" });

    await fakes.openai.script(up, [{ kind: "status", status: 429 }, { kind: "status", status: 503 }, { kind: "hang" }]);
    expect(await check(tenant, "m")).toMatchObject({ ok: false, status: "degraded" });
    expect(await check(tenant, "m")).toMatchObject({ ok: false, status: "degraded" });
    const third = await check(tenant, "m");
    expect(third).toMatchObject({ ok: false, status: "error" });
    expect(third.detail).toMatch(/did not answer within/);
    expect((await status(tenant, "m")).status_detail).toMatch(/^3 failures in a row/);

    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "available" }); // the outage is over
    await fakes.openai.script(up, [{ kind: "status", status: 500 }]);
    expect(await check(tenant, "m")).toMatchObject({ ok: false, status: "degraded" });
    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "degraded" }); // 4 of the last 6 failed: intermittent
    expect((await status(tenant, "m")).status_detail).toMatch(/^intermittent: 4 of the last 8 results failed/);
    const history = await api<{ checks: { ok: boolean; source: string; status: string }[] }>("GET", "/api/v1/models/m/checks", {
      token: tenant.userKey,
    });
    expect(history.body.checks.map((c) => [c.ok, c.status])).toEqual([
      [true, "degraded"],
      [false, "degraded"],
      [true, "available"],
      [false, "error"],
      [false, "degraded"],
      [false, "degraded"],
      [true, "available"],
      [true, "available"], // the probe at registration
    ]);
    expect(history.body.checks.every((c) => c.source === "manual")).toBe(true);
  });

  it("never overwrite maintenance", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await probedModel(tenant, "m");
    await api("PUT", "/api/v1/models/m/status", { token: tenant.adminKey, body: { status: "maintenance" } });
    await fakes.openai.script(up, [{ kind: "status", status: 500 }]);
    expect(await check(tenant, "m")).toMatchObject({ ok: false, status: "maintenance" });
    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "maintenance" });
    expect((await status(tenant, "m")).status).toBe("maintenance");
  });

  it("mark a slow model degraded, and a fast one available", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await probedModel(tenant, "m", { health_check: { probe: "generation", slow_ms: 200 } });
    await fakes.openai.script(up, [{ kind: "delay", ms: 300 }]);
    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "degraded" });
    expect((await status(tenant, "m")).status_detail).toMatch(/^slow: 0\.\d s \(over 0\.2 s\)$/);
    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "available" });
  });

  it("store no secret, even when the upstream echoes it", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await probedModel(tenant, "m");
    await fakes.openai.script(up, [{ kind: "echo_auth", status: 401 }]);
    const result = await check(tenant, "m");
    expect(result.detail).toContain("[redacted]");
    const everything = JSON.stringify([
      result,
      (await api("GET", "/api/v1/models/m/checks", { token: tenant.adminKey })).body,
      (await callTool(tenant.userKey, "get_model", { model_id: "m" })).tool,
      await env.TENANTS.getByName(tenant.id).checks("m", 50),
    ]);
    expect(everything).not.toContain(CANARY);
  });

  it("is offered over MCP, and get_model shows the recent checks newest first", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await probedModel(tenant, "m");
    await fakes.openai.script(up, [{ kind: "status", status: 500 }]);
    const first = await callTool(tenant.userKey, "check_health", { model_id: "m" });
    expect(first.tool.structuredContent).toMatchObject({ checks: [{ model_id: "m", ok: false, status: "degraded", source: "manual" }] });
    await callTool(tenant.userKey, "check_health", {});
    const got = await callTool(tenant.userKey, "get_model", { model_id: "m" });
    const checks = (got.tool.structuredContent as { recent_checks: { ok: boolean }[]; status: string }).recent_checks;
    expect(checks.map((c) => c.ok)).toEqual([true, false, true]); // the last: the probe at registration
    expect(got.tool.structuredContent).toMatchObject({ status: "available" });
    const unknown = await callTool(tenant.userKey, "check_health", { model_id: "ghost" });
    expect(unknown.tool.isError).toBe(true);
  });

  it("embedding-only models are probed with an embedding", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("emb");
    await registerModel(tenant, { ...openaiModel("e", up), capabilities: ["embedding"] });
    await check(tenant, "e");
    // Once at registration, once on demand.
    expect((await fakes.openai.requests(up)).map((r) => r.path)).toEqual(["/v1/embeddings", "/v1/embeddings"]);
  });
});

describe("passive health and fail-fast", () => {
  it("failed real calls move a model to error; then calls fail fast without touching the upstream", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await probedModel(tenant, "m");
    // Three calls, then the check that confirms one key's failures (one key alone cannot make a model `error`).
    await fakes.openai.script(
      up,
      [1, 2, 3, 4].map(() => ({ kind: "status", status: 500 })),
    );
    const ask = () => callTool(tenant.userKey, "chat", { model_id: "m", messages: [{ role: "user", content: "hi" }] });
    for (let i = 0; i < 3; i++) {
      await ask();
      await settle();
    }
    for (let i = 0; i < 40 && (await status(tenant, "m")).status !== "error"; i++) await settle();
    expect(await status(tenant, "m")).toMatchObject({ status: "error" });
    const before = (await fakes.openai.requests(up)).length;
    const fast = await ask();
    expect(fast.tool.content[0]!.text).toMatch(/Model "m" is down: 4 failures in a row/);
    expect((await fakes.openai.requests(up)).length).toBe(before);

    // A passing check brings it back, and calls flow again.
    expect(await check(tenant, "m")).toMatchObject({ ok: true, status: "available" });
    expect((await ask()).tool.structuredContent).toMatchObject({ text: "echo: hi" });
    const history = await env.TENANTS.getByName(tenant.id).checks("m", 10);
    expect(history.filter((c) => c.source === "call").map((c) => c.ok)).toEqual([false, false, false]);
  });

  it("a fixed config gives a model in error a fresh start", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = await probedModel(tenant, "m");
    await fakes.openai.script(
      up,
      [1, 2, 3].map(() => ({ kind: "status", status: 500 })),
    );
    for (let i = 0; i < 3; i++) await check(tenant, "m");
    expect((await status(tenant, "m")).status).toBe("error");
    // The change starts it afresh and probes it at once: the upstream answers again.
    const patched = await api<{ status: string }>("PATCH", "/api/v1/models/m", { token: tenant.adminKey, body: { config: { timeout: 4 } } });
    expect(patched.body.status).toBe("available");
    expect((await status(tenant, "m")).status).toBe("available");
  });
});
