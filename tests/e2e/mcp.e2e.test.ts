/**
 * End to end: `wrangler dev` runs the gateway (workerd, Durable Objects, D1,
 * all local), the fake OpenAI-compatible upstream from the globalSetup stands in
 * for a model server, and real MCP clients talk to `/mcp` over Streamable HTTP:
 * the 2026-07-28 client (`@modelcontextprotocol/client` 2.4.0) and a 2025-era
 * client (`@modelcontextprotocol/sdk` 1.32.2).
 *
 * The gateway starts once for this file (plus one restart for persistence).
 * Tests run in order; later blocks rely on state built by earlier ones (models
 * registered over MCP, a revoked key), and the last block checks that the canary
 * Worker secret never appeared in anything the gateway sent or logged.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import {
  type Connect,
  connectLegacy,
  connectModern,
  type Embeddings,
  type ErrorBody,
  expectNotInLogs,
  fakes,
  gatewayFor,
  type Generation,
  type IssuedKey,
  type McpSession,
  type ModelBody,
  type ModelSummary,
  type Progress,
  ResponseRecorder,
  structured,
  type Tenant,
  textOf,
  timedStreamingChat,
} from "./helpers";

/** Upstream model names are per test file: the fake upstream is shared by all e2e files. */
const UPSTREAM_CHAT_MODEL = "gpt-e2e-mcp";
const UPSTREAM_EMBED_MODEL = "e2e-embed-mcp";
const CANARY = `sk-canary-e2e-${crypto.randomUUID().replace(/-/g, "")}`;

/** Tools every tenant key gets (more may be added, e.g. classify); admin keys get ADMIN_TOOLS on top. */
const USER_TOOLS = ["chat", "complete", "embed", "get_model", "list_models"];
const ADMIN_TOOLS = ["register_model", "remove_model", "set_maintenance", "set_telemetry_export", "update_model"];

const openaiUrl = inject("openaiUrl");
let dev: WranglerDev;
const recorder = new ResponseRecorder();
let acme: Tenant;
let globex: Tenant;
/** A key revoked in 'auth at the edge'; still refused after the restart. */
let revokedKey: string | undefined;

/** Shorthand for a recorded HTTP call to the gateway. */
const { api: call, createTenant, registerModel } = gatewayFor(recorder, () => dev);

function chatModel(id: string) {
  return {
    id,
    name: `Echo model ${id}`,
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UPSTREAM_CHAT_MODEL, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
  };
}

beforeAll(async () => {
  dev = await startWranglerDev({ upstreamKey: CANARY });
  acme = await createTenant({ id: "acme", name: "Acme Corp", grantCanary: true });
  globex = await createTenant({ id: "globex", name: "Globex" });

  await registerModel(acme, chatModel("acme-echo"));
  await registerModel(acme, {
    id: "acme-embedder",
    name: "Embedder",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UPSTREAM_EMBED_MODEL, api_key: "${UPSTREAM_KEY}" },
  });
});

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

const clients: [string, Connect, string][] = [
  ["2026-07-28 client (@modelcontextprotocol/client 2.4.0)", connectModern, "2026-07-28"],
  ["2025-era client (@modelcontextprotocol/sdk 1.32.2)", connectLegacy, "2025-11-25"],
];

describe.each(clients)("%s", (_label, connect, expectedVersion) => {
  let user: McpSession;
  let admin: McpSession;

  beforeAll(async () => {
    user = await connect(dev.url, acme.userKey, recorder);
    admin = await connect(dev.url, acme.adminKey, recorder);
  });
  afterAll(async () => {
    await user?.close();
    await admin?.close();
  });

  it("connects with the expected protocol version and server identity", () => {
    expect(user.protocolVersion).toBe(expectedVersion);
    expect(user.serverName).toBe("mcp-model-gateway");
  });

  it("offers a user key the read and inference tools, and no registry tool", async () => {
    const names = (await user.listTools()).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(USER_TOOLS));
    for (const tool of ADMIN_TOOLS) expect(names).not.toContain(tool);
  });

  it("offers an admin key exactly the user's tools plus the registry tools", async () => {
    const userNames = (await user.listTools()).map((t) => t.name);
    const adminNames = (await admin.listTools()).map((t) => t.name);
    expect(adminNames.sort()).toEqual([...userNames, ...ADMIN_TOOLS].sort());
  });

  it("list_models returns the tenant's models as structured content", async () => {
    const result = await user.callTool("list_models", {});
    expect(result.isError).toBeFalsy();
    const { models } = structured<{ models: ModelSummary[] }>(result);
    expect(models).toContainEqual(
      expect.objectContaining({ id: "acme-echo", backend_type: "openai_compatible", capabilities: ["chat", "completion"] }),
    );
    expect(models).toContainEqual(expect.objectContaining({ id: "acme-embedder", capabilities: ["embedding"] }));
    expect(textOf(result)).toContain("acme-echo");

    const filtered = await user.callTool("list_models", { capability: "embedding" });
    expect(structured<{ models: ModelSummary[] }>(filtered).models.map((m) => m.id)).toEqual(["acme-embedder"]);
  });

  it("get_model shows the secret as a ${NAME} reference, never its value", async () => {
    const result = await user.callTool("get_model", { model_id: "acme-echo" });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      id: "acme-echo",
      backend_type: "openai_compatible",
      config: { api_key: "${UPSTREAM_KEY}", model_name: UPSTREAM_CHAT_MODEL },
    });
    expect(JSON.stringify(result)).not.toContain(CANARY);
  });

  it("reads a model as a model:// resource", async () => {
    const contents = await user.readResource("model://acme-echo");
    expect(contents).toHaveLength(1);
    expect(contents[0]?.uri).toBe("model://acme-echo");
    const detail = JSON.parse(contents[0]?.text ?? "{}") as { id: string; config: Record<string, unknown> };
    expect(detail.id).toBe("acme-echo");
    expect(detail.config.api_key).toBe("${UPSTREAM_KEY}");
  });

  it("chat answers through the upstream, which receives the resolved secret", async () => {
    const message = `hello from the ${user.label} client`;
    const result = await user.callTool("chat", { model_id: "acme-echo", messages: [{ role: "user", content: message }] });
    expect(result.isError).toBeFalsy();
    const out = structured<Generation>(result);
    expect(out.text).toBe(`echo: ${message}`);
    expect(out.finish_reason).toBe("stop");
    expect(out.model_id).toBe("acme-echo");
    expect(typeof out.latency_ms).toBe("number");
    expect(out.latency_ms).toBeGreaterThanOrEqual(0);
    expect(out.usage.completion_tokens).toBeGreaterThan(0);
    expect(textOf(result)).toBe(`echo: ${message}`);

    const seen = (await fakes.openai.requests(UPSTREAM_CHAT_MODEL)).filter(
      (r) => r.path === "/v1/chat/completions" && JSON.stringify(r.body).includes(message),
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(seen[0]?.body.stream).toBeFalsy();
  });

  it("chat honours sampling parameters (max_tokens cuts the answer)", async () => {
    const result = await user.callTool("chat", {
      model_id: "acme-echo",
      messages: [{ role: "user", content: "one two three four five" }],
      max_tokens: 2,
    });
    expect(result.structuredContent).toMatchObject({ text: "echo: one", finish_reason: "length" });
  });

  it("complete continues a prompt", async () => {
    const prompt = `Once upon a time (${user.label})`;
    const result = await user.callTool("complete", { model_id: "acme-echo", prompt });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ text: `${prompt} …continued`, finish_reason: "stop", model_id: "acme-echo" });
  });

  it("chat with a progressToken streams the text as progress notifications", async () => {
    const message = `stream this please, ${user.label} client`;
    const progress: Progress[] = [];
    const result = await user.callTool("chat", { model_id: "acme-echo", messages: [{ role: "user", content: message }] }, (p) => progress.push(p));
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent?.text).toBe(`echo: ${message}`);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.map((p) => p.message ?? "").join("")).toBe(`echo: ${message}`);
    const values = progress.map((p) => p.progress);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(new Set(values).size).toBe(values.length);

    const streamed = (await fakes.openai.requests(UPSTREAM_CHAT_MODEL)).filter((r) => JSON.stringify(r.body).includes(message));
    expect(streamed).toHaveLength(1);
    expect(streamed[0]?.body.stream).toBe(true);
  });

  it("progress arrives while the upstream is still generating, not all at the end", async () => {
    const delayMs = 200;
    await fakes.openai.script(UPSTREAM_CHAT_MODEL, [{ kind: "slow_stream", delayMs }]);
    const message = `slowly now ${user.label}`; // "echo: slowly now <label>": 4 pieces, 200 ms apart
    const { result, progress, resultAt } = await timedStreamingChat(user, "acme-echo", message);
    expect(result.structuredContent?.text).toBe(`echo: ${message}`);
    expect(progress.map((p) => p.message).join("")).toBe(`echo: ${message}`);
    // The first piece is relayed before the upstream has produced the rest.
    expect(progress[0]!.at).toBeLessThan(resultAt - 2 * delayMs);
    expect(progress.at(-1)!.at - progress[0]!.at).toBeGreaterThan(2 * delayMs);
  });

  it("complete with a progressToken streams too", async () => {
    const prompt = `streamed prompt for ${user.label}`;
    const progress: Progress[] = [];
    const result = await user.callTool("complete", { model_id: "acme-echo", prompt }, (p) => progress.push(p));
    expect(result.structuredContent?.text).toBe(`${prompt} …continued`);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.map((p) => p.message ?? "").join("")).toBe(`${prompt} …continued`);
  });

  it("embed returns one vector per input", async () => {
    const result = await user.callTool("embed", { model_id: "acme-embedder", input: ["alpha", "beta", "alpha"] });
    expect(result.isError).toBeFalsy();
    const out = structured<Embeddings>(result);
    expect(out.dimensions).toBe(8);
    expect(out.embeddings).toHaveLength(3);
    expect(out.embeddings[0]).toHaveLength(8);
    expect(out.embeddings[0]).toEqual(out.embeddings[2]);
    expect(out.embeddings[0]).not.toEqual(out.embeddings[1]);
    expect(out.model_id).toBe("acme-embedder");
  });

  it("an unknown model id is a tool error that says what to do", async () => {
    const result = await user.callTool("chat", { model_id: "no-such-model", messages: [{ role: "user", content: "hi" }] });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Model "no-such-model" not found');
    // The 2026-07-28 client gets the error as structuredContent too; the 2025-era SDK would check it against the
    // tool's outputSchema and reject the result, so that client gets text only.
    if (user.label === "legacy") expect(result.structuredContent).toBeUndefined();
    else expect(result.structuredContent).toMatchObject({ error: { code: "not_found", message: expect.stringContaining("no-such-model") } });
  });

  it("a capability the model lacks is a tool error pointing at list_models", async () => {
    const result = await user.callTool("chat", { model_id: "acme-embedder", messages: [{ role: "user", content: "hi" }] });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/does not support chat/);
    expect(textOf(result)).toContain("list_models");
  });

  it("a malformed argument is refused before any upstream call, naming the field", async () => {
    const before = (await fakes.openai.requests(UPSTREAM_CHAT_MODEL)).length;
    // DESIGN.md asks for a JSON-RPC invalid-params error; the MCP SDK v2 server
    // reports input validation as an isError tool result (SEP-1303). Accept either,
    // but the field must be named and nothing may reach the upstream.
    const outcome = await user.callTool("chat", { model_id: "acme-echo", messages: "not a list" }).then(
      (result) => ({ message: textOf(result), isError: result.isError }),
      (error: unknown) => ({ message: String(error), isError: true }),
    );
    expect(outcome.isError).toBe(true);
    expect(outcome.message).toMatch(/messages/);
    expect((await fakes.openai.requests(UPSTREAM_CHAT_MODEL)).length).toBe(before);
  });

  it("a user key cannot call register_model, and nothing is registered", async () => {
    const id = `user-attempt-${user.label}`;
    const outcome = await user.callTool("register_model", chatModel(id)).then(
      (result) => ({ message: textOf(result), isError: result.isError }),
      (error: unknown) => ({ message: String(error), isError: true }),
    );
    expect(outcome.isError).toBe(true);
    expect(outcome.message).toMatch(/register_model/);
    const stored = await call("GET", `/api/v1/models/${id}`, { token: acme.adminKey });
    expect(stored.status).toBe(404);
  });

  it("an admin key registers a model over MCP, and it is usable at once", async () => {
    const id = `via-mcp-${user.label}`;
    const result = await admin.callTool("register_model", chatModel(id));
    expect(result.isError, textOf(result)).toBeFalsy();
    // Probed at registration: the answer carries its first real status.
    expect(result.structuredContent).toMatchObject({ id, status: "available", config: { api_key: "${UPSTREAM_KEY}" } });

    const listed = await user.callTool("list_models", {});
    expect(structured<{ models: ModelSummary[] }>(listed).models.map((m) => m.id)).toContain(id);
    const stored = await call<ModelBody>("GET", `/api/v1/models/${id}`, { token: acme.userKey });
    expect(stored.status).toBe(200);
    expect(stored.body.config.api_key).toBe("${UPSTREAM_KEY}");

    const answer = await user.callTool("chat", { model_id: id, messages: [{ role: "user", content: "fresh model" }] });
    expect(answer.structuredContent).toMatchObject({ text: "echo: fresh model", model_id: id });
  });

  it("register_model over MCP refuses a literal secret and stores nothing", async () => {
    const id = `literal-secret-${user.label}`;
    const request = chatModel(id);
    const result = await admin.callTool("register_model", { ...request, config: { ...request.config, api_key: "sk-literal-value-123" } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/literal secret/);
    expect((await call("GET", `/api/v1/models/${id}`, { token: acme.adminKey })).status).toBe(404);
  });
});

describe("tenant isolation", () => {
  let intruder: McpSession;
  let owner: McpSession;

  beforeAll(async () => {
    intruder = await connectModern(dev.url, globex.adminKey, recorder);
    owner = await connectModern(dev.url, acme.userKey, recorder);
  });
  afterAll(async () => {
    await intruder?.close();
    await owner?.close();
  });

  it("another tenant's key lists no models", async () => {
    const result = await intruder.callTool("list_models", {});
    expect(result.structuredContent?.models).toEqual([]);
    // The owner does see them: the empty list is isolation, not an empty registry.
    const own = await owner.callTool("list_models", {});
    expect(structured<{ models: ModelSummary[] }>(own).models.length).toBeGreaterThan(0);
  });

  it("another tenant's model id gives exactly the 'not found' of a random id", async () => {
    for (const tool of ["get_model", "chat"] as const) {
      const args = (id: string) => (tool === "chat" ? { model_id: id, messages: [{ role: "user", content: "hi" }] } : { model_id: id });
      const foreign = await intruder.callTool(tool, args("acme-echo"));
      const random = await intruder.callTool(tool, args("zz-random-id"));
      expect(foreign.isError).toBe(true);
      expect(random.isError).toBe(true);
      expect(textOf(foreign)).toBe(textOf(random).replace("zz-random-id", "acme-echo"));
    }
    await expect(intruder.readResource("model://acme-echo")).rejects.toThrow(/acme-echo/);
  });

  it("another tenant cannot reach the model through the HTTP API either", async () => {
    const foreign = await call("GET", "/api/v1/models/acme-echo", { token: globex.adminKey });
    const random = await call("GET", "/api/v1/models/zz-random-id", { token: globex.adminKey });
    expect(foreign.status).toBe(404);
    expect(JSON.stringify(foreign.body)).toBe(JSON.stringify(random.body).replace("zz-random-id", "acme-echo"));
    const removal = await call("DELETE", "/api/v1/models/acme-echo", { token: globex.adminKey });
    expect(removal.status).toBe(404);
    expect((await call("GET", "/api/v1/models/acme-echo", { token: acme.userKey })).status).toBe(200);
  });

  it("tool descriptions do not leak another tenant's model ids", async () => {
    const ownChat = (await owner.listTools()).find((t) => t.name === "chat");
    expect(ownChat?.description).toContain("acme-echo");
    const foreignTools = await intruder.listTools();
    expect(JSON.stringify(foreignTools)).not.toContain("acme-");
  });

  it("another tenant cannot use the first tenant's secret grant", async () => {
    const result = await intruder.callTool("register_model", chatModel("steal-the-key"));
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/UPSTREAM_KEY is unknown or not granted/);
  });
});

describe("auth at the edge", () => {
  const initialize = {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
  };
  const postMcp = (authorization?: string) =>
    recorder.fetch(`${dev.url}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify(initialize),
    });

  it("POST /mcp without a token is 401 with a WWW-Authenticate pointing at the resource metadata", async () => {
    const response = await postMcp();
    expect(response.status).toBe(401);
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer /);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadataUrl).toBe(`${dev.url}/.well-known/oauth-protected-resource/mcp`);

    const metadata = await recorder.fetch(metadataUrl!);
    expect(metadata.status).toBe(200);
    expect(((await metadata.json()) as { resource: string }).resource).toBe(`${dev.url}/mcp`);
  });

  it("a malformed or unknown key is 401", async () => {
    for (const token of ["Bearer not-a-gateway-key", `Bearer mgw_acme_${"A".repeat(43)}`, "Basic abc"]) {
      const response = await postMcp(token);
      expect(response.status, token).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain("resource_metadata=");
    }
  });

  it("a revoked key stops working at once, over MCP and HTTP", async () => {
    const op = { token: dev.adminToken };
    const issued = await call<IssuedKey>("POST", "/api/v1/tenants/acme/keys", { ...op, body: { role: "user", name: "to revoke" } });
    expect(issued.status).toBe(201);
    const key = issued.body.key;

    const before = await postMcp(`Bearer ${key}`);
    expect(before.status).toBe(200);
    await before.text();

    const revoked = await call("DELETE", `/api/v1/tenants/acme/keys/${issued.body.id}`, op);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ id: issued.body.id, revoked: true });

    const after = await postMcp(`Bearer ${key}`);
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toContain("resource_metadata=");
    expect((await call("GET", "/api/v1/models", { token: key })).status).toBe(401);
    await expect(connectModern(dev.url, key, recorder)).rejects.toThrow();
    revokedKey = key;
  });

  it("the operator API takes only the operator token; a user key cannot write", async () => {
    expect((await call("GET", "/api/v1/tenants")).status).toBe(401);
    expect((await call("GET", "/api/v1/tenants", { token: acme.adminKey })).status).toBe(401);
    const forbidden = await call<ErrorBody>("POST", "/api/v1/models", { token: acme.userKey, body: chatModel("user-http-attempt") });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe("forbidden");
  });
});

describe("persistence across a restart of wrangler dev", () => {
  it("keeps tenants, keys, grants, models and revocations", async () => {
    const registered = await call("POST", "/api/v1/models", { token: acme.adminKey, body: chatModel("before-restart") });
    expect(registered.status).toBe(201);
    const modelsBefore = (await call<{ models: ModelBody[] }>("GET", "/api/v1/models", { token: acme.adminKey })).body.models;
    expect(modelsBefore.map((m) => m.id)).toContain("before-restart");

    await dev.restart();

    const health = await call("GET", "/health");
    expect(health.status).toBe(200);
    const modelsAfter = (await call<{ models: ModelBody[] }>("GET", "/api/v1/models", { token: acme.adminKey })).body.models;
    expect(modelsAfter.map((m) => m.id).sort()).toEqual(modelsBefore.map((m) => m.id).sort());
    const tenants = (await call<{ tenants: { id: string }[] }>("GET", "/api/v1/tenants", { token: dev.adminToken })).body.tenants;
    expect(tenants.map((t) => t.id).sort()).toEqual(["acme", "globex"]);

    // The user key (checked against its stored hash) and the grant still work: a full MCP call.
    const session = await connectModern(dev.url, acme.userKey, recorder);
    try {
      const answer = await session.callTool("chat", { model_id: "before-restart", messages: [{ role: "user", content: "after restart" }] });
      expect(answer.structuredContent).toMatchObject({ text: "echo: after restart", model_id: "before-restart" });
    } finally {
      await session.close();
    }
    expect(revokedKey).toBeDefined();
    expect((await call("GET", "/api/v1/models", { token: revokedKey })).status).toBe(401);
  });
});

describe("secrets", () => {
  it("an upstream error that echoes the credential reaches the caller redacted", async () => {
    await fakes.openai.script(UPSTREAM_CHAT_MODEL, [{ kind: "echo_auth", status: 401 }]);
    const session = await connectLegacy(dev.url, acme.userKey, recorder);
    try {
      const result = await session.callTool("chat", { model_id: "acme-echo", messages: [{ role: "user", content: "leak?" }] });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/rejected the credentials \(401\)/);
      expect(textOf(result)).toContain("[redacted]");
      expect(textOf(result)).not.toContain(CANARY);
    } finally {
      await session.close();
    }
  });

  it("the canary secret never appears in a response body or in wrangler dev's logs", async () => {
    // The secret was really in play: the upstream received it on every call.
    const upstream = await fakes.openai.requests(UPSTREAM_CHAT_MODEL);
    expect(upstream.length).toBeGreaterThan(10);
    expect(upstream.every((r) => r.headers.authorization === `Bearer ${CANARY}`)).toBe(true);

    await new Promise((r) => setTimeout(r, 200)); // let recorded streams finish draining
    const bodies = recorder.text();
    expect(recorder.count).toBeGreaterThan(50);
    expect(bodies).toContain("echo: hello from the modern client");
    expect(bodies).toContain("${UPSTREAM_KEY}");
    expect(bodies).not.toContain(CANARY);

    expect(dev.logs()).toMatch(/POST \/mcp 200/);
    await expectNotInLogs(dev, [CANARY, dev.adminToken, acme.userKey]);
  });
});
