/**
 * End to end: the MCP Apps views in a real host. `wrangler dev` runs the
 * gateway; a real MCP client (`@modelcontextprotocol/client`) lists the tools,
 * reads each view's `ui://` resource and calls the tool; a minimal host page
 * built with the Apps SDK's `AppBridge` (./apps-host.ts) shows the view in a
 * sandboxed frame in headless Chromium under the view's declared CSP, and
 * delivers the tool result. The test asserts what a person sees, that an
 * action in the view reaches the gateway as a `tools/call` through the host,
 * and that nothing was logged as an error (CSP violations included). A
 * screenshot of each view is kept in test-artifacts/ (git-ignored).
 *
 * Chromium missing: skipped with a hint on a dev machine, a failure in CI.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport, type CallToolResult } from "@modelcontextprotocol/client";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openaiModel } from "../support/models";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import type { MountRequest } from "./apps-host";
import { browserAvailability, launchChromium } from "./browser";
import { fakes, gatewayFor, ResponseRecorder, type Tenant } from "./helpers";

const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts");
const RUN = String(Date.now() % 1e8);
const up = (id: string) => `gpt-e2e-apps-${id}-${RUN}`;
/** The host's style variables: the view must draw with them. */
const HOST_VARIABLES = { "--color-background-primary": "#10141c", "--color-text-primary": "#f0f3f6" };

const availability = browserAvailability();
if (!availability.run && !availability.required) console.warn(availability.reason);
if (!availability.run && availability.required) {
  it("needs Chromium", () => {
    throw new Error(availability.reason);
  });
}

interface Tool {
  name: string;
  _meta?: { ui?: { resourceUri?: string }; "ui/resourceUri"?: string };
}

describe.runIf(availability.run)("MCP Apps views in a host built with AppBridge, in Chromium", () => {
  let dev: WranglerDev;
  let browser: Browser;
  let client: Client;
  let tenant: Tenant;
  let hostScript: string;
  const recorder = new ResponseRecorder();
  const { api: call, createTenant, registerModel } = gatewayFor(recorder, () => dev);
  /** Every tools/call the host page made for a view, in order. */
  const hostCalls: { name: string; args: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    const bundled = build({
      entryPoints: [join(import.meta.dirname, "apps-host.ts")],
      bundle: true,
      write: false,
      format: "iife",
      platform: "browser",
      target: "es2022",
      logLevel: "silent",
    });
    [dev, browser] = await Promise.all([startWranglerDev(), launchChromium()]);
    hostScript = (await bundled).outputFiles[0]!.text;
    tenant = await createTenant({ id: `apps-${RUN}`, name: "Apps", grantCanary: true });
    const config = { max_retries: 0, timeout: 2, health_check: { probe: "generation" } };
    await registerModel(tenant, { ...openaiModel("alpha", up("alpha"), config), features: ["tools"] });
    await registerModel(tenant, openaiModel("beta", up("beta"), config));
    await registerModel(tenant, { ...openaiModel("gamma", up("gamma"), config), capabilities: ["embedding"] });
    expect((await call("PUT", "/api/v1/models/gamma/status", { token: tenant.adminKey, body: { status: "maintenance" } })).status).toBe(200);
    for (let i = 0; i < 2; i++) await call("POST", "/api/v1/models/alpha/health-check", { token: tenant.adminKey });

    client = new Client({ name: "e2e-apps-host", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${dev.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${tenant.userKey}` } },
        fetch: recorder.fetch,
      }),
    );
    await mkdir(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await client?.close();
    await browser?.close();
    await dev?.dispose();
  });

  /** A host page showing the view of `tool` with the result of calling it; problems collects console errors and page errors. */
  async function show(toolName: string, args: Record<string, unknown>, alter: (html: string) => string = (html) => html) {
    const { tools } = await client.listTools();
    const tool = tools.find((t) => t.name === toolName) as Tool | undefined;
    const uri = tool?._meta?.ui?.resourceUri;
    expect(uri, `${toolName} names a view`).toMatch(/^ui:\/\//);
    expect(tool?._meta?.["ui/resourceUri"]).toBe(uri);
    const resource = await client.readResource({ uri: uri! });
    const content = resource.contents[0] as { text: string; mimeType: string; _meta?: { ui?: { csp?: MountRequest["csp"] } } };
    expect(content.mimeType).toBe("text/html;profile=mcp-app");
    expect(content._meta?.ui?.csp).toEqual({ connectDomains: [], resourceDomains: [], frameDomains: [] });
    expect(content.text).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const result = (await client.callTool({ name: toolName, arguments: args })) as CallToolResult;
    expect(result.isError).toBeFalsy();

    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    await page.exposeFunction("hostCallTool", async (name: string, callArgs: Record<string, unknown>) => {
      hostCalls.push({ name, args: callArgs });
      return client.callTool({ name, arguments: callArgs });
    });
    await page.setContent(`<!doctype html><html><head><title>host</title></head><body><script>${hostScript}</script></body></html>`);
    const request: MountRequest = {
      html: alter(content.text),
      csp: content._meta!.ui!.csp!,
      toolInput: args,
      toolResult: result,
      theme: "dark",
      variables: HOST_VARIABLES,
    };
    await page.evaluate((r) => window.mountView(r), request);
    const view = page.frameLocator("iframe[title='MCP App view']");
    return { page, view, problems, result };
  }

  async function keep(page: Page, name: string) {
    await writeFile(join(ARTIFACTS, `mcp-apps-${name}.png`), await page.screenshot({ fullPage: true }));
  }

  it("list_models: every model with its status, capabilities and a latency line; 'Check now' calls check_health through the host", async () => {
    const { page, view, problems } = await show("list_models", {});
    const rows = view.locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(3);
    const statusOf = (id: string) => view.locator(`tr[data-model='${id}'] [data-cell='status']`).textContent();
    expect(await statusOf("alpha")).toBe("available");
    expect(await statusOf("beta")).toBe("available");
    expect(await statusOf("gamma")).toBe("maintenance");
    expect(await view.locator("tr[data-model='alpha'] .tags").textContent()).toBe("chatcompletiontools");
    expect(await view.locator("h1").textContent()).toBe("3 models");

    // The latency lines come from list_models with history, asked for through the host.
    await expect.poll(() => hostCalls.some((c) => c.name === "list_models" && c.args.history === true)).toBe(true);
    const alphaLine = view.locator("tr[data-model='alpha'] svg[role='img']");
    await expect.poll(() => alphaLine.getAttribute("aria-label")).toMatch(/^Latency of the last 3 checks/);
    expect(await alphaLine.locator("polyline").getAttribute("points")).toMatch(/^[\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+$/);

    // The host's theme: its background variable is what the view draws on.
    expect(await view.locator("body").evaluate((b) => getComputedStyle(b).backgroundColor)).toBe("rgb(16, 20, 28)");
    // Accessible: the buttons say which model they check; the table has column headers.
    expect(await view.getByRole("button", { name: "Check beta now" }).count()).toBe(1);
    expect(await view.getByRole("columnheader").count()).toBe(6);

    // beta's next check fails: "Check now" reaches the gateway through the host and shows the new status.
    await fakes.openai.script(up("beta"), [{ kind: "status", status: 500 }]);
    const before = hostCalls.length;
    await view.getByRole("button", { name: "Check beta now" }).click();
    await expect.poll(() => statusOf("beta")).toBe("degraded");
    expect(hostCalls.slice(before)).toEqual([{ name: "check_health", args: { model_id: "beta" } }]);
    expect(await view.getByRole("status").textContent()).toMatch(/^beta: check failed, now degraded/);
    const model = await call<{ status: string }>("GET", "/api/v1/models/beta", { token: tenant.userKey });
    expect(model.body.status).toBe("degraded");

    await keep(page, "list-models");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("the host's check can fail: a view that reaches for the network is stopped by its CSP and reported", async () => {
    const { page, view, problems } = await show("list_models", {}, (html) => html.replace("</main>", `</main><img alt="" src="${dev.url}/health">`));
    await expect.poll(() => view.locator("tbody tr").count()).toBeGreaterThan(0);
    await expect.poll(() => problems.join("\n")).toMatch(/Content Security Policy/);
    await page.close();
  });

  it("explain_route: the receipt names the answering model, and each skipped target with why", async () => {
    const config = { max_retries: 0, timeout: 2, health_check: { probe: "generation" } };
    await registerModel(tenant, { ...openaiModel("omega", up("omega"), config), fallbacks: ["alpha", "beta"] });
    expect((await call("PUT", "/api/v1/models/omega/status", { token: tenant.adminKey, body: { status: "maintenance" } })).status).toBe(200);
    const { page, view, problems, result } = await show("explain_route", { model_id: "omega", capability: "chat", features: ["json_schema"] });
    expect(result.structuredContent).toMatchObject({ would_answer: "beta" });
    const steps = view.locator("ol.route > li");
    await expect.poll(() => steps.count()).toBe(3);
    expect(await view.locator(".verdict").textContent()).toBe("chat with json_schema on omega would be answered by beta.");
    const why = (id: string) => view.locator(`li[data-model='${id}'] [data-cell='why']`).textContent();
    expect(await why("omega")).toBe("Skipped: in maintenance (set by an admin)");
    expect(await why("alpha")).toMatch(/^Skipped: lacks the json_schema feature/);
    expect(await why("beta")).toBe("Would answer");
    expect(await view.locator("li[data-model='beta'] [data-cell='status']").textContent()).toBe("degraded");
    expect(await view.locator("li[data-model='alpha'] .facts").textContent()).toMatch(
      /^openai_compatible → 127\.0\.0\.1:\d+ · breaker closed · no rate limit$/,
    );
    expect(await view.getByRole("listitem", { name: "Fallback 2: beta" }).count()).toBe(1);
    await keep(page, "explain-route");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("get_usage: totals, bars per model, the budget as a meter; 'By day' asks get_usage again through the host", async () => {
    for (let i = 0; i < 3; i++) {
      const chat = await client.callTool({ name: "chat", arguments: { model_id: "alpha", messages: [{ role: "user", content: `hello ${i}` }] } });
      expect(chat.isError).toBeFalsy();
    }
    const budget = await call("PUT", `/api/v1/tenants/${tenant.id}/budget`, { token: dev.adminToken, body: { period: "month", tokens: 1_000_000 } });
    expect(budget.status).toBe(200);
    // Usage is written after the response: wait until the report counts all three.
    await expect
      .poll(
        async () =>
          ((await client.callTool({ name: "get_usage", arguments: {} })).structuredContent as { totals: { requests: number } }).totals.requests,
        { timeout: 10_000 },
      )
      .toBeGreaterThanOrEqual(3);
    const { page, view, problems, result } = await show("get_usage", {});
    const report = result.structuredContent as { totals: { requests: number; total_tokens: number }; groups: { model_id: string }[] };
    await expect.poll(() => view.locator("tr[data-group='alpha']").count()).toBe(1);
    expect(await view.locator(".totals").textContent()).toContain(`Requests${report.totals.requests}`);
    const meter = view.getByRole("meter", { name: "Tenant budget per month" });
    expect(await meter.getAttribute("aria-valuenow")).toMatch(/^\d+$/);
    expect(await view.locator("[data-budget='tenant']").textContent()).toMatch(/of 1,000,000 used/);

    const before = hostCalls.length;
    await view.getByRole("button", { name: "By day" }).click();
    const today = new Date().toISOString().slice(0, 10);
    await expect.poll(() => view.locator(`tr[data-group='${today}']`).count()).toBe(1);
    expect(hostCalls.slice(before)).toEqual([{ name: "get_usage", args: { group_by: "day" } }]);
    expect(await view.getByRole("button", { name: "By day" }).getAttribute("aria-pressed")).toBe("true");
    await keep(page, "get-usage");
    expect(problems).toEqual([]);
    await page.close();
  });
});
