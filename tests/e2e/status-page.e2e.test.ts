/**
 * End to end: the HTML status page (/status) in a real browser — Debian's
 * Chromium driven by playwright-core — against `wrangler dev`.
 *
 * One tenant has a model in each status (available, degraded, error,
 * maintenance, initializing), brought there by scripted health checks against
 * the fake OpenAI-compatible upstream. The browser signs in through the form,
 * reads the table, badges (their computed colours, so the CSS really applied
 * under the page's CSP), and the chart of recent checks, signs out, and takes a
 * full-page screenshot, which is decoded and must show the badge and bar colours
 * (a blank or unstyled page fails). The screenshot is left in the OS temp dir.
 * The session cookie is a short-lived signed session, not the key: an edited one
 * is refused, and a sign-in form posted from another site is refused (login CSRF).
 *
 * Chromium missing: skipped with a hint on a dev machine, a failure in CI.
 */
import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { browserAvailability, countColour, decodePng, distinctColours, launchChromium } from "./browser";
import { openaiModel } from "../support/models";
import { fakes, gatewayFor, ResponseRecorder, type Tenant } from "./helpers";

const RUN = String(Date.now() % 1e8);
const up = (id: string) => `gpt-e2e-status-page-${id}-${RUN}`;

/** The page's colours (src/status/page.ts): badge backgrounds and chart bars. */
const BADGE_BACKGROUND = {
  available: "#e6f4ea",
  degraded: "#fef7e0",
  error: "#fce8e6",
  maintenance: "#e8f0fe",
  initializing: "#f1f3f4",
} as const;
const BAR = { ok: "#1e8e3e", failed: "#d93025" };

/** model id → the status it is brought to, and its checks oldest first (true = passed). */
const MODELS = {
  alpha: { status: "available", checks: [true, true] },
  beta: { status: "degraded", checks: [true, false] },
  gamma: { status: "error", checks: [true, false, false, false] },
  delta: { status: "maintenance", checks: [true, false] },
  // Registration probes a model at once, so "initializing" is only ever momentary: omega is just registered.
  omega: { status: "available", checks: [] },
} as const;
type ModelId = keyof typeof MODELS;

const availability = browserAvailability();
if (!availability.run && !availability.required) console.warn(availability.reason);

function rgb(colour: string): string {
  const n = Number.parseInt(colour.slice(1), 16);
  return `rgb(${(n >> 16) & 0xff}, ${(n >> 8) & 0xff}, ${n & 0xff})`;
}

if (!availability.run && availability.required) {
  it("needs Chromium", () => {
    throw new Error(availability.reason);
  });
}

describe.runIf(availability.run)("the status page in Chromium", () => {
  let dev: WranglerDev;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let tenant: Tenant;
  const recorder = new ResponseRecorder();
  const { api: call, createTenant, registerModel } = gatewayFor(recorder, () => dev);

  async function check(id: ModelId, expectOk: boolean) {
    const res = await call<{ checks: { ok: boolean }[] }>("POST", `/api/v1/models/${id}/health-check`, { token: tenant.adminKey });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.checks[0]!.ok).toBe(expectOk);
  }

  beforeAll(async () => {
    [dev, browser] = await Promise.all([startWranglerDev(), launchChromium()]);
    context = await browser.newContext({ viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1 });
    page = await context.newPage();

    tenant = await createTenant({ id: "storefront", name: "Storefront", grantCanary: true });
    for (const id of Object.keys(MODELS) as ModelId[]) {
      await registerModel(tenant, openaiModel(id, up(id), { max_retries: 0, timeout: 2, health_check: { probe: "generation" } }));
    }
    // Checks run on demand, each scripted to pass or fail; maintenance comes after delta's first check.
    for (const id of ["alpha", "beta", "gamma", "delta"] as const) {
      await fakes.openai.script(
        up(id),
        MODELS[id].checks.map((ok) => (ok ? { kind: "delay", ms: 0 } : { kind: "status", status: 500 })),
      );
      for (const [i, ok] of MODELS[id].checks.entries()) {
        if (id === "delta" && i === 1) {
          const set = await call("PUT", "/api/v1/models/delta/status", { token: tenant.adminKey, body: { status: "maintenance" } });
          expect(set.status).toBe(200);
        }
        await check(id, ok);
      }
    }
    const listed = await call<{ models: { id: string; status: string }[] }>("GET", "/api/v1/models", { token: tenant.userKey });
    expect(Object.fromEntries(listed.body.models.map((m) => [m.id, m.status]))).toEqual(
      Object.fromEntries(Object.entries(MODELS).map(([id, m]) => [id, m.status])),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await dev?.dispose();
  });

  it("asks for a key, and refuses a wrong one with a message", async () => {
    const response = await page.goto(`${dev.url}/status`);
    expect(response?.status()).toBe(401);
    await expect(page.locator("form.login input#key[type=password][name=key]").count()).resolves.toBe(1);
    expect(await page.locator("table").count()).toBe(0);

    const wrong = `mgw_storefront_${"x".repeat(40)}`;
    await page.fill("#key", wrong);
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/status/login")), page.click("button[type=submit]")]);
    expect(refused.status()).toBe(401);
    await page.waitForLoadState();
    await expect(page.locator("p.error[role=alert]").textContent()).resolves.toMatch(/not valid/);
    expect(await page.content()).not.toContain(wrong);
    expect((await context.cookies()).filter((c) => c.name === "mgw_status")).toEqual([]);
  });

  it("signs in with the tenant's key into an HttpOnly cookie, and shows every model with its status", async () => {
    await page.fill("#key", tenant.userKey);
    const [shown] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/status" && r.request().method() === "GET"),
      page.click("button[type=submit]"),
    ]);
    expect(shown.status()).toBe(200);
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname).toBe("/status");
    await expect(page.locator("h1").textContent()).resolves.toContain("storefront");

    const [cookie, ...others] = (await context.cookies()).filter((c) => c.name === "mgw_status");
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/status" });
    expect(await page.evaluate(() => document.cookie)).toBe("");
    // A session, not the key: the value holds no part of the key, and it expires within the hour.
    expect(cookie!.value).not.toContain(tenant.userKey);
    expect(cookie!.value).not.toContain(tenant.userKey.slice(-20));
    expect(cookie!.expires * 1000).toBeGreaterThan(Date.now());
    expect(cookie!.expires * 1000).toBeLessThanOrEqual(Date.now() + 3600_000 + 60_000);

    const rows = await page
      .locator("tbody tr[data-model]")
      .evaluateAll((trs) => trs.map((tr) => [tr.getAttribute("data-model"), tr.getAttribute("data-status")]));
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(MODELS).map(([id, m]) => [id, m.status])));
    expect(rows).toHaveLength(Object.keys(MODELS).length);
  });

  it("shows status badges with the right classes and colours", async () => {
    for (const [id, { status }] of Object.entries(MODELS)) {
      const badge = page.locator(`tr[data-model="${id}"] td span.badge`);
      expect(await badge.count(), id).toBe(1);
      expect(await badge.getAttribute("class"), id).toBe(`badge ${status}`);
      expect((await badge.textContent())?.trim(), id).toBe(status);
      const style = await badge.evaluate((el) => ({ background: getComputedStyle(el).backgroundColor, radius: getComputedStyle(el).borderRadius }));
      expect(style.background, id).toBe(rgb(BADGE_BACKGROUND[status]));
      expect(style.radius, id).toBe("10px");
    }
    // The summary line counts one of each.
    const summary = await page.locator("p.summary span.badge").allTextContents();
    expect(summary.map((s) => s.trim()).sort()).toEqual(["1 degraded", "1 error", "1 maintenance", "2 available"]);
    await expect(page.locator('tr[data-model="gamma"]').textContent()).resolves.toMatch(/3 failures in a row/);
  });

  it("draws a chart of recent checks: one bar per check, oldest first, failed ones red", async () => {
    for (const [id, { checks }] of Object.entries(MODELS)) {
      const row = page.locator(`tr[data-model="${id}"]`);
      expect(await row.locator("svg.chart").count(), id).toBe(1);
      const fills = await row.locator("svg.chart rect").evaluateAll((rects) => rects.map((r) => r.getAttribute("fill")));
      // The first bar is the probe at registration (it passed), then the checks run on demand.
      expect(fills, id).toEqual([true, ...checks].map((ok) => (ok ? BAR.ok : BAR.failed)));
      const box = await row.locator("svg.chart").boundingBox();
      expect(box?.width, id).toBeGreaterThan(0);
      expect(box?.height, id).toBeGreaterThan(0);
    }
  });

  it("has no script, and the key appears nowhere in the page", async () => {
    expect(await page.locator("script").count()).toBe(0);
    const html = await page.content();
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain(tenant.userKey);
    // The raw HTML the gateway sends, with the cookie a browser would send.
    const raw = await context.request.get(`${dev.url}/status`);
    expect(raw.status()).toBe(200);
    expect(raw.headers()["content-security-policy"]).toMatch(/default-src 'none'/);
    const body = await raw.text();
    expect(body).not.toMatch(/<script/i);
    expect(body).not.toContain(tenant.userKey);
    expect(body).toContain('data-model="alpha"');
  });

  it("renders: a full-page screenshot shows the badge and bar colours", async () => {
    const png = await page.screenshot({ fullPage: true, type: "png" });
    const path = join(tmpdir(), `mcp-gateway-status-page-${RUN}.png`);
    await writeFile(path, png);
    console.log(`status page screenshot: ${path}`);

    const image = decodePng(png);
    expect(image.width).toBe(1200);
    expect(image.height).toBeGreaterThanOrEqual(300);
    expect(distinctColours(image)).toBeGreaterThan(20);
    const counts = Object.fromEntries(
      Object.entries({ ...BADGE_BACKGROUND, barOk: BAR.ok, barFailed: BAR.failed }).map(([name, colour]) => [name, countColour(image, colour)]),
    );
    console.log(`screenshot ${image.width}×${image.height}, ${distinctColours(image)} colours; pixels per colour: ${JSON.stringify(counts)}`);
    // Each badge background fills well over 800 pixels (two badges each: the row and the summary line;
    // about 1,700 to 5,000 when rendered, none or a few hundred grey-ish ones on an unstyled page);
    // the five failed bars are 6 × 28 px each.
    for (const name of new Set(Object.values(MODELS).map((m) => m.status)))
      expect(counts[name], `${name} badge pixels in ${JSON.stringify(counts)}`).toBeGreaterThan(800);
    expect(counts.barFailed).toBeGreaterThanOrEqual(5 * 6 * 28 * 0.9);
    expect(counts.barOk).toBeGreaterThan(4 * 6 * 3 * 0.9);
  });

  it("refuses an edited session cookie, and takes the genuine one back", async () => {
    const [genuine] = (await context.cookies()).filter((c) => c.name === "mgw_status");
    const [payload, mac] = genuine!.value.split(".") as [string, string];
    // An edited MAC changes its first character: the last one of 43 base64url characters also carries two unused bits.
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
    const longer = Buffer.from(JSON.stringify({ ...claims, e: Number(claims.e) + 30 * 86400 })).toString("base64url");
    for (const value of [`${longer}.${mac}`, `${payload}.${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`, tenant.userKey]) {
      await context.addCookies([{ ...genuine!, value }]);
      const response = await page.goto(`${dev.url}/status`);
      expect(response?.status(), value).toBe(401);
      expect(await page.locator("table").count()).toBe(0);
      expect(await page.locator("form.login").count()).toBe(1);
    }
    await context.addCookies([genuine!]);
    expect((await page.goto(`${dev.url}/status`))?.status()).toBe(200);
  });

  it("signs out back to the form", async () => {
    const [back] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/status" && r.request().method() === "GET"),
      page.click("form[action='/status/logout'] button"),
    ]);
    expect(back.status()).toBe(401);
    await page.waitForLoadState();
    expect(await page.locator("form.login input#key").count()).toBe(1);
    expect(await page.locator("table").count()).toBe(0);
    expect((await context.cookies()).filter((c) => c.name === "mgw_status")).toEqual([]);
    // And stays signed out; tools may still send the key as a bearer token instead.
    expect((await page.reload())?.status()).toBe(401);
    const bearer = await fetch(`${dev.url}/status`, { headers: { authorization: `Bearer ${tenant.userKey}` } });
    expect(bearer.status).toBe(200);
    const html = await bearer.text();
    expect(html).toContain('data-model="gamma" data-status="error"');
    expect(html).not.toContain(tenant.userKey);
  });

  it("refuses a sign-in form posted from another site (login CSRF): no session is set", async () => {
    const attacker = await call<{ key: string }>("POST", "/api/v1/tenants/storefront/keys", {
      token: dev.adminToken,
      body: { role: "user", name: "attacker" },
    });
    expect(attacker.status).toBe(201);
    // A page on another site (localhost is another site than 127.0.0.1) with a form that signs the visitor in as the attacker.
    const evil = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        `<!doctype html><form method="post" action="${dev.url}/status/login">` +
          `<input name="key" value="${attacker.body.key}"><input name="csrf" value="guessed-token"><button id="go">Win a prize</button></form>`,
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    try {
      const port = (evil.address() as { port: number }).port;
      const victim = await browser.newContext();
      const tab = await victim.newPage();
      await tab.goto(`http://localhost:${port}/`);
      const [answer] = await Promise.all([tab.waitForResponse((r) => r.url().endsWith("/status/login")), tab.click("#go")]);
      expect(answer.status()).toBe(403);
      await tab.waitForLoadState();
      await expect(tab.locator("p.error[role=alert]").textContent()).resolves.toMatch(/did not come from this page/);
      expect((await victim.cookies(dev.url)).filter((c) => c.name === "mgw_status")).toEqual([]);
      const after = await tab.goto(`${dev.url}/status`);
      expect(after?.status()).toBe(401);
      await victim.close();
    } finally {
      await new Promise<void>((resolve) => evil.close(() => resolve()));
    }
  });
});
