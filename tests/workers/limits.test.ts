/** Limits against unbounded consumption: per-tenant request rate, body size, argument caps. */
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, openaiModel, registerModel, rpc, uniqueId, upstreamRequests } from "./helpers";

describe("limits", () => {
  it("a noisy tenant hits its rate limit with Retry-After, and another tenant is not slowed", async () => {
    const noisy = await createTenant();
    const quiet = await createTenant();
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof api>> | undefined;
    for (let i = 0; i < 105 && !limited; i++) {
      const res = await api("GET", "/api/v1/models", { token: noisy.user });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(99);
    expect(limited?.headers.get("retry-after")).toBe("60");
    expect(limited?.body).toMatchObject({ error: { code: "rate_limited" } });
    // MCP too, as a JSON-RPC caller would see it: HTTP 429.
    const mcp = await rpc(noisy.user, "tools/list");
    expect(mcp.status).toBe(429);
    expect((await api("GET", "/api/v1/models", { token: quiet.user })).status).toBe(200);
  });

  it("caps request bodies on /mcp and /v1 with 413, before any work", async () => {
    const tenant = await createTenant();
    const big = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(1_100_000) }] });
    expect((await api("POST", "/v1/chat/completions", { token: tenant.user, raw: big })).status).toBe(413);
    const mcp = await api("POST", "/mcp", {
      token: tenant.user,
      raw: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "chat", arguments: { model_id: "m", messages: [{ role: "user", content: "x".repeat(1_100_000) }] } },
      }),
      headers: { accept: "application/json, text/event-stream", host: "localhost" },
    });
    expect(mcp.status).toBe(413);
  });

  it("caps messages, input items and max_tokens before any upstream call", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("caps");
    await registerModel(tenant, openaiModel("m", up));
    await registerModel(tenant, { ...openaiModel("e", up), capabilities: ["embedding"] });
    const probed = await upstreamRequests(up); // the embedding model's probe at registration
    const many = Array.from({ length: 300 }, () => ({ role: "user", content: "hi" }));
    const cases = [
      await callTool(tenant.user, "chat", { model_id: "m", messages: many }),
      await callTool(tenant.user, "chat", { model_id: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 100_000 }),
      await callTool(tenant.user, "embed", { model_id: "e", input: Array.from({ length: 300 }, () => "x") }),
    ];
    for (const res of cases) expect(res.tool.isError).toBe(true);
    expect(cases.map((c) => c.tool.content[0]!.text)).toEqual([
      expect.stringMatching(/messages/),
      expect.stringMatching(/max_tokens/),
      expect.stringMatching(/input/),
    ]);
    expect(await upstreamRequests(up)).toEqual(probed);
  });
});
