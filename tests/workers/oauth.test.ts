/**
 * The OAuth flow at the HTTP level, as an MCP client performs it: discovery,
 * dynamic registration, authorization with PKCE and consent, token exchange,
 * calling /mcp, refresh rotation, and the attacks the issue names.
 */
import { env, exports } from "cloudflare:workers";
import { verifiedRedirect } from "../../src/oauth/consent";
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, openaiModel, registerModel, type Tenant } from "./helpers";

const BASE = "http://localhost";
const REDIRECT = "http://127.0.0.1:33418/callback";

async function raw(path: string, init: RequestInit = {}) {
  return exports.default.fetch(new Request(`${BASE}${path}`, { redirect: "manual", ...init, headers: { host: "localhost", ...init.headers } }));
}

function b64url(bytes: ArrayBuffer | Uint8Array) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

async function pkce() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  return { verifier, challenge };
}

async function register(name = "Test MCP client", redirectUris = [REDIRECT]) {
  const res = await raw("/oauth/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: redirectUris,
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
    }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

/** Open the consent page, then approve it with a tenant key; returns the authorization code. */
async function authorize(clientId: string, key: string, challenge: string, resource = `${BASE}/mcp`, scope = "mcp offline_access") {
  const params = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "xyz",
    scope,
    resource,
  });
  const page = await raw(`/authorize?${params}`);
  const html = await page.text();
  const handle = /name="handle" value="([^"]+)"/.exec(html)?.[1];
  const cookie = (page.headers.get("set-cookie") ?? "").split(";")[0]!;
  const form = new URLSearchParams({ handle: handle ?? "", decision: "approve", key });
  const approved = await raw("/authorize", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: BASE },
    body: form.toString(),
  });
  return { page, html, approved, location: approved.headers.get("location") ?? "" };
}

async function token(body: Record<string, string>) {
  const res = await raw("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(body).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function fullFlow(tenant: Tenant, key = tenant.userKey, scope?: string) {
  const clientId = await register();
  const { verifier, challenge } = await pkce();
  const { location } = await authorize(clientId, key, challenge, undefined, scope);
  const code = new URL(location).searchParams.get("code")!;
  const tokens = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: clientId, code_verifier: verifier });
  return { clientId, verifier, code, tokens };
}

describe("OAuth for MCP clients", () => {
  it("a 401 on /mcp leads to the metadata, which leads to the authorization server", async () => {
    const challenge = await raw("/mcp", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(challenge.status).toBe(401);
    const header = challenge.headers.get("www-authenticate") ?? "";
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(header)?.[1];
    expect(metadataUrl).toBe(`${BASE}/.well-known/oauth-protected-resource/mcp`);
    expect(header).toContain('scope="mcp"');
    const resource = (await (await raw(new URL(metadataUrl!).pathname)).json()) as { authorization_servers: string[]; resource: string };
    expect(resource).toMatchObject({ resource: `${BASE}/mcp`, authorization_servers: [BASE] });
    const as = (await (await raw("/.well-known/oauth-authorization-server")).json()) as Record<string, unknown>;
    expect(as).toMatchObject({
      issuer: BASE,
      authorization_endpoint: `${BASE}/authorize`,
      token_endpoint: `${BASE}/oauth/token`,
      registration_endpoint: `${BASE}/oauth/register`,
      code_challenge_methods_supported: ["S256"],
    });
  });

  it("the consent page shows the client, the scopes and where tokens go, and cannot be framed", async () => {
    const clientId = await register('<img src=x onerror="alert(1)">');
    const { challenge } = await pkce();
    const params = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
      scope: "mcp",
      resource: `${BASE}/mcp`,
    });
    const page = await raw(`/authorize?${params}`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(html).not.toContain('<img src=x onerror="alert(1)">');
    expect(html).toContain("<strong>127.0.0.1</strong>");
    expect(html).toContain("an app on your computer");
    expect(html).toContain("use this gateway's models and tools (<code>mcp</code>), for one hour.");
    expect(html).not.toContain("offline_access");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.headers.get("set-cookie")).toMatch(/^__Host-/);
  });

  it("authorize with PKCE, exchange the code, call /mcp with the tenant and role of the consenting key, refresh", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("m"));
    const { clientId, tokens } = await fullFlow(tenant, tenant.userKey);
    expect(tokens.status).toBe(200);
    expect(tokens.body).toMatchObject({ token_type: "bearer", scope: expect.stringContaining("mcp") });
    const access = tokens.body.access_token!;
    expect(access).not.toMatch(/^mgw_/);
    // Tokens do not say which tenant or key they belong to.
    expect(access).not.toContain(tenant.id);
    expect(tokens.body.refresh_token).not.toContain(tenant.userKeyId);

    const listed = await callTool(access, "list_models", {});
    expect(listed.tool.structuredContent).toMatchObject({ models: [{ id: "m" }] });
    const chat = await callTool(access, "chat", { model_id: "m", messages: [{ role: "user", content: "hi" }] });
    expect(chat.tool.structuredContent).toMatchObject({ text: "echo: hi" });
    // A user key consented: no admin tools.
    const denied = await callTool(access, "register_model", openaiModel("x")).catch((e: Error) => e.message);
    expect(JSON.stringify(denied)).toMatch(/register_model/);

    const refreshed = await token({ grant_type: "refresh_token", refresh_token: tokens.body.refresh_token!, client_id: clientId });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(tokens.body.refresh_token);
    expect((await callTool(refreshed.body.access_token!, "list_models", {})).tool.structuredContent).toMatchObject({ models: [{ id: "m" }] });
    // Rotation: once the new refresh token is used, the old one is dead.
    await token({ grant_type: "refresh_token", refresh_token: refreshed.body.refresh_token!, client_id: clientId });
    const stale = await token({ grant_type: "refresh_token", refresh_token: tokens.body.refresh_token!, client_id: clientId });
    expect(stale.status).toBe(400);
    expect(stale.body.error).toBe("invalid_grant");
  });

  it("offline_access (a refresh token) is granted only when the client asks for it, and the page says which", async () => {
    const tenant = await createTenant();
    const asked = await fullFlow(tenant, tenant.userKey, "mcp offline_access");
    expect(asked.tokens.body.scope?.split(" ").sort()).toEqual(["mcp", "offline_access"]);
    expect(asked.tokens.body.refresh_token).toEqual(expect.any(String));

    const notAsked = await fullFlow(tenant, tenant.userKey, "mcp");
    expect(notAsked.tokens.status).toBe(200);
    expect(notAsked.tokens.body.scope).toBe("mcp");
    expect(notAsked.tokens.body.refresh_token).toBeUndefined();
    expect((await callTool(notAsked.tokens.body.access_token!, "list_models", {})).tool.isError).toBeFalsy();

    const { challenge } = await pkce();
    const page = await authorize(await register(), tenant.userKey, challenge, undefined, "mcp offline_access");
    expect(page.html).toContain("stay signed in until you revoke it (<code>offline_access</code>");
  });

  it("a dynamically registered client expires when unused (30 days, renewed by use)", async () => {
    const clientId = await register("Short-lived client");
    const listed = await env.OAUTH_KV.list({ prefix: `client:${clientId}` });
    const expiration = listed.keys[0]?.expiration ?? 0;
    const days = (expiration - Date.now() / 1000) / 86_400;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  it("a bad access token sent again is refused from the isolate, without another KV read", async () => {
    const bad = `${"u".repeat(16)}:${"g".repeat(16)}:${"s".repeat(32)}`;
    const send = () => raw("/mcp", { method: "POST", headers: { authorization: `Bearer ${bad}`, "content-type": "application/json" }, body: "{}" });
    const first = await send();
    const again = await send();
    expect([first.status, again.status]).toEqual([401, 401]);
    expect(first.headers.get("server-timing")).toContain("dur=1");
    expect(again.headers.get("server-timing")).toContain("dur=0");
  });

  it("an admin key's consent grants admin tools, and revoking the key ends the token and its grant", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const { tokens, clientId } = await fullFlow(tenant, tenant.adminKey);
    const access = tokens.body.access_token!;
    const made = await callTool(access, "register_model", openaiModel("via-oauth"));
    expect(made.tool.structuredContent).toMatchObject({ id: "via-oauth" });
    await api("DELETE", `/api/v1/tenants/${tenant.id}/keys/${tenant.adminKeyId}`, { token: "test-operator-token" });
    const after = await raw("/mcp", {
      method: "POST",
      headers: { authorization: `Bearer ${access}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(after.status).toBe(401);
    // The grant is gone too: no new tokens for the revoked key.
    const refreshed = await token({ grant_type: "refresh_token", refresh_token: tokens.body.refresh_token!, client_id: clientId });
    expect(refreshed.status).toBe(400);
    expect(refreshed.body.error).toBe("invalid_grant");
  });

  it("refuses a replayed code, a wrong verifier, a plain PKCE method, a bad key, and a token for another audience", async () => {
    const tenant = await createTenant();
    const { clientId, code, verifier } = await fullFlow(tenant);
    const replay = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: clientId, code_verifier: verifier });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe("invalid_grant");

    const second = await pkce();
    const { location } = await authorize(clientId, tenant.userKey, second.challenge);
    const wrongVerifier = await token({
      grant_type: "authorization_code",
      code: new URL(location).searchParams.get("code")!,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: (await pkce()).verifier,
    });
    expect(wrongVerifier.body.error).toBe("invalid_grant");

    const plain = await raw(
      `/authorize?${new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: REDIRECT, code_challenge: "abc", code_challenge_method: "plain", resource: `${BASE}/mcp` })}`,
    );
    expect(plain.status).toBeGreaterThanOrEqual(300);
    expect(plain.headers.get("location") ?? (await plain.text())).toMatch(/invalid_request|S256|code_challenge/i);

    const badKey = await authorize(clientId, "mgw_nope_notakey", (await pkce()).challenge);
    expect(badKey.approved.status).toBe(400);
    expect(await badKey.approved.text()).toContain("not valid");

    const otherAudience = await authorize(clientId, tenant.userKey, (await pkce()).challenge, "http://localhost/other");
    expect(otherAudience.page.status === 400 || /invalid_target/.test(otherAudience.page.headers.get("location") ?? "")).toBe(true);

    // A token presented somewhere that is not its audience is not accepted: /v1 takes API keys only.
    const { tokens } = await fullFlow(tenant);
    expect((await api("GET", "/v1/models", { token: tokens.body.access_token })).status).toBe(401);
  });

  it("an access token on /v1 or /api is told those take tenant API keys, and tokens are for /mcp", async () => {
    const tenant = await createTenant();
    const { tokens } = await fullFlow(tenant);
    const message = "That bearer is not a tenant API key (mgw_<tenant>_…): /v1 and /api take tenant API keys; OAuth access tokens are for /mcp only.";
    for (const path of ["/v1/models", "/api/v1/models"]) {
      const res = await api<{ error: { message: string } }>("GET", path, { token: tokens.body.access_token });
      expect(res.status, path).toBe(401);
      expect(res.body.error.message, path).toBe(message);
      expect(res.headers.get("www-authenticate"), path).toMatch(/error="invalid_token"/);
    }
    // A key-shaped bearer that is not (or no longer) a key keeps the key message.
    const unknown = await api<{ error: { message: string } }>("GET", "/v1/models", { token: `mgw_${tenant.id}_${"x".repeat(43)}` });
    expect(unknown.body.error.message).toBe("The API key is not valid (unknown or revoked).");
  });

  it("deny sends the person back to the client with access_denied", async () => {
    const clientId = await register();
    const { challenge } = await pkce();
    const params = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "s1",
      resource: `${BASE}/mcp`,
    });
    const page = await raw(`/authorize?${params}`);
    const handle = /name="handle" value="([^"]+)"/.exec(await page.text())?.[1] ?? "";
    const cookie = (page.headers.get("set-cookie") ?? "").split(";")[0]!;
    const denied = await raw("/authorize", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie },
      body: new URLSearchParams({ handle, decision: "deny" }).toString(),
    });
    expect(denied.status).toBe(302);
    const location = new URL(denied.headers.get("location")!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe("s1");
  });
});

describe("where the consent page sends the browser", () => {
  const authorizeParams = (clientId: string, redirectUri: string, extra: Record<string, string> = {}) =>
    new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
      state: "st",
      resource: `${BASE}/mcp`,
      ...extra,
    });

  it("a self-registered client's bad request is explained on the page, never redirected to the client's URL (no open redirect)", async () => {
    const evil = "https://evil.example/landing";
    const clientId = await register("Redirector", [evil]);
    for (const extra of <Record<string, string>[]>[
      { code_challenge_method: "plain" },
      { response_type: "token" },
      { resource: "https://evil.example/mcp" },
    ]) {
      const res = await raw(`/authorize?${authorizeParams(clientId, evil, extra)}`);
      const text = await res.text();
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.headers.get("location"), JSON.stringify(extra)).toBeNull();
      expect(res.headers.get("content-type")).toMatch(/text\/html/);
      expect(text).not.toContain("evil.example/landing");
      expect(res.headers.get("content-security-policy")).toContain("form-action 'self';");
    }
  });

  it("the page's form-action allows exactly the validated redirect origin; one CSP cannot name gets a link instead", async () => {
    const clientId = await register("CSP client", [REDIRECT]);
    const page = await raw(`/authorize?${authorizeParams(clientId, REDIRECT)}`);
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(/form-action ([^;]*);/.exec(csp)?.[1]).toBe("'self' http://127.0.0.1:33418");
    expect(csp).toContain("default-src 'none'");

    // An IPv6 loopback redirect cannot be written as a CSP source: only 'self', and the answer is a page with a link.
    const v6 = "http://[::1]:33418/callback";
    const v6Client = await register("IPv6 client", [v6]);
    const v6Page = await raw(`/authorize?${authorizeParams(v6Client, v6)}`);
    expect(/form-action ([^;]*);/.exec(v6Page.headers.get("content-security-policy") ?? "")?.[1]).toBe("'self'");
    const handle = /name="handle" value="([^"]+)"/.exec(await v6Page.text())?.[1] ?? "";
    const cookie = (v6Page.headers.get("set-cookie") ?? "").split(";")[0]!;
    const denied = await raw("/authorize", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie },
      body: new URLSearchParams({ handle, decision: "deny" }).toString(),
    });
    expect(denied.status).toBe(200);
    expect(denied.headers.get("location")).toBeNull();
    const link = /<a href="([^"]+)">Return to the app<\/a>/.exec(await denied.text())?.[1] ?? "";
    const back = new URL(link.replace(/&amp;/g, "&"));
    expect(`${back.origin}${back.pathname}`).toBe(v6);
    expect(back.searchParams.get("error")).toBe("access_denied");
  });
});

describe("Client ID Metadata Documents", () => {
  it("a failed request goes back to a metadata-document client only on a host the operator trusts", () => {
    const trusted = new Set(["app.example"]);
    expect(verifiedRedirect("https://app.example/client.json", "https://app.example/callback", trusted)).toBe(true);
    // Anyone can publish a document naming its own domain: that alone does not make this origin redirect there.
    expect(verifiedRedirect("https://evil.example/client.json", "https://evil.example/landing", trusted)).toBe(false);
    expect(verifiedRedirect("https://app.example/client.json", "https://evil.example/landing", trusted)).toBe(false);
    expect(verifiedRedirect("https://app.example/client.json", "http://app.example/callback", trusted)).toBe(false);
    expect(verifiedRedirect("https://app.example/client.json", "https://app.example/callback", new Set())).toBe(false);
  });

  it("are advertised, as MCP 2026-07-28 prefers them to dynamic registration", async () => {
    const as = (await (await raw("/.well-known/oauth-authorization-server")).json()) as Record<string, unknown>;
    expect(as.client_id_metadata_document_supported).toBe(true);
  });
});
