/** /mcp's browser-facing rules: Origin allowlist, Host check, CORS without `*`. */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createTenant } from "./helpers";

async function mcp(headers: Record<string, string>, method = "POST") {
  return exports.default.fetch(
    new Request("http://localhost/mcp", {
      method,
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", host: "localhost", ...headers },
      body: method === "POST" ? JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) : undefined,
    }),
  );
}

describe("/mcp from browsers", () => {
  it("refuses a foreign Origin and the opaque `null` origin with 403", async () => {
    const tenant = await createTenant();
    const auth = { authorization: `Bearer ${tenant.userKey}` };
    expect((await mcp({ ...auth, origin: "https://evil.example" })).status).toBe(403);
    expect((await mcp({ ...auth, origin: "null" })).status).toBe(403);
    expect((await mcp({ ...auth, origin: "https://localhost.evil.example" })).status).toBe(403);
    expect((await mcp({ ...auth })).status).toBe(200); // no Origin: not a browser
  });

  it("allows the gateway's own and loopback origins, echoing the origin, never `*`", async () => {
    const tenant = await createTenant();
    const res = await mcp({ authorization: `Bearer ${tenant.userKey}`, origin: "http://localhost:6274" });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("answers preflights only for allowed origins", async () => {
    const allowed = await mcp(
      { origin: "http://localhost:6274", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
      "OPTIONS",
    );
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
    expect(allowed.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    const foreign = await mcp({ origin: "https://evil.example", "access-control-request-method": "POST" }, "OPTIONS");
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses a Host that is not the gateway's (DNS rebinding)", async () => {
    const tenant = await createTenant();
    const res = await mcp({ authorization: `Bearer ${tenant.userKey}`, host: "evil.example" });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.status).not.toBe(200);
  });
});
