/** The status page's HTTP behaviour; its rendering is checked in a real browser in tests/e2e. */
import { describe, expect, it } from "vitest";
import { api, createTenant, openaiModel, registerModel } from "./helpers";

describe("status page", () => {
  it("asks for a key, and refuses a bad one", async () => {
    const anonymous = await api("GET", "/status");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toMatch(/text\/html/);
    expect(anonymous.text).toContain('action="/status/login"');
    expect(anonymous.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const bad = await api("POST", "/status/login", { raw: "key=mgw_nope_x", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(bad.status).toBe(401);
    expect(bad.text).toContain("not valid");
  });

  it("signs in with a key into an HttpOnly cookie and lists the models, escaping what tenants typed", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, { ...openaiModel("m1"), name: '<script>alert("x")</script>' });
    await api("POST", "/api/v1/models/m1/health-check", { token: tenant.adminKey });
    const login = await api("POST", "/status/login", {
      raw: `key=${encodeURIComponent(tenant.userKey)}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^mgw_status=.*HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/status/);

    const page = await api("GET", "/status", { headers: { cookie: cookie.split(";")[0]! } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-model="m1" data-status="available"');
    expect(page.text).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(page.text).not.toContain('<script>alert("x")</script>');
    expect(page.text).toMatch(/<svg class="chart"[^>]*>.*<rect /s);
    expect(page.text).not.toContain(tenant.userKey);
  });

  it("accepts a bearer key, and shows only the caller's tenant", async () => {
    const a = await createTenant({ grantCanary: true });
    const b = await createTenant({ grantCanary: true });
    await registerModel(a, openaiModel("only-a"));
    const page = await api("GET", "/status", { token: b.userKey });
    expect(page.status).toBe(200);
    expect(page.text).not.toContain("only-a");
    expect(page.text).toContain("No models registered yet.");
  });
});
