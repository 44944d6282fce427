/**
 * End to end: OAuth 2.1 for MCP clients through `wrangler dev`, with the real
 * `@modelcontextprotocol/client` 2.4.0 Streamable HTTP transport and an
 * `authProvider` whose "person" approves the consent page with a tenant API key
 * (tests/e2e/oauth-client.ts). The client discovers everything from the 401 on
 * /mcp, registers itself, gets a code, exchanges it, refreshes when its access
 * token is refused, and calls tools with the tenant and role of the key that
 * consented.
 *
 * The attacks a client library would never try on its own (a replayed code, a
 * wrong PKCE verifier, `plain` PKCE, another audience, a token at /v1) go
 * through the HTTP-level helpers of the same file.
 *
 * One gateway for the file; tests run in order (later ones reuse the sessions
 * of earlier ones). Upstream model names carry this file's name and a run
 * number: the fake upstream is shared by all e2e files.
 */
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { fakes, gatewayFor, type Generation, type ModelSummary, ResponseRecorder, type Tenant, type ToolResult } from "./helpers";
import { authorizeByHand, authorizeUrl, ConsentingProvider, consent, type Fetch, pkce, registerClient, tokenRequest } from "./oauth-client";

const openaiUrl = inject("openaiUrl");
const RUN = String(Date.now() % 1e8);
const UPSTREAM_MODEL = `gpt-e2e-oauth-${RUN}`;
/** A loopback redirect URI; nobody listens on it: the 302's Location is read instead. */
const REDIRECT = "http://127.0.0.1:33419/callback";
const ADMIN_TOOLS = ["register_model", "remove_model", "set_maintenance", "set_telemetry_export", "update_model"];

let dev: WranglerDev;
const recorder = new ResponseRecorder();
let acme: Tenant;
let globex: Tenant;
/** Every access token any client was issued in this file (none may ever reach the upstream). */
const issuedAccessTokens = new Set<string>();
const closers: (() => Promise<void>)[] = [];

const { api: call, createTenant, registerModel } = gatewayFor(recorder, () => dev);

/** A fetch that records responses and logs "METHOD /path" (and a token request's grant type). */
function loggingFetch(log: string[]): Fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    let line = `${init?.method ?? "GET"} ${url.pathname}`;
    if (url.pathname === "/oauth/token" && init?.body) line += ` ${new URLSearchParams(String(init.body)).get("grant_type")}`;
    const response = await recorder.fetch(input, init);
    log.push(`${line} → ${response.status}`);
    return response;
  };
}

interface OAuthSession {
  provider: ConsentingProvider;
  client: Client;
  transport: StreamableHTTPClientTransport;
  log: string[];
  callTool(name: string, args: Record<string, unknown>): Promise<ToolResult>;
  toolNames(): Promise<string[]>;
}

function newClient(provider: ConsentingProvider, fetch: Fetch) {
  const client = new Client({ name: "e2e-oauth", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  const transport = new StreamableHTTPClientTransport(new URL(`${dev.url}/mcp`), { authProvider: provider, fetch });
  return { client, transport };
}

/**
 * What an MCP host does: connect; on UnauthorizedError the provider has already
 * sent the person through consent, so finish with the callback and reconnect.
 */
async function signIn(key: string, clientName?: string): Promise<OAuthSession> {
  const log: string[] = [];
  const fetch = loggingFetch(log);
  const provider = new ConsentingProvider(fetch, key, REDIRECT, clientName);
  const first = newClient(provider, fetch);
  const failure = await first.client
    .connect(first.transport)
    .then(() => first.client.listTools())
    .then(
      () => null,
      (error: unknown) => error,
    );
  expect(UnauthorizedError.isInstance(failure), `expected UnauthorizedError, got ${String(failure)}`).toBe(true);
  expect(provider.consents).toHaveLength(1);
  expect(provider.callback?.get("code")).toBeTruthy();
  await first.transport.finishAuth(provider.callback!);
  await first.client.close().catch(() => undefined);

  const { client, transport } = newClient(provider, fetch);
  await client.connect(transport);
  closers.push(() => client.close());
  for (const t of provider.savedTokens) issuedAccessTokens.add(t.access_token);
  return {
    provider,
    client,
    transport,
    log,
    callTool: async (name, args) => {
      const result = (await client.callTool({ name, arguments: args })) as ToolResult;
      for (const t of provider.savedTokens) issuedAccessTokens.add(t.access_token);
      return result;
    },
    toolNames: async () => (await client.listTools()).tools.map((t) => t.name).sort(),
  };
}

/** A raw MCP request with a bearer token (no client library: exactly what the server answers). */
async function rawMcp(token: string, method = "tools/list") {
  const response = await recorder.fetch(`${dev.url}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: {} }),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function chatModel(id: string) {
  return {
    id,
    name: `Echo ${id}`,
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UPSTREAM_MODEL, api_key: "${UPSTREAM_KEY}", max_retries: 0, timeout: 10 },
  };
}

beforeAll(async () => {
  dev = await startWranglerDev();
  acme = await createTenant({ id: "acme", name: "Acme", grantCanary: true });
  globex = await createTenant({ id: "globex", name: "Globex", grantCanary: true });
  await registerModel(acme, chatModel("acme-echo"));
  await registerModel(globex, chatModel("globex-echo"));
});

afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

describe("discovery", () => {
  it("401 on /mcp → resource_metadata → protected-resource metadata → authorization_servers[0] → AS metadata", async () => {
    const challenge = await recorder.fetch(`${dev.url}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(challenge.status).toBe(401);
    const header = challenge.headers.get("www-authenticate") ?? "";
    expect(header).toMatch(/^Bearer /);
    expect(header).toContain('scope="mcp"');
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(header)?.[1];
    expect(metadataUrl).toBe(`${dev.url}/.well-known/oauth-protected-resource/mcp`);

    const resource = (await (await recorder.fetch(metadataUrl!)).json()) as {
      resource: string;
      authorization_servers: string[];
      scopes_supported: string[];
    };
    expect(resource.resource).toBe(`${dev.url}/mcp`);
    expect(resource.authorization_servers).toEqual([dev.url]);
    expect(resource.scopes_supported).toContain("mcp");

    const asUrl = new URL("/.well-known/oauth-authorization-server", resource.authorization_servers[0]);
    const as = (await (await recorder.fetch(asUrl)).json()) as Record<string, unknown>;
    expect(as).toMatchObject({
      issuer: dev.url,
      authorization_endpoint: `${dev.url}/authorize`,
      token_endpoint: `${dev.url}/oauth/token`,
      registration_endpoint: `${dev.url}/oauth/register`,
      code_challenge_methods_supported: ["S256"],
    });
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(["authorization_code", "refresh_token"]));
  });
});

describe("the MCP client signs in with a user key", () => {
  let session: OAuthSession;

  beforeAll(async () => {
    session = await signIn(acme.userKey, "Acme desktop client");
  });

  it("followed the discovery chain, registered, went through consent and exchanged the code", () => {
    const steps = session.log;
    const order = [
      "POST /mcp → 401",
      "GET /.well-known/oauth-protected-resource/mcp → 200",
      "GET /.well-known/oauth-authorization-server → 200",
      "POST /oauth/register → 201",
      "GET /authorize → 200",
      "POST /authorize → 302",
      "POST /oauth/token authorization_code → 200",
    ];
    let at = -1;
    for (const step of order) {
      const next = steps.findIndex((s, i) => i > at && s === step);
      expect(next, `"${step}" after position ${at} in:\n${steps.join("\n")}`).toBeGreaterThan(at);
      at = next;
    }
    // The consent page named the client, warned about the loopback redirect, and could not be framed.
    const [page] = session.provider.consents;
    expect(page!.html).toContain("Acme desktop client");
    expect(page!.html).toContain("an app on your computer");
    expect(page!.page.headers.get("x-frame-options")).toBe("DENY");
    expect(page!.page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    // The code came back with the issuer (RFC 9207) to the registered redirect URI.
    expect(session.provider.callback?.get("iss")).toBe(dev.url);
    const [tokens] = session.provider.savedTokens;
    expect(tokens).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), refresh_token: expect.any(String) });
    expect(tokens!.scope?.split(" ")).toContain("mcp");
    expect(tokens!.access_token).not.toMatch(/^mgw_/);
  });

  it("acts for the consenting key's tenant with its role: acme's models, no admin tools", async () => {
    const names = await session.toolNames();
    expect(names).toEqual(expect.arrayContaining(["chat", "list_models", "get_model"]));
    for (const admin of ADMIN_TOOLS) expect(names).not.toContain(admin);

    const listed = (await session.callTool("list_models", {})).structuredContent as { models: ModelSummary[] };
    expect(listed.models.map((m) => m.id)).toEqual(["acme-echo"]);
    // Another tenant's model is not there, whatever the token.
    const foreign = await session.callTool("get_model", { model_id: "globex-echo" });
    expect(foreign.isError).toBe(true);

    const chat = await session.callTool("chat", { model_id: "acme-echo", messages: [{ role: "user", content: "hello over oauth" }] });
    expect(chat.isError).toBeFalsy();
    expect(chat.structuredContent as unknown as Generation).toMatchObject({ text: "echo: hello over oauth", model_id: "acme-echo" });

    // An admin tool is refused to this token, and nothing was registered.
    const attempt = await session.client.callTool({ name: "register_model", arguments: chatModel("sneaky") }).then(
      (r) => JSON.stringify(r),
      (e: unknown) => String(e),
    );
    expect(attempt).toMatch(/register_model/);
    const models = await call<{ models: ModelSummary[] }>("GET", "/api/v1/models", { token: acme.adminKey });
    expect(models.body.models.map((m) => m.id)).toEqual(["acme-echo"]);
  });

  it("the client's access token never reaches the upstream: it gets the model's own credential", async () => {
    const sent = (await fakes.openai.requests(UPSTREAM_MODEL)).filter((r) => JSON.stringify(r.body).includes("hello over oauth"));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers.authorization).toBe(`Bearer ${dev.upstreamKey}`);
    const everything = JSON.stringify(sent);
    for (const token of session.provider.savedTokens) {
      expect(everything).not.toContain(token.access_token);
      expect(everything).not.toContain(token.refresh_token);
    }
  });

  it("when the access token is refused the SDK refreshes, and refresh tokens rotate", async () => {
    const [first] = session.provider.savedTokens;
    // An expired (here: no longer valid) access token: /mcp answers 401, the SDK refreshes and retries.
    session.provider.accessTokenOverride = `${first!.access_token}-expired`;
    const before = session.log.length;
    const chat = await session.callTool("chat", { model_id: "acme-echo", messages: [{ role: "user", content: "after refresh" }] });
    expect(chat.structuredContent).toMatchObject({ text: "echo: after refresh" });
    const refreshLeg = session.log.slice(before);
    expect(refreshLeg).toContain("POST /mcp → 401");
    expect(refreshLeg).toContain("POST /oauth/token refresh_token → 200");
    expect(refreshLeg.some((s) => s.startsWith("GET /authorize"))).toBe(false); // no new consent was needed
    expect(session.provider.consents).toHaveLength(1);

    expect(session.provider.savedTokens).toHaveLength(2);
    const second = session.provider.savedTokens[1]!;
    expect(second.access_token).not.toBe(first!.access_token);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first!.refresh_token);

    // Once the new refresh token is used, the old one is dead.
    session.provider.accessTokenOverride = "not-a-token";
    expect((await session.callTool("list_models", {})).structuredContent).toMatchObject({ models: [{ id: "acme-echo" }] });
    expect(session.provider.savedTokens).toHaveLength(3);
    const third = session.provider.savedTokens[2]!;
    expect(third.refresh_token).not.toBe(second.refresh_token);
    const clientId = session.provider.clientInformation()!.client_id;
    const stale = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "refresh_token",
      refresh_token: first!.refresh_token!,
      client_id: clientId,
    });
    expect(stale.status).toBe(400);
    expect(stale.body.error).toBe("invalid_grant");
    expect(stale.body.access_token).toBeUndefined();
    // The current one still works, for this client only.
    const otherClient = await registerClient(recorder.fetch, dev.url, REDIRECT, "someone else");
    const stolen = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "refresh_token",
      refresh_token: third.refresh_token!,
      client_id: otherClient,
    });
    expect(stolen.status).toBeGreaterThanOrEqual(400);
    expect(stolen.body.access_token).toBeUndefined();
  });

  it("an OAuth token is accepted only at /mcp: /v1, /api and the status page take API keys only", async () => {
    const token = session.provider.tokens()!.access_token;
    expect((await rawMcp(token)).status).toBe(200);
    for (const path of ["/v1/models", "/api/v1/models", "/api/v1/keys", "/api/v1/tenants"]) {
      const res = await call<{ error: { code: string } }>("GET", path, { token });
      expect(res.status, path).toBe(401);
      expect(res.body.error.code, path).toBe("unauthenticated");
    }
    const chat = await call("POST", "/v1/chat/completions", { token, body: { model: "acme-echo", messages: [{ role: "user", content: "x" }] } });
    expect(chat.status).toBe(401);
    const status = await call<string>("GET", "/status", { token });
    expect(status.status).toBe(401);
    expect(status.body).toContain("Sign in");
  });
});

describe("an admin key's consent", () => {
  it("grants admin tools in that key's tenant (globex), and nothing in another", async () => {
    const session = await signIn(globex.adminKey);
    const names = await session.toolNames();
    expect(names).toEqual(expect.arrayContaining(ADMIN_TOOLS));
    expect((await session.callTool("list_models", {})).structuredContent).toMatchObject({ models: [{ id: "globex-echo" }] });

    const chat = await session.callTool("chat", { model_id: "globex-echo", messages: [{ role: "user", content: "admin over oauth" }] });
    expect(chat.structuredContent).toMatchObject({ text: "echo: admin over oauth", model_id: "globex-echo" });
    const made = await session.callTool("register_model", chatModel("made-via-oauth"));
    expect(made.isError).toBeFalsy();
    expect(made.structuredContent).toMatchObject({ id: "made-via-oauth" });
    const globexModels = await call<{ models: ModelSummary[] }>("GET", "/api/v1/models", { token: globex.userKey });
    expect(globexModels.body.models.map((m) => m.id).sort()).toEqual(["globex-echo", "made-via-oauth"]);
    const acmeModels = await call<{ models: ModelSummary[] }>("GET", "/api/v1/models", { token: acme.userKey });
    expect(acmeModels.body.models.map((m) => m.id)).toEqual(["acme-echo"]);
  });
});

describe("revoking the consenting key", () => {
  it("makes the access token stop working at /mcp, and so every token minted for that grant", async () => {
    const key = await call<{ id: string; key: string }>("POST", `/api/v1/tenants/${acme.id}/keys`, {
      token: dev.adminToken,
      body: { role: "user", name: "laptop" },
    });
    expect(key.status).toBe(201);
    const session = await signIn(key.body.key);
    expect((await session.callTool("list_models", {})).structuredContent).toMatchObject({ models: [{ id: "acme-echo" }] });
    const { access_token: access, refresh_token: refresh } = session.provider.tokens()!;
    expect((await rawMcp(access)).status).toBe(200);

    const revoked = await call("DELETE", `/api/v1/tenants/${acme.id}/keys/${key.body.id}`, { token: dev.adminToken });
    expect(revoked.status).toBe(200);

    const after = await rawMcp(access);
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toContain('error="invalid_token"');
    // The real client cannot get back in either (it refreshes, retries, and still gets 401).
    const failure = await session.client.listTools().then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).not.toBeNull();
    // Whatever the authorization server still mints from that grant is refused at /mcp too.
    const clientId = session.provider.clientInformation()!.client_id;
    const latest = session.provider.tokens()!;
    const refreshed = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "refresh_token",
      refresh_token: latest.refresh_token ?? refresh!,
      client_id: clientId,
    });
    if (refreshed.body.access_token) {
      issuedAccessTokens.add(refreshed.body.access_token);
      expect((await rawMcp(refreshed.body.access_token)).status).toBe(401);
    }
    // A new key of the same tenant, and its own OAuth grant, are unaffected.
    expect((await rawMcp(acme.userKey)).status).toBe(200);
  });
});

describe("attacks on the authorization server", () => {
  it("a replayed authorization code is refused with invalid_grant", async () => {
    const { clientId, code, verifier, tokens } = await authorizeByHand(recorder.fetch, dev.url, acme.userKey, REDIRECT);
    expect(tokens.status).toBe(200);
    issuedAccessTokens.add(tokens.body.access_token!);
    const replay = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
    });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe("invalid_grant");
    expect(replay.body.access_token).toBeUndefined();
    // And the replay revokes what the code had already bought (OAuth 2.1 §4.1.3): its tokens are dead too…
    // (not asked at /mcp before the replay: a valid answer is cached in the isolate for 10 s)
    expect((await rawMcp(tokens.body.access_token!)).status).toBe(401);
    const refresh = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "refresh_token",
      refresh_token: tokens.body.refresh_token!,
      client_id: clientId,
    });
    expect(refresh.body.error).toBe("invalid_grant");
    // …while the same flow without a replay gives tokens that work.
    const control = await authorizeByHand(recorder.fetch, dev.url, acme.userKey, REDIRECT);
    issuedAccessTokens.add(control.tokens.body.access_token!);
    expect((await rawMcp(control.tokens.body.access_token!)).status).toBe(200);
  });

  it("PKCE: a wrong code_verifier is refused; `plain` and a missing challenge are not accepted", async () => {
    const clientId = await registerClient(recorder.fetch, dev.url, REDIRECT);
    const good = await pkce();
    const approved = await consent(
      recorder.fetch,
      authorizeUrl(dev.url, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: good.challenge,
        code_challenge_method: "S256",
        state: "s",
        resource: `${dev.url}/mcp`,
      }),
      acme.userKey,
    );
    const code = approved.location?.searchParams.get("code");
    expect(code).toBeTruthy();
    const wrong = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "authorization_code",
      code: code!,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: (await pkce()).verifier,
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toBe("invalid_grant");
    expect(wrong.body.access_token).toBeUndefined();
    const none = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "authorization_code",
      code: code!,
      redirect_uri: REDIRECT,
      client_id: clientId,
    });
    expect(none.body.access_token).toBeUndefined();

    // `plain`: the challenge is the verifier itself. Refused before any consent is shown.
    const plainVerifier = (await pkce()).verifier;
    const plain = await consent(
      recorder.fetch,
      authorizeUrl(dev.url, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: plainVerifier,
        code_challenge_method: "plain",
        state: "p",
        resource: `${dev.url}/mcp`,
      }),
      acme.userKey,
    );
    expect(plain.answer).toBeUndefined();
    expect(plain.html).not.toContain('name="handle"');
    expect(plain.location?.searchParams.get("code") ?? null).toBeNull();
    expect(plain.location?.searchParams.get("error") ?? plain.html).toMatch(/invalid_request|S256/);

    const missing = await consent(
      recorder.fetch,
      authorizeUrl(dev.url, { response_type: "code", client_id: clientId, redirect_uri: REDIRECT, state: "m", resource: `${dev.url}/mcp` }),
      acme.userKey,
    );
    expect(missing.answer).toBeUndefined();
    expect(missing.location?.searchParams.get("code") ?? null).toBeNull();
    expect(missing.location?.searchParams.get("error") ?? missing.html).toMatch(/invalid_request|PKCE/);
  });

  it("a token for another audience: the authorization request and the token request are refused", async () => {
    const clientId = await registerClient(recorder.fetch, dev.url, REDIRECT);
    for (const resource of [`${dev.url}/v1`, "https://evil.example/mcp"]) {
      const { challenge } = await pkce();
      const outcome = await consent(
        recorder.fetch,
        authorizeUrl(dev.url, {
          response_type: "code",
          client_id: clientId,
          redirect_uri: REDIRECT,
          code_challenge: challenge,
          code_challenge_method: "S256",
          state: "a",
          resource,
        }),
        acme.userKey,
      );
      expect(outcome.answer, resource).toBeUndefined(); // no consent form was offered
      expect(outcome.location?.searchParams.get("code") ?? null, resource).toBeNull();
      const refused = outcome.page.status === 400 || outcome.location?.searchParams.get("error") === "invalid_target";
      expect(refused, `${resource}: ${outcome.page.status} ${outcome.location}`).toBe(true);
    }

    // A code issued for /mcp cannot be exchanged for a token for another resource…
    const { challenge, verifier } = await pkce();
    const approved = await consent(
      recorder.fetch,
      authorizeUrl(dev.url, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: "S256",
        state: "b",
        resource: `${dev.url}/mcp`,
      }),
      acme.userKey,
    );
    const code = approved.location!.searchParams.get("code")!;
    const other = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
      resource: "https://evil.example/mcp",
    });
    expect(other.status).toBe(400);
    expect(other.body.error).toMatch(/invalid_target|invalid_grant/);
    expect(other.body.access_token).toBeUndefined();

    // …nor can a refresh token be turned into one.
    const byHand = await authorizeByHand(recorder.fetch, dev.url, acme.userKey, REDIRECT);
    expect(byHand.tokens.status).toBe(200);
    issuedAccessTokens.add(byHand.tokens.body.access_token!);
    const refreshed = await tokenRequest(recorder.fetch, dev.url, {
      grant_type: "refresh_token",
      refresh_token: byHand.tokens.body.refresh_token!,
      client_id: byHand.clientId,
      resource: "https://evil.example/mcp",
    });
    expect(refreshed.status).toBe(400);
    expect(refreshed.body.error).toBe("invalid_target");
    expect(refreshed.body.access_token).toBeUndefined();
  });

  it("a key that is not valid gets the form back with an error, and no code", async () => {
    const clientId = await registerClient(recorder.fetch, dev.url, REDIRECT);
    const { challenge } = await pkce();
    const outcome = await consent(
      recorder.fetch,
      authorizeUrl(dev.url, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: "S256",
        state: "k",
        resource: `${dev.url}/mcp`,
      }),
      "mgw_acme_notarealkeyatallnotarealkeyatallnotarealk",
    );
    expect(outcome.answer?.status).toBe(400);
    expect(outcome.answerText).toContain("not valid");
    expect(outcome.location).toBeUndefined();
  });
});

describe("afterwards", () => {
  it("no OAuth access token ever reached the upstream", async () => {
    expect(issuedAccessTokens.size).toBeGreaterThanOrEqual(5);
    const sent = await fakes.openai.requests(UPSTREAM_MODEL);
    expect(sent.length).toBeGreaterThanOrEqual(3); // chats by the user session (2) and the admin session (1)
    for (const request of sent) expect(request.headers.authorization).toBe(`Bearer ${dev.upstreamKey}`);
    const everything = JSON.stringify(sent);
    for (const token of issuedAccessTokens) expect(everything).not.toContain(token);
    expect(recorder.text()).not.toContain(dev.upstreamKey);
    expect(dev.logs()).not.toContain(dev.upstreamKey);
  });
});
