/**
 * Server-Timing on every response: the gateway's own time apart from the
 * upstream's, and the storage round trips (docs/observability.md).
 */
import { describe, expect, it } from "vitest";
import { api, createTenant, fakes, openaiModel, registerModel, rpc, uniqueId } from "./helpers";

function timings(headers: Headers): Record<string, number> {
  const header = headers.get("server-timing") ?? "";
  return Object.fromEntries(
    header.split(",").map((entry) => {
      const [name, ...params] = entry.trim().split(";");
      const dur = params.find((p) => p.trim().startsWith("dur="));
      return [name!.trim(), Number(dur?.trim().slice(4))];
    }),
  );
}

const HI = [{ role: "user", content: "hi" }];

describe("Server-Timing", () => {
  it("is on /v1, /mcp, admin, status and error responses, with gateway, upstream and storage", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("timed"));
    const responses = {
      "/v1 chat": await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: { model: "timed", messages: HI } }),
      "/v1 stream": await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: { model: "timed", messages: HI, stream: true } }),
      "/mcp": await rpc(tenant.userKey, "tools/call", { name: "chat", arguments: { model_id: "timed", messages: HI } }),
      admin: await api("GET", "/api/v1/models", { token: tenant.adminKey }),
      status: await api("GET", "/status"),
      "bad key": await api("GET", "/v1/models", { token: "gw-not-a-key" }),
    };
    for (const [name, response] of Object.entries(responses)) {
      const seen = timings(response.headers);
      expect([name, Object.keys(seen)]).toEqual([name, ["gateway", "upstream", "storage"]]);
      expect([name, Object.values(seen).every((v) => Number.isFinite(v) && v >= 0)]).toEqual([name, true]);
    }
    // Only calls that reach an upstream spend time on one; an admin read spends none.
    expect(timings(responses.admin.headers).upstream).toBe(0);
  });

  it("a slow upstream's time is counted as upstream, and gateway + upstream fit in what the client waited", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("slow");
    await registerModel(tenant, openaiModel("slow", upstream));
    await fakes.openai.script(upstream, [{ kind: "delay", ms: 300 }]);
    const started = performance.now();
    const response = await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: { model: "slow", messages: HI } });
    const waited = performance.now() - started;
    expect(response.status).toBe(200);
    const { gateway, upstream: upstreamMs } = timings(response.headers);
    expect(upstreamMs).toBeGreaterThanOrEqual(300);
    expect(gateway! + upstreamMs!).toBeLessThanOrEqual(waited + 1);
  });
});
