/**
 * Health checks someone asks for (`check_health`, the admin route) reach hosts
 * the tenant chose: each probe is one attempt under a hard time limit, and a
 * tenant's on-demand probes are bounded (src/health/on-demand.ts).
 */
import { describe, expect, it } from "vitest";
import { ON_DEMAND_BURST } from "../../src/health/on-demand";
import { callTool, createTenant, fakes, openaiModel, registerModel, uniqueId } from "./helpers";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A model whose health probe is a one-token chat, so a script on its upstream name decides each probe. */
function generationProbed(id: string, upstream: string, config: Record<string, unknown>) {
  return openaiModel(id, upstream, { health_check: { probe: "generation" }, ...config });
}

describe("on-demand health checks", () => {
  it("a probe makes one attempt, whatever the model's max_retries", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("probe-retry");
    await registerModel(tenant, generationProbed("flaky", upstream, { max_retries: 3 }));
    const before = (await fakes.openai.requests(upstream)).length;
    await fakes.openai.script(upstream, [
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
    ]);

    const { tool } = await callTool(tenant.adminKey, "check_health", { model_id: "flaky" });
    expect(tool.isError).toBeFalsy();
    const checks = (tool.structuredContent as { checks: { model_id: string; status: string; detail: string }[] }).checks;
    expect(checks).toEqual([expect.objectContaining({ model_id: "flaky", status: "degraded" })]);
    expect(checks[0]!.detail).toMatch(/503/);
    // A real call would have retried three times; the check asked once.
    expect((await fakes.openai.requests(upstream)).length - before).toBe(1);
  });

  it("a probe past its time limit is cut off: the upstream sees its request dropped, and nothing runs on behind the answer", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("probe-hang");
    await registerModel(tenant, generationProbed("silent", upstream, { timeout: 1, max_retries: 2 }));
    const before = (await fakes.openai.requests(upstream)).length;
    await fakes.openai.script(upstream, [{ kind: "hang" }, { kind: "hang" }, { kind: "hang" }]);

    const { tool } = await callTool(tenant.adminKey, "check_health", { model_id: "silent" });
    const [check] = (tool.structuredContent as { checks: { status: string; detail: string }[] }).checks;
    expect(check).toMatchObject({ status: "degraded" });
    expect(check!.detail).toMatch(/within 1 s/);

    // Long enough for two more attempts, had the probe gone on retrying after it answered.
    await sleep(2_500);
    const seen = (await fakes.openai.requests(upstream)).slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ aborted: true });
  });

  it("a tenant's on-demand probes are bounded: past the bound the check is refused with Retry-After and sends nothing; other tenants are unaffected", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("probe-bound");
    const perCheck = 40;
    for (let i = 0; i < perCheck; i++) await registerModel(tenant, generationProbed(`m${i}`, upstream, {}));

    const allowed = Math.floor(ON_DEMAND_BURST / perCheck);
    for (let i = 0; i < allowed; i++) {
      const { tool } = await callTool(tenant.userKey, "check_health", {});
      expect(tool.isError).toBeFalsy();
      expect((tool.structuredContent as { checks: unknown[] }).checks).toHaveLength(perCheck);
    }

    const probesBefore = (await fakes.openai.requests(upstream)).length;
    const refused = await callTool(tenant.userKey, "check_health", {});
    expect(refused.tool.isError).toBe(true);
    const text = refused.tool.content.map((c) => ("text" in c ? c.text : "")).join(" ");
    expect(text).toMatch(/rate_limited|limited/);
    expect(text).toContain(`${ON_DEMAND_BURST} model probes`);
    expect(text).toMatch(/Try again in \d+ s/);
    expect((await fakes.openai.requests(upstream)).length).toBe(probesBefore);

    // The bound is the tenant's own.
    const other = await createTenant({ grantCanary: true });
    await registerModel(other, openaiModel("m", upstream));
    const { tool } = await callTool(other.userKey, "check_health", {});
    expect(tool.isError).toBeFalsy();
    // 40 registrations (each waits for its first probe) and 240 probes: more than the default 5 s on a busy machine.
  }, 30_000);
});
