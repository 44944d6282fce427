/** The status page's HTTP behaviour; its rendering is checked in a real browser in tests/e2e. */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SESSION_TTL_S, sealSession } from "../../src/status/session";
import { api, createTenant, env, OPERATOR, openaiModel, registerModel } from "./helpers";

const FORM = { "content-type": "application/x-www-form-urlencoded" };

/** A request to the Worker at an http or https origin, with cookies. */
async function at(origin: string, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const response = await exports.default.fetch(new Request(`${origin}${path}`, { method, redirect: "manual", ...init }));
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const cookiePair = (setCookie: string, name: string) =>
  setCookie
    .split(/,(?=\s*[^;,=\s]+=)/)
    .map((c) => c.trim().split(";")[0]!)
    .find((c) => c.startsWith(`${name}=`));

/** Open the sign-in page (it sets the anti-CSRF cookie and puts the same token in the form), then post the key. */
async function signIn(key: string, origin = "http://gateway.test", extra: Record<string, string> = {}) {
  const https = origin.startsWith("https:");
  const form = await at(origin, "GET", "/status");
  const csrfCookie = cookiePair(form.headers.get("set-cookie") ?? "", https ? "__Host-mgw_status_csrf" : "mgw_status_csrf")!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1] ?? "";
  const login = await at(origin, "POST", "/status/login", {
    headers: { ...FORM, cookie: csrfCookie, origin, ...extra },
    body: new URLSearchParams({ key, csrf }).toString(),
  });
  const setCookie = login.headers.get("set-cookie") ?? "";
  return { login, setCookie, session: cookiePair(setCookie, https ? "__Host-mgw_status" : "mgw_status"), csrf, csrfCookie };
}

describe("status page", () => {
  it("asks for a key, and refuses a bad one", async () => {
    const anonymous = await api("GET", "/status");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toMatch(/text\/html/);
    expect(anonymous.text).toContain('action="/status/login"');
    expect(anonymous.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const bad = await signIn("mgw_nope_x");
    expect(bad.login.status).toBe(401);
    expect(bad.login.text).toContain("not valid");
    expect(bad.session).toBeUndefined();
  });

  it("signs in into a short-lived HttpOnly session cookie that is not the key, and lists the models, escaping what tenants typed", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, { ...openaiModel("m1"), name: '<script>alert("x")</script>' });
    await api("POST", "/api/v1/models/m1/health-check", { token: tenant.adminKey });
    const { login, setCookie, session } = await signIn(tenant.userKey);
    expect(login.status).toBe(303);
    const line = setCookie.split(/,(?=\s*mgw_status=)/).find((c) => c.trim().startsWith("mgw_status="))!;
    expect(line).toMatch(/HttpOnly/);
    expect(line).toMatch(/SameSite=Strict/);
    expect(line).toMatch(/Path=\/status/);
    expect(line).toMatch(new RegExp(`Max-Age=${SESSION_TTL_S}\\b`));
    expect(SESSION_TTL_S).toBeLessThanOrEqual(3600);
    expect(setCookie).not.toContain(tenant.userKey);
    expect(setCookie).not.toContain(tenant.userKey.slice(-43));

    const page = await api("GET", "/status", { headers: { cookie: session! } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-model="m1" data-status="available"');
    expect(page.text).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(page.text).not.toContain('<script>alert("x")</script>');
    expect(page.text).toMatch(/<svg\s+class="chart"[^>]*>.*<rect /s);
    expect(page.text).not.toContain(tenant.userKey);
  });

  it("over https the cookies are __Host- (Secure, Path=/, no Domain)", async () => {
    const tenant = await createTenant();
    const { login, setCookie, session, csrfCookie } = await signIn(tenant.adminKey, "https://gateway.test");
    expect(login.status).toBe(303);
    expect(csrfCookie).toMatch(/^__Host-mgw_status_csrf=/);
    const line = setCookie.split(/,(?=\s*__Host-)/).find((c) => c.trim().startsWith("__Host-mgw_status="))!;
    expect(line).toMatch(/Secure/);
    expect(line).toMatch(/Path=\/(;|$)/);
    expect(line).not.toMatch(/Domain=/i);
    expect(setCookie).not.toContain(tenant.adminKey);
    expect((await at("https://gateway.test", "GET", "/status", { headers: { cookie: session! } })).status).toBe(200);
    // The plain-http name is not read over https.
    expect((await at("https://gateway.test", "GET", "/status", { headers: { cookie: session!.replace("__Host-", "") } })).status).toBe(401);
  });

  it("refuses an edited, forged or expired session, and ends one whose key is revoked", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const other = await createTenant();
    await registerModel(tenant, openaiModel("mine"));
    const { session } = await signIn(tenant.adminKey);
    const value = session!.slice("mgw_status=".length);
    const [payload, mac] = value.split(".") as [string, string];
    const show = (cookie: string) => api("GET", "/status", { headers: { cookie: `mgw_status=${cookie}` } });
    expect((await show(value)).status).toBe(200);

    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    const reencode = (c: unknown) => btoa(JSON.stringify(c)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const edited = [
      `${reencode({ ...claims, t: other.id, k: other.adminKeyId })}.${mac}`, // another tenant's key, old signature
      `${reencode({ ...claims, e: (claims.e as number) + 86400 })}.${mac}`, // longer life, old signature
      `${payload}.${mac.slice(0, -2)}${mac.endsWith("AA") ? "BA" : "AA"}`, // signature changed
      `${payload}.`,
      tenant.adminKey, // the key itself is not a session
      "garbage",
    ];
    for (const cookie of edited) {
      const res = await show(cookie);
      expect(res.status, cookie).toBe(401);
      expect(res.text).not.toContain("mine");
      expect(res.headers.get("set-cookie") ?? "").toMatch(/mgw_status=;.*Max-Age=0/);
    }

    // Expired: a session sealed more than its lifetime ago, properly signed.
    const old = await sealSession(env, tenant.id, tenant.adminKeyId, Date.now() - (SESSION_TTL_S + 60) * 1000);
    expect((await show(old)).status).toBe(401);
    const fresh = await sealSession(env, tenant.id, tenant.adminKeyId);
    expect((await show(fresh)).status).toBe(200);

    // Revoking the key ends its sessions.
    expect((await api("DELETE", `/api/v1/tenants/${tenant.id}/keys/${tenant.adminKeyId}`, { token: OPERATOR })).status).toBe(200);
    expect((await show(value)).status).toBe(401);
  });

  it("refuses a sign-in that did not come from its own page (login CSRF)", async () => {
    const attacker = await createTenant();
    // No token (a form on another site cannot read the cookie's token).
    const bare = await at("http://gateway.test", "POST", "/status/login", {
      headers: FORM,
      body: new URLSearchParams({ key: attacker.userKey }).toString(),
    });
    expect(bare.status).toBe(403);
    expect(bare.headers.get("set-cookie") ?? "").not.toMatch(/mgw_status=[^;]/);
    // A wrong token.
    const wrong = await signIn(attacker.userKey, "http://gateway.test", {});
    expect(wrong.login.status).toBe(303); // control: the page's own token works
    // As Chromium posts from a no-referrer page: Origin null, Sec-Fetch-Site same-origin.
    const ownPage = await signIn(attacker.userKey, "http://gateway.test", { origin: "null", "sec-fetch-site": "same-origin" });
    expect(ownPage.login.status).toBe(303);
    const forged = await at("http://gateway.test", "POST", "/status/login", {
      headers: { ...FORM, cookie: wrong.csrfCookie },
      body: new URLSearchParams({ key: attacker.userKey, csrf: "x".repeat(32) }).toString(),
    });
    expect(forged.status).toBe(403);
    // Another site's Origin or Sec-Fetch-Site, even with a matching token and cookie.
    for (const headers of <Record<string, string>[]>[
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: "null", "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ]) {
      const res = await signIn(attacker.userKey, "http://gateway.test", headers);
      expect(res.login.status, JSON.stringify(headers)).toBe(403);
      expect(res.session, JSON.stringify(headers)).toBeUndefined();
    }
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
