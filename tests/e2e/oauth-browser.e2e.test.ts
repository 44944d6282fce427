/**
 * End to end: OAuth consent in a real browser — Debian's Chromium driven by
 * playwright-core — against `wrangler dev`, with a real MCP client
 * (`@modelcontextprotocol/client`) and a real loopback redirect URI (a small
 * HTTP server on 127.0.0.1 that the browser must actually reach).
 *
 * The client registers itself (DCR), the browser opens /authorize, a person
 * pastes a key and clicks Allow (or Deny), and the browser lands on the
 * callback with `code` and `state` (or `error=access_denied`). Chromium applies
 * the consent page's CSP `form-action` to the redirect that answers the form
 * post, so this fails unless the page allows exactly the client's verified
 * redirect origin. The console must show no CSP violation.
 *
 * Chromium missing: skipped with a hint on a dev machine, a failure in CI.
 */
import { createServer, type Server } from "node:http";
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import type { Browser, BrowserContext, ConsoleMessage, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { browserAvailability, launchChromium } from "./browser";
import { gatewayFor, ResponseRecorder, type Tenant, until } from "./helpers";
import { authorizeUrl, b64url, InMemoryOAuthProvider, pkce, registerClient } from "./oauth-client";

const openaiUrl = inject("openaiUrl");
const RUN = String(Date.now() % 1e8);

const availability = browserAvailability();
if (!availability.run && !availability.required) console.warn(availability.reason);
if (!availability.run && availability.required) {
  it("needs Chromium", () => {
    throw new Error(availability.reason);
  });
}

/** The client's redirect URI: a real HTTP server on loopback that records what the browser brought. */
class Callback {
  readonly hits: URL[] = [];
  private server?: Server;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", this.url);
      this.hits.push(url);
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>Signed in</title><p>You can close this window.</p>");
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/callback`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next hit on the callback path after `count` earlier ones. */
  next(count: number): Promise<URL> {
    return until(
      "the browser to reach the redirect URI",
      async () => this.hits.slice(count).find((u) => u.pathname === "/callback"),
      (hit) => hit !== undefined,
      15_000,
    ) as Promise<URL>;
  }
}

/** An MCP client's OAuth state whose "person" is Chromium: it opens the page, pastes the key, clicks a button. */
class BrowserProvider extends InMemoryOAuthProvider {
  protected readonly clientName = "Browser e2e client";
  landed?: URL;

  constructor(
    private readonly page: Page,
    private readonly callback: Callback,
    private readonly key: string,
    private readonly decision: "Allow" | "Deny" = "Allow",
  ) {
    super();
  }

  get redirectUrl(): string {
    return this.callback.url;
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.landed = await consentInBrowser(this.page, this.callback, authorizationUrl, this.key, this.decision);
  }
}

/** What a person does at the consent page; returns where the browser ended up (the callback). */
async function consentInBrowser(page: Page, callback: Callback, url: URL | string, key: string, decision: "Allow" | "Deny"): Promise<URL> {
  const before = callback.hits.length;
  const shown = await page.goto(String(url));
  expect(shown?.status()).toBe(200);
  if (decision === "Allow") await page.fill("#key", key);
  await page.click(`button[name=decision]:text("${decision}")`);
  const hit = await callback.next(before);
  await page.waitForURL((u) => u.pathname === "/callback");
  expect(new URL(page.url()).origin).toBe(new URL(callback.url).origin);
  return hit;
}

describe.runIf(availability.run)("OAuth consent in Chromium", () => {
  let dev: WranglerDev;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let tenant: Tenant;
  const callback = new Callback();
  const recorder = new ResponseRecorder();
  const { createTenant, registerModel } = gatewayFor(recorder, () => dev);
  const consoleLines: string[] = [];

  beforeAll(async () => {
    [dev, browser] = await Promise.all([startWranglerDev(), launchChromium(), callback.start()]);
    context = await browser.newContext();
    page = await context.newPage();
    page.on("console", (m: ConsoleMessage) => consoleLines.push(`${m.type()}: ${m.text()}`));
    tenant = await createTenant({ id: "browserco", name: "Browser Co", grantCanary: true });
    await registerModel(tenant, {
      id: "echo",
      name: "Echo",
      backend_type: "openai_compatible",
      config: { base_url: `${openaiUrl}/v1`, model_name: `gpt-e2e-oauth-browser-${RUN}`, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await callback.stop();
    await dev?.dispose();
  });

  it("Allow: the browser lands on the loopback redirect URI with code and state; the MCP client gets a token and lists tools", async () => {
    const provider = new BrowserProvider(page, callback, tenant.userKey);
    const transport = () => new StreamableHTTPClientTransport(new URL(`${dev.url}/mcp`), { authProvider: provider, fetch: recorder.fetch });
    const first = new Client({ name: "e2e-oauth-browser", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const firstTransport = transport();
    const failure = await first
      .connect(firstTransport)
      .then(() => first.listTools())
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(UnauthorizedError.isInstance(failure), `expected UnauthorizedError, got ${String(failure)}`).toBe(true);

    const landed = provider.landed!;
    expect(landed.searchParams.get("code")).toBeTruthy();
    expect(landed.searchParams.get("state")).toBe(provider.expectedState);
    expect(landed.searchParams.get("iss")).toBe(dev.url);
    await expect(page.locator("p").textContent()).resolves.toContain("close this window");

    await firstTransport.finishAuth(landed.searchParams);
    await first.close().catch(() => undefined);

    const client = new Client({ name: "e2e-oauth-browser", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(transport());
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["chat", "list_models"]));
    expect(names).not.toContain("register_model"); // a user key's role
    const listed = (await client.callTool({ name: "list_models", arguments: {} })).structuredContent as { models: { id: string }[] };
    expect(listed.models.map((m) => m.id)).toEqual(["echo"]);
    expect(provider.tokens()?.access_token).not.toMatch(/^mgw_/);
    await client.close();
  });

  it("Deny: the browser lands on the redirect URI with error=access_denied and the state, and no code", async () => {
    const clientId = await registerClient(recorder.fetch, dev.url, callback.url, "Browser e2e client (deny)");
    const { challenge } = await pkce();
    const state = b64url(crypto.getRandomValues(new Uint8Array(12)));
    const landed = await consentInBrowser(
      page,
      callback,
      authorizeUrl(dev.url, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: callback.url,
        code_challenge: challenge,
        code_challenge_method: "S256",
        state,
        scope: "mcp",
        resource: `${dev.url}/mcp`,
      }),
      tenant.userKey,
      "Deny",
    );
    expect(landed.searchParams.get("error")).toBe("access_denied");
    expect(landed.searchParams.get("state")).toBe(state);
    expect(landed.searchParams.get("code")).toBeNull();
  });

  it("the consent page allows form posts only to itself and to the client's own redirect origin", async () => {
    const clientId = await registerClient(recorder.fetch, dev.url, callback.url, "Browser e2e client (csp)");
    const { challenge } = await pkce();
    const shown = await page.goto(
      String(
        authorizeUrl(dev.url, {
          response_type: "code",
          client_id: clientId,
          redirect_uri: callback.url,
          code_challenge: challenge,
          code_challenge_method: "S256",
          state: "s",
          resource: `${dev.url}/mcp`,
        }),
      ),
    );
    const csp = (await shown!.allHeaders())["content-security-policy"] ?? "";
    const formAction = /form-action ([^;]*)/.exec(csp)?.[1]?.trim().split(/\s+/);
    expect(formAction).toEqual(["'self'", new URL(callback.url).origin]);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(await page.locator("script").count()).toBe(0);
  });

  it("the browser console showed no CSP violation, and no secret reached a response", () => {
    expect(consoleLines.filter((l) => /content security policy|violates/i.test(l))).toEqual([]);
    expect(recorder.text()).not.toContain(dev.upstreamKey);
  });
});
