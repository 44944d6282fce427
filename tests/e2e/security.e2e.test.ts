/**
 * End to end through `wrangler dev`: SECURITY.md's promises, checked from the outside.
 *
 * (a) The canary sweep. Two canaries are in play: the Worker secret UPSTREAM_KEY
 *     (granted to the tenant for 127.0.0.1) and a tenant secret TENANT_KEY stored
 *     with PUT /api/v1/secrets. Models of all three HTTP wire formats use them
 *     (openai_compatible `api_key`, ollama `CF-Access-Client-Secret` header,
 *     huggingface `api_key`), and every surface is exercised — calls, echoing
 *     upstream failures, broken streams, on-demand and cron health checks,
 *     fallbacks, explain_route, get_model, model:// resources, lists, /v1, the
 *     status page, the admin and operator APIs, OAuth consent. Every response is
 *     recorded; at the end neither canary (nor its base64 form) may appear in any
 *     response, in wrangler dev's output or debug logs, in the stored health
 *     checks, in the audit log, or in any byte of any file under the persist dir
 *     (D1, the Durable Objects' SQLite, KV). The sweep is shown to be meaningful:
 *     the fakes did receive each canary, and echoed failures came back "[redacted]".
 *     Four leaks this suite once found (stream errors, cut messages, generated
 *     text) have tests of their own, with their own recorder, below.
 *
 * (b) Attacks at the HTTP edge: another tenant's ids, foreign Origins and Hosts,
 *     SSRF registrations, oversized bodies, the per-tenant rate limit, literal
 *     credentials, user keys on admin routes, and the audit trail.
 *
 * One gateway for the file; tests run in order (the cron sweep first: a tenant
 * is swept at most every 5 minutes). Upstream model names carry this file's name
 * and a run number: the fakes are shared by all e2e files.
 */
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import {
  type ApiResult,
  connectLegacy,
  connectModern,
  type ErrorBody,
  fakes,
  gatewayFor,
  type Generation,
  type McpSession,
  type ModelSummary,
  type Progress,
  ResponseRecorder,
  sleep,
  structured,
  type Tenant,
  textOf,
  type ToolResult,
  until,
} from "./helpers";
import { authorizeByHand } from "./oauth-client";

const openaiUrl = inject("openaiUrl");
const ollamaUrl = inject("ollamaUrl");
const hfUrl = inject("hfUrl");

const RUN = String(Date.now() % 1e8);
/** The tenant secret's value: a canary like UPSTREAM_KEY (whose value wrangler-dev.ts makes random per run). */
const TENANT_CANARY = `tk-canary-e2e-${randomBytes(16).toString("hex")}`;
const REDIRECT = "http://127.0.0.1:33420/callback";
/** Ollama paths may carry /i/<instance>: this file's tags calls (which name no model) are told apart by it. */
const INSTANCE = `security${RUN}`;
const ACCESS_ID = `e2e-security-${RUN}.access`;

/** Upstream model names, per wire format and canary ("w": the Worker secret, "t": the tenant secret). */
const UP = {
  oaW: `gpt-e2e-security-w-${RUN}`,
  oaT: `gpt-e2e-security-t-${RUN}`,
  oaEmbedT: `e2e-security-embed-t-${RUN}`,
  fb: `gpt-e2e-security-fb-${RUN}`,
  olW: `e2e-security-ol-w-${RUN}`,
  olT: `e2e-security-ol-t-${RUN}`,
  olTags: `e2e-security-ol-tags-${RUN}`,
  hfW: `e2e-security/chat-w-${RUN}`,
  hfT: `e2e-security/chat-t-${RUN}`,
  rival: `gpt-e2e-security-rival-${RUN}`,
};

let dev: WranglerDev;
const recorder = new ResponseRecorder();
let vault: Tenant;
let rival: Tenant;
let noisy: Tenant;
let user: McpSession;
let admin: McpSession;
let legacy: McpSession;
const sessions: McpSession[] = [];
/** Messages of failures where an upstream echoed a credential: each must say "[redacted]". */
const echoed: string[] = [];

const canaries = () => [dev.upstreamKey, TENANT_CANARY];
/** The forms a canary could leak in (URL-encoding leaves these canaries unchanged). */
const forms = (canary: string) => [canary, Buffer.from(canary).toString("base64")];

const { api: call, createTenant, registerModel } = gatewayFor(recorder, () => dev);

/** A recorded request with a raw body and any headers. */
async function rawCall(path: string, init: RequestInit & { headers?: Record<string, string> }) {
  const response = await recorder.fetch(`${dev.url}${path}`, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const common = { timeout: 5, max_retries: 0, health_check: { probe: "generation" } };
const ollamaHeaders = (secret: string) => ({ "CF-Access-Client-Id": ACCESS_ID, "CF-Access-Client-Secret": `\${${secret}}` });
const MODELS = [
  {
    id: "oa-w",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UP.oaW, api_key: "${UPSTREAM_KEY}", ...common },
  },
  { id: "oa-t", backend_type: "openai_compatible", config: { base_url: `${openaiUrl}/v1`, model_name: UP.oaT, api_key: "${TENANT_KEY}", ...common } },
  {
    id: "oa-embed-t",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UP.oaEmbedT, api_key: "${TENANT_KEY}", ...common },
  },
  { id: "ol-w", backend_type: "ollama", config: { base_url: ollamaUrl, model_name: UP.olW, headers: ollamaHeaders("UPSTREAM_KEY"), ...common } },
  { id: "ol-t", backend_type: "ollama", config: { base_url: ollamaUrl, model_name: UP.olT, headers: ollamaHeaders("TENANT_KEY"), ...common } },
  // Probed the free way (GET /api/tags through this file's instance path), so its tags check can echo too.
  {
    id: "ol-tags",
    backend_type: "ollama",
    config: { base_url: `${ollamaUrl}/i/${INSTANCE}`, model_name: UP.olTags, headers: ollamaHeaders("TENANT_KEY"), timeout: 5, max_retries: 0 },
  },
  {
    id: "hf-w",
    backend_type: "huggingface",
    config: { base_url: hfUrl, model_name: UP.hfW, api_key: "${UPSTREAM_KEY}", ...common },
    capabilities: ["chat"],
  },
  {
    id: "hf-t",
    backend_type: "huggingface",
    config: { base_url: hfUrl, model_name: UP.hfT, api_key: "${TENANT_KEY}", ...common },
    capabilities: ["chat"],
  },
  {
    id: "fb",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UP.fb, api_key: "${TENANT_KEY}", ...common },
    fallbacks: ["oa-w"],
  },
].map((m) => ({ name: `Security ${m.id}`, ...m }));
const CHAT_MODELS = ["oa-w", "oa-t", "ol-w", "ol-t", "ol-tags", "hf-w", "hf-t", "fb"];

/** Where each model's calls are recorded, and the echo fault its fake offers. */
const FAKE: Record<string, { model: string; echo: unknown; canary: () => string; header: string }> = {
  "oa-w": { model: UP.oaW, echo: { kind: "echo_auth", status: 401 }, canary: () => dev.upstreamKey, header: "authorization" },
  "oa-t": { model: UP.oaT, echo: { kind: "echo_auth", status: 401 }, canary: () => TENANT_CANARY, header: "authorization" },
  fb: { model: UP.fb, echo: { kind: "echo_auth", status: 401 }, canary: () => TENANT_CANARY, header: "authorization" },
  "ol-w": { model: UP.olW, echo: { kind: "echo_headers", status: 401 }, canary: () => dev.upstreamKey, header: "cf-access-client-secret" },
  "ol-t": { model: UP.olT, echo: { kind: "echo_headers", status: 401 }, canary: () => TENANT_CANARY, header: "cf-access-client-secret" },
  "ol-tags": {
    model: UP.olTags,
    echo: { kind: "echo_headers", status: 401 },
    canary: () => TENANT_CANARY,
    header: "cf-access-client-secret",
  },
  "hf-w": {
    model: UP.hfW,
    echo: { kind: "echo_auth", status: 401 },
    canary: () => dev.upstreamKey,
    header: "authorization",
  },
  "hf-t": {
    model: UP.hfT,
    echo: { kind: "echo_auth", status: 401 },
    canary: () => TENANT_CANARY,
    header: "authorization",
  },
};
const fakeOf = (id: string) => (id.startsWith("ol-") ? fakes.ollama : id.startsWith("hf-") ? fakes.hf : fakes.openai);
/** Make the next call to a model's upstream echo the credential it was sent. */
const echoNext = (id: string) => fakeOf(id).script(FAKE[id]!.model, [FAKE[id]!.echo]);

const chatArgs = (id: string, content: string) => ({ model_id: id, messages: [{ role: "user", content }] });

function expectRedacted(what: string, text: string) {
  expect(text, what).toContain("[redacted]");
  echoed.push(text);
}

interface Check {
  source: string;
  ok: boolean;
  status: string;
  detail: string | null;
}
async function checks(id: string, tenant = vault): Promise<Check[]> {
  const res = await call<{ checks: Check[] }>("GET", `/api/v1/models/${id}/checks`, { token: tenant.userKey });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.checks;
}

/** Every file under a directory, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** The local D1 database file (wrangler's --persist-to layout: v3/d1/<object>/<id>.sqlite). */
async function d1File(): Promise<string> {
  const candidates = (await filesUnder(join(dev.persistDir, "v3", "d1"))).filter((f) => f.endsWith(".sqlite"));
  for (const file of candidates) {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get();
      if (table) return file;
    } finally {
      db.close();
    }
  }
  throw new Error(`no D1 file with an audit_log table among ${JSON.stringify(candidates)}`);
}

interface AuditRow {
  id: number;
  at: string;
  tenant_id: string | null;
  actor: string;
  action: string;
  target: string | null;
  detail: string | null;
}
async function auditLog(): Promise<AuditRow[]> {
  const db = new DatabaseSync(await d1File(), { readOnly: true });
  try {
    return db.prepare("SELECT id, at, tenant_id, actor, action, target, detail FROM audit_log ORDER BY id").all() as unknown as AuditRow[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  // A fired cron checks every model at once (as a harness sets it), so the sweep below is one request.
  dev = await startWranglerDev({ vars: { HEALTH_CHECK_INTERVAL_S: "0" } });
  vault = await createTenant({ id: "vault", name: "Vault", grantCanary: true });
  rival = await createTenant({ id: "rival", name: "Rival" });
  noisy = await createTenant({ id: "noisy", name: "Noisy" });

  const secret = await call<Record<string, unknown>>("PUT", "/api/v1/secrets/TENANT_KEY", {
    token: vault.adminKey,
    body: { value: TENANT_CANARY, hosts: ["127.0.0.1"] },
  });
  expect(secret.status, JSON.stringify(secret.body)).toBe(200);
  expect(secret.body).toMatchObject({ name: "TENANT_KEY", hosts: ["127.0.0.1"] });

  for (const model of [UP.olW, UP.olT, UP.olTags]) await fakes.ollama.control("pull", { model });
  for (const model of MODELS) await registerModel(vault, model);
  await registerModel(rival, {
    id: "rival-private",
    name: "Rival's",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UP.rival, max_retries: 0 },
  });

  user = await connectModern(dev.url, vault.userKey, recorder);
  admin = await connectModern(dev.url, vault.adminKey, recorder);
  legacy = await connectLegacy(dev.url, vault.userKey, recorder);
  sessions.push(user, admin, legacy);
});

afterAll(async () => {
  await Promise.allSettled(sessions.map((s) => s.close()));
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

describe("(a) the canary sweep", () => {
  it("the cron sweep probes every model; checks of upstreams that echo the credential are stored redacted", async () => {
    for (const id of CHAT_MODELS) if (id !== "ol-tags") await echoNext(id);
    await fakes.ollama.control("tags", { instance: INSTANCE, steps: [{ kind: "echo_headers", status: 401 }] });
    const res = await fetch(`${dev.url}/__scheduled?cron=*+*+*+*+*`);
    expect(res.status).toBe(200);
    await res.text();
    const swept = await Promise.all(
      CHAT_MODELS.map((id) =>
        until(
          `a scheduled check of ${id}`,
          () => checks(id),
          (c) => c.some((x) => x.source === "scheduled"),
        ),
      ),
    );
    for (const [i, list] of swept.entries()) {
      const check = list.find((x) => x.source === "scheduled")!;
      expect(check, CHAT_MODELS[i]).toMatchObject({ ok: false, status: "degraded" });
      expectRedacted(`scheduled check of ${CHAT_MODELS[i]}`, check.detail ?? "");
    }
    // The tags probe really was a tags call on this file's instance, with the Access headers.
    const tags = await fakes.ollama.requests({ instance: INSTANCE });
    expect(tags.some((r) => r.path === "/api/tags" && r.headers["cf-access-client-secret"] === TENANT_CANARY)).toBe(true);
  });

  it("MCP chat on every model answers; upstreams that echo the credential give errors that say [redacted]", async () => {
    // A passing round first: every model available again (three failures in a row would make calls skip it).
    expect(structured<{ checks: Check[] }>(await admin.callTool("check_health", {})).checks.every((c) => c.ok)).toBe(true);
    for (const id of CHAT_MODELS) {
      const ok = await user.callTool("chat", chatArgs(id, `hello ${id}`));
      expect(ok.isError, `${id}: ${textOf(ok)}`).toBeFalsy();
      expect(structured<Generation>(ok).text).toMatch(new RegExp(`hello ${id}`));
    }
    for (const id of CHAT_MODELS.filter((m) => m !== "fb")) {
      await echoNext(id);
      const failed = await legacy.callTool("chat", chatArgs(id, `echo ${id}`));
      expect(failed.isError, id).toBe(true);
      expectRedacted(`MCP chat on ${id}`, textOf(failed));
    }
  });

  it("a fallback answers when the primary's upstream echoes its secret; the attempt's error is redacted", async () => {
    await echoNext("fb");
    const result = await user.callTool("chat", chatArgs("fb", "via fallback"));
    expect(result.isError).toBeFalsy();
    const answer = structured<Generation & { fallback: { requested: string; attempts: { model_id: string; error: string }[] } }>(result);
    expect(answer).toMatchObject({ text: "echo: via fallback", model_id: "oa-w", fallback: { requested: "fb" } });
    expectRedacted("fallback attempt", answer.fallback.attempts[0]!.error);
  });

  it("error bodies that carry the secret, plainly or base64-encoded, are redacted", async () => {
    const b64 = Buffer.from(TENANT_CANARY).toString("base64");
    await fakes.openai.script(UP.oaT, [{ kind: "status", status: 400, body: { error: { message: `bad key ${TENANT_CANARY} (b64 ${b64})` } } }]);
    const failed = await user.callTool("chat", chatArgs("oa-t", "error body"));
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toMatch(/bad key \[redacted\] \(b64 \[redacted\]\)/);
    echoed.push(textOf(failed));
  });

  it("checks on demand (admin API and check_health) and a passing sweep reset the statuses", async () => {
    // Everything passes: every model is available again before the next round of faults.
    const all = structured<{ checks: (Check & { model_id: string })[] }>(await admin.callTool("check_health", {}));
    expect(all.checks).toHaveLength(MODELS.length);
    for (const id of ["oa-w", "ol-t", "hf-t"]) {
      await echoNext(id);
      const res = await call<{ checks: Check[] }>("POST", `/api/v1/models/${id}/health-check`, { token: vault.adminKey });
      expect(res.status).toBe(200);
      expect(res.body.checks[0]).toMatchObject({ ok: false, status: "degraded" });
      expectRedacted(`manual check of ${id}`, res.body.checks[0]!.detail ?? "");
    }
    await fakes.ollama.control("tags", { instance: INSTANCE, steps: [{ kind: "echo_headers", status: 401 }] });
    const tags = structured<{ checks: Check[] }>(await user.callTool("check_health", { model_id: "ol-tags" }));
    expectRedacted("check_health of ol-tags", tags.checks[0]!.detail ?? "");
    const again = structured<{ checks: (Check & { model_id: string })[] }>(await user.callTool("check_health", {}));
    expect(again.checks.every((c) => c.ok)).toBe(true);
  });

  it("streams: progress notifications, a stream that breaks, an error inside a stream that carries the secret", async () => {
    const progress: Progress[] = [];
    const streamed = await user.callTool("chat", chatArgs("oa-t", "stream me please"), (p) => progress.push(p));
    expect(structured<Generation>(streamed).text).toBe("echo: stream me please");
    expect(progress.length).toBeGreaterThan(1);

    await fakes.openai.script(UP.oaW, [{ kind: "break_stream", afterChunks: 2 }]);
    const broken = await user.callTool("chat", chatArgs("oa-w", "this stream will break"), () => undefined);
    expect(structured<Generation & { error?: string }>(broken).finish_reason).toBe("error");

    // An error inside an Ollama stream that says nothing secret is passed on as the reason.
    await fakes.ollama.script(UP.olT, [{ kind: "error_in_stream", afterLines: 1, message: "out of memory" }]);
    const inStream = structured<Generation & { error?: string }>(
      await user.callTool("chat", chatArgs("ol-t", "error in the stream"), () => undefined),
    );
    expect(inStream).toMatchObject({ finish_reason: "error", error: expect.stringContaining("out of memory") });
  });

  it("/v1: models, chat, completions, embeddings, streams and upstream errors", async () => {
    const token = vault.userKey;
    const models = await call<{ data: { id: string }[] }>("GET", "/v1/models", { token });
    expect(models.body.data.map((m) => m.id).sort()).toEqual(MODELS.map((m) => m.id).sort());
    for (const id of ["oa-t", "ol-w", "hf-t"]) {
      const res = await call<{ choices: { message: { content: string } }[] }>("POST", "/v1/chat/completions", {
        token,
        body: { model: id, messages: [{ role: "user", content: `v1 ${id}` }] },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.choices[0]!.message.content).toContain(`v1 ${id}`);
    }
    const completion = await call("POST", "/v1/completions", { token, body: { model: "oa-w", prompt: "once upon" } });
    expect(completion.status).toBe(200);
    const embedding = await call<{ data: unknown[] }>("POST", "/v1/embeddings", { token, body: { model: "oa-embed-t", input: ["a", "b"] } });
    expect(embedding.status, JSON.stringify(embedding.body)).toBe(200);
    expect(embedding.body.data).toHaveLength(2);
    const embedTool = await user.callTool("embed", { model_id: "oa-embed-t", input: "c" });
    expect(embedTool.isError).toBeFalsy();

    for (const id of ["oa-t", "hf-w", "ol-t"]) {
      await echoNext(id);
      const res = await call<{ error: { message: string } }>("POST", "/v1/chat/completions", {
        token,
        body: { model: id, messages: [{ role: "user", content: "x" }] },
      });
      expect(res.status, id).toBeGreaterThanOrEqual(400);
      expectRedacted(`/v1 error of ${id}`, res.body.error.message);
    }

    const stream = await rawCall("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "oa-w",
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "sse please" }],
      }),
    });
    expect(stream.status).toBe(200);
    expect(stream.text).toContain("data: [DONE]");

    await fakes.ollama.script(UP.olW, [{ kind: "error_in_stream", afterLines: 1, message: "model unloaded" }]);
    const broken = await rawCall("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "ol-w", stream: true, messages: [{ role: "user", content: "sse that fails" }] }),
    });
    expect(broken.status).toBe(200);
    expect(broken.text).toMatch(/"error":\{"message":"[^"]*model unloaded/);

    await fakes.openai.script(UP.oaT, [{ kind: "break_stream", afterChunks: 1 }]);
    const cut = await rawCall("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "oa-t", stream: true, messages: [{ role: "user", content: "a stream that is cut" }] }),
    });
    expect(cut.status).toBe(200);
    // Leave every model available for what follows.
    expect(structured<{ checks: Check[] }>(await admin.callTool("check_health", {})).checks.every((c) => c.ok)).toBe(true);
  });

  it("reading: list_models, get_model, model:// resources, explain_route, the admin API's models, checks and routes", async () => {
    const listed = structured<{ models: ModelSummary[] }>(await user.callTool("list_models", {}));
    expect(listed.models).toHaveLength(MODELS.length);
    const resources = await rawCall("/mcp", {
      method: "POST",
      headers: {
        authorization: `Bearer ${vault.userKey}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "resources/list", params: {} }),
    });
    expect(resources.status).toBe(200);
    for (const model of MODELS) expect(resources.text).toContain(`model://${model.id}`);

    for (const { id } of MODELS) {
      const detail = structured<{ config: Record<string, unknown>; recent_checks: Check[] }>(await user.callTool("get_model", { model_id: id }));
      expect(JSON.stringify(detail.config)).toMatch(/\$\{(UPSTREAM_KEY|TENANT_KEY)\}/);
      const [resource] = await legacy.readResource(`model://${id}`);
      expect(JSON.parse(resource!.text ?? "{}")).toMatchObject({ id, config: detail.config });
      const capability = id === "oa-embed-t" ? "embedding" : "chat";
      const route = structured<{ steps: { upstream: string }[] }>(await user.callTool("explain_route", { model_id: id, capability }));
      expect(route.steps[0]!.upstream).toMatch(/^127\.0\.0\.1:\d+$/);
      expect((await call("GET", `/api/v1/models/${id}/route?capability=${capability}`, { token: vault.userKey })).status).toBe(200);
      expect((await call("GET", `/api/v1/models/${id}`, { token: vault.userKey })).status).toBe(200);
      await checks(id);
    }
    expect((await call("GET", "/api/v1/models", { token: vault.adminKey })).status).toBe(200);
  });

  it("the status page, by bearer key and by its sign-in cookie", async () => {
    const page = await call<string>("GET", "/status", { token: vault.userKey });
    expect(page.status).toBe(200);
    expect(page.body).toContain("oa-t");
    expect(page.body).toContain("scheduled failed"); // the echoed checks are on the page
    // Sign in as the page does: its form carries the anti-CSRF token it also set as a cookie.
    const form = await rawCall("/status", {});
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1] ?? "";
    const csrfCookie = (form.headers.get("set-cookie") ?? "").split(";")[0]!;
    const login = await rawCall("/status/login", {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: csrfCookie },
      body: new URLSearchParams({ key: vault.adminKey, csrf }).toString(),
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    expect(cookie).toMatch(/^mgw_status=/);
    expect(cookie).not.toContain(vault.adminKey);
    const viaCookie = await rawCall("/status", { headers: { cookie } });
    expect(viaCookie.status).toBe(200);
    expect(viaCookie.text).toContain("hf-w");
  });

  it("the admin API: secrets (names and hosts only), keys, model updates, maintenance, refused registrations", async () => {
    const secrets = await call<{ secrets: { name: string; hosts: string[] }[] }>("GET", "/api/v1/secrets", { token: vault.adminKey });
    expect(secrets.status).toBe(200);
    expect(secrets.body.secrets).toEqual([expect.objectContaining({ name: "TENANT_KEY", hosts: ["127.0.0.1"] })]);
    // Storing it again (same value) answers with the name and hosts only.
    const again = await call("PUT", "/api/v1/secrets/TENANT_KEY", { token: vault.adminKey, body: { value: TENANT_CANARY, hosts: ["127.0.0.1"] } });
    expect(again.status).toBe(200);
    // Bad secret bodies: the error never quotes the value.
    const badHosts = await call<ErrorBody>("PUT", "/api/v1/secrets/OTHER_KEY", {
      token: vault.adminKey,
      body: { value: TENANT_CANARY, hosts: ["http://x/"] },
    });
    expect(badHosts.status).toBe(400);
    const malformed = await rawCall("/api/v1/secrets/OTHER_KEY", {
      method: "PUT",
      headers: { authorization: `Bearer ${vault.adminKey}`, "content-type": "application/json" },
      body: `{"value": "${TENANT_CANARY}", "hosts": [`,
    });
    expect(malformed.status).toBe(400);
    const malformedModel = await rawCall("/api/v1/models", {
      method: "POST",
      headers: { authorization: `Bearer ${vault.adminKey}`, "content-type": "application/json" },
      body: `{"id": "m", "config": {"api_key": "${TENANT_CANARY}"`,
    });
    expect(malformedModel.status).toBe(400);
    // A secret may not go to a host it is not bound to; the refusal names the secret, not its value.
    const elsewhere = await call<ErrorBody>("POST", "/api/v1/models", {
      token: vault.adminKey,
      body: {
        id: "elsewhere",
        name: "x",
        backend_type: "openai_compatible",
        config: { base_url: "https://api.example.com/v1", model_name: "m", api_key: "${TENANT_KEY}" },
      },
    });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error.message).toMatch(/TENANT_KEY may not be sent to api\.example\.com/);

    const keys = await call<{ keys: { id: string }[] }>("GET", "/api/v1/keys", { token: vault.adminKey });
    expect(keys.status).toBe(200);
    const issued = await call<{ id: string; key: string }>("POST", "/api/v1/keys", { token: vault.adminKey, body: { role: "user", name: "temp" } });
    expect(issued.status).toBe(201);
    expect((await call("DELETE", `/api/v1/keys/${issued.body.id}`, { token: vault.adminKey })).status).toBe(200);

    const patched = await call("PATCH", "/api/v1/models/oa-t", { token: vault.adminKey, body: { config: { timeout: 6 } } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect((await call("PUT", "/api/v1/models/hf-t/status", { token: vault.adminKey, body: { status: "maintenance" } })).status).toBe(200);
    expect((await call("PUT", "/api/v1/models/hf-t/status", { token: vault.adminKey, body: { status: "available" } })).status).toBe(200);

    // Admin tools over MCP, with secret references.
    const made = await admin.callTool("register_model", {
      id: "via-mcp",
      name: "Via MCP",
      backend_type: "ollama",
      config: { base_url: ollamaUrl, model_name: UP.olT, headers: ollamaHeaders("TENANT_KEY") },
    });
    expect(made.isError, textOf(made)).toBeFalsy();
    expect((await admin.callTool("update_model", { model_id: "via-mcp", config: { timeout: 7 } })).isError).toBeFalsy();
    expect((await admin.callTool("set_maintenance", { model_id: "via-mcp", maintenance: true })).isError).toBeFalsy();
    expect((await admin.callTool("remove_model", { model_id: "via-mcp" })).isError).toBeFalsy();
  });

  it("the operator API: tenants, keys, grants, and re-encrypting a tenant's secrets", async () => {
    const op = { token: dev.adminToken };
    expect((await call<{ tenants: { id: string }[] }>("GET", "/api/v1/tenants", op)).body.tenants.map((t) => t.id)).toEqual([
      "noisy",
      "rival",
      "vault",
    ]);
    expect((await call("GET", "/api/v1/tenants/vault", op)).status).toBe(200);
    expect((await call("GET", "/api/v1/tenants/vault/keys", op)).status).toBe(200);
    const grants = await call<{ grants: { name: string; hosts: string[] }[] }>("GET", "/api/v1/tenants/vault/grants", op);
    expect(grants.body.grants).toEqual([expect.objectContaining({ name: "UPSTREAM_KEY", hosts: ["127.0.0.1"] })]);
    expect((await call("PUT", "/api/v1/tenants/rival/grants/UPSTREAM_KEY", { ...op, body: { hosts: ["api.example.com"] } })).status).toBe(200);
    expect((await call("DELETE", "/api/v1/tenants/rival/grants/UPSTREAM_KEY", op)).status).toBe(200);
    // The gateway's own secrets can never be granted.
    expect((await call("PUT", "/api/v1/tenants/rival/grants/SECRETS_KEY", { ...op, body: { hosts: ["127.0.0.1"] } })).status).toBe(400);
    const rotated = await call("POST", "/api/v1/tenants/vault/secrets/rotate", op);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ tenant_id: "vault", already_current: 1, failed: [] });
    // And the secret still resolves afterwards.
    expect(structured<Generation>(await user.callTool("chat", chatArgs("oa-t", "after rotation"))).text).toBe("echo: after rotation");
  });

  it("OAuth consent with the tenant's admin key, then a chat on a model with the tenant secret", async () => {
    const { tokens, outcome } = await authorizeByHand(recorder.fetch, dev.url, vault.adminKey, REDIRECT);
    expect(outcome.page.status).toBe(200);
    expect(tokens.status).toBe(200);
    const oauthSession = await connectModern(dev.url, tokens.body.access_token!, recorder);
    sessions.push(oauthSession);
    expect(structured<Generation>(await oauthSession.callTool("chat", chatArgs("oa-t", "over oauth"))).text).toBe("echo: over oauth");
    await echoNext("hf-t");
    const failed = await oauthSession.callTool("chat", chatArgs("hf-t", "oauth echo"));
    expectRedacted("OAuth session echo", textOf(failed));
  });

  /**
   * Leaks this suite found and that were fixed: secrets in errors inside streams, split by the
   * cut of a long message, or echoed as generated text. Their calls go through a recorder and
   * an MCP session of their own.
   */
  describe("secrets the upstream tries to sneak back", () => {
    const quarantine = new ResponseRecorder();
    let leaky: McpSession;
    beforeAll(async () => {
      leaky = await connectModern(dev.url, vault.userKey, quarantine);
      sessions.push(leaky);
    });
    const leaked = (text: string, canary: string) => forms(canary).some((form) => text.includes(form));

    // src/inference/run.ts attempt(): a broken stream's `result.error` is redacted only for the
    // health report (`broken`); the unredacted `result` is returned to the MCP tool and to /v1.
    it("MCP: an error inside a stream that carries the secret reaches the caller redacted", async () => {
      await fakes.ollama.script(UP.olT, [{ kind: "error_in_stream", afterLines: 1, message: `token ${TENANT_CANARY} rejected` }]);
      const result = await leaky.callTool("chat", chatArgs("ol-t", "error in the stream"), () => undefined);
      expect(structured<Generation>(result).finish_reason).toBe("error");
      const text = JSON.stringify(result);
      expect(leaked(text, TENANT_CANARY)).toBe(false);
      expect(text).toContain("[redacted]");
    });

    it("/v1: an error event inside an SSE stream that carries the secret is redacted", async () => {
      await fakes.ollama.script(UP.olW, [{ kind: "error_in_stream", afterLines: 1, message: `service token ${dev.upstreamKey} expired` }]);
      const response = await quarantine.fetch(`${dev.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${vault.userKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "ol-w", stream: true, messages: [{ role: "user", content: "sse that fails" }] }),
      });
      const text = await response.text();
      expect(text).toMatch(/"error":\{"message":"[^"]*expired/);
      expect(leaked(text, dev.upstreamKey)).toBe(false);
      expect(text).toContain("[redacted]");
    });

    // src/backends/http.ts upstreamMessage() cuts upstream text to a 300-character snippet BEFORE
    // redact() runs (src/inference/run.ts, src/health/probe.ts): a secret cut in two by the snippet
    // is no longer found whole, and its first part is shown.
    it("an upstream message that puts the secret at the 300-character cut leaks no part of it", async () => {
      await fakes.openai.script(UP.oaT, [{ kind: "status", status: 400, body: { error: { message: `${"x".repeat(270)}${TENANT_CANARY}` } } }]);
      const failed = await leaky.callTool("chat", chatArgs("oa-t", "long error"));
      expect(failed.isError).toBe(true);
      const text = textOf(failed);
      expect(text).toContain("x".repeat(200));
      // 30 characters of the canary fall before the cut: its fixed prefix and 16 random hex digits.
      expect(text).not.toContain(TENANT_CANARY.slice(0, 30));
    });

    // SECURITY.md's threat model: a malicious upstream that echoes what it was sent must not get
    // secrets into responses. Generated text is passed through unredacted (src/inference/run.ts).
    it("an upstream that answers with the secret as the generated text does not get it to the caller", async () => {
      await fakes.openai.script(UP.oaT, [
        {
          kind: "status",
          status: 200,
          body: {
            id: "chatcmpl-evil",
            object: "chat.completion",
            created: 1700000000,
            model: UP.oaT,
            choices: [{ index: 0, message: { role: "assistant", content: `the key you sent is ${TENANT_CANARY}` }, finish_reason: "stop" }],
            usage: { prompt_tokens: 1, completion_tokens: 6, total_tokens: 7 },
          },
        },
      ]);
      const result = await leaky.callTool("chat", chatArgs("oa-t", "what is my key?"));
      expect(textOf(result)).toContain("the key you sent is");
      expect(leaked(JSON.stringify(result), TENANT_CANARY)).toBe(false);
    });
  });

  it("the fakes received each canary, so the secrets were really in play", async () => {
    for (const id of CHAT_MODELS) {
      const fake = FAKE[id]!;
      const sent = await fakeOf(id).requests(fake.model);
      const values = sent.map((r) => r.headers[fake.header] ?? "");
      const expected = fake.header === "authorization" ? `Bearer ${fake.canary()}` : fake.canary();
      expect(values.length, id).toBeGreaterThan(0);
      expect(
        values.every((v) => v === expected),
        `${id}: ${JSON.stringify(values)}`,
      ).toBe(true);
    }
    // Each echo above came back redacted (and there were many of them).
    expect(echoed.length).toBeGreaterThanOrEqual(25);
    for (const text of echoed) expect(text).toContain("[redacted]");
  });
});

describe("(b) attacks at the HTTP edge", () => {
  /** The same call for another tenant's id and for an id nobody has: the answers must be identical. */
  async function sameAsNonexistent(label: string, run: (id: string) => Promise<unknown>) {
    const foreign = JSON.stringify(await run("rival-private")).replaceAll("rival-private", "<id>");
    const nobody = JSON.stringify(await run("ghost-private")).replaceAll("ghost-private", "<id>");
    expect(foreign, label).toBe(nobody);
    expect(foreign, label).toMatch(/not found|no model with id|404/i);
  }
  const statusAndBody = (r: ApiResult) => ({ status: r.status, body: r.body });
  const toolOrError = (p: Promise<ToolResult | unknown>) =>
    p.then(
      (r) => r,
      (e: unknown) => ({ thrown: String(e) }),
    );

  it("another tenant's model id is exactly like a nonexistent one, over MCP, /v1 and the admin API", async () => {
    const before = (await fakes.openai.requests(UP.rival)).length;
    await sameAsNonexistent("MCP chat", (id) => user.callTool("chat", chatArgs(id, "hi")));
    await sameAsNonexistent("MCP get_model", (id) => user.callTool("get_model", { model_id: id }));
    await sameAsNonexistent("MCP explain_route", (id) => user.callTool("explain_route", { model_id: id, capability: "chat" }));
    await sameAsNonexistent("MCP check_health", (id) => user.callTool("check_health", { model_id: id }));
    await sameAsNonexistent("MCP embed", (id) => user.callTool("embed", { model_id: id, input: "x" }));
    await sameAsNonexistent("MCP remove_model", (id) => admin.callTool("remove_model", { model_id: id }));
    await sameAsNonexistent("MCP model:// resource", (id) => toolOrError(user.readResource(`model://${id}`)));
    const token = vault.adminKey;
    await sameAsNonexistent("/v1 chat", async (id) =>
      statusAndBody(await call("POST", "/v1/chat/completions", { token, body: { model: id, messages: [{ role: "user", content: "hi" }] } })),
    );
    await sameAsNonexistent("/v1 stream", async (id) =>
      statusAndBody(
        await call("POST", "/v1/chat/completions", { token, body: { model: id, stream: true, messages: [{ role: "user", content: "hi" }] } }),
      ),
    );
    await sameAsNonexistent("/v1 embeddings", async (id) =>
      statusAndBody(await call("POST", "/v1/embeddings", { token, body: { model: id, input: "x" } })),
    );
    for (const [method, path, body] of [
      ["GET", "/api/v1/models/:id", undefined],
      ["PATCH", "/api/v1/models/:id", { config: { timeout: 9 } }],
      ["DELETE", "/api/v1/models/:id", undefined],
      ["GET", "/api/v1/models/:id/checks", undefined],
      ["POST", "/api/v1/models/:id/health-check", undefined],
      ["GET", "/api/v1/models/:id/route?capability=chat", undefined],
      ["PUT", "/api/v1/models/:id/status", { status: "maintenance" }],
    ] as const) {
      await sameAsNonexistent(`${method} ${path}`, async (id) => {
        const res = await call(method, path.replace(":id", id), { token, body });
        expect(res.status, `${method} ${path}`).toBe(404);
        return statusAndBody(res);
      });
    }
    // As a fallback, too.
    await sameAsNonexistent("fallbacks", async (id) =>
      statusAndBody(await call("POST", "/api/v1/models", { token, body: { ...MODELS[0], id: "with-fallback", fallbacks: [id] } })),
    );
    // The rival's model was never called, and is still there for its owner.
    expect((await fakes.openai.requests(UP.rival)).length).toBe(before);
    expect((await call("GET", "/api/v1/models/rival-private", { token: rival.userKey })).status).toBe(200);
  });

  const mcpHeaders = (extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${vault.userKey}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
    ...extra,
  });
  const toolsList = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} });

  it("browsers: a foreign or `null` Origin gets 403 on /mcp; CORS echoes allowed origins only, never `*`", async () => {
    for (const origin of ["https://evil.example", "null", "http://127.0.0.1.evil.example"]) {
      const res = await rawCall("/mcp", { method: "POST", headers: mcpHeaders({ origin }), body: toolsList });
      expect(res.status, origin).toBe(403);
      expect(res.headers.get("access-control-allow-origin"), origin).toBeNull();
      expect(res.text, origin).not.toContain("list_models");
    }
    const own = new URL(dev.url).origin;
    const allowed = await rawCall("/mcp", { method: "POST", headers: mcpHeaders({ origin: own }), body: toolsList });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(own);
    expect(allowed.headers.get("access-control-allow-credentials")).toBeNull();

    const preflight = (origin: string) =>
      rawCall("/mcp", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
      });
    expect((await preflight("https://evil.example")).headers.get("access-control-allow-origin")).toBeNull();
    expect((await preflight(own)).headers.get("access-control-allow-origin")).toBe(own);
    // Nothing the gateway answered in this whole file allowed every origin.
    expect(recorder.text()).not.toMatch(/access-control-allow-origin: \*/i);
  });

  it("a Host that is not the gateway's is refused on /mcp", async () => {
    const { port } = new URL(dev.url);
    const send = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port: Number(port),
            path: "/mcp",
            method: "POST",
            headers: { ...mcpHeaders(), host, "content-length": Buffer.byteLength(toolsList) },
          },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString("utf8")));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end(toolsList);
      });
    const foreign = await send("evil.example");
    expect(foreign.status).toBe(403);
    expect(foreign.body).not.toContain("list_models");
    const rebinding = await send(`attacker.example:${port}`);
    expect(rebinding.status).toBe(403);
    // The gateway's own host is fine.
    expect((await send(`127.0.0.1:${port}`)).status).toBe(200);
  });

  it("SSRF: internal, metadata and loopback spellings are refused with 400 naming config.base_url, and nothing is stored", async () => {
    const urls = [
      "http://169.254.169.254/",
      "https://[::ffff:127.0.0.1]/v1",
      "https://localhost./v1",
      "http://0x7f000002/",
      "http://[::1]:11434/",
      "https://10.0.0.1/v1",
    ];
    for (const [i, base_url] of urls.entries()) {
      const res = await call<ErrorBody>("POST", "/api/v1/models", {
        token: vault.adminKey,
        body: { id: `ssrf-${i}`, name: "ssrf", backend_type: "openai_compatible", config: { base_url, model_name: "m" } },
      });
      expect(res.status, base_url).toBe(400);
      expect(res.body.error.message, base_url).toMatch(/^config\.base_url: /);
    }
    const viaMcp = await admin.callTool("register_model", {
      id: "ssrf-mcp",
      name: "ssrf",
      backend_type: "ollama",
      config: { base_url: "http://169.254.169.254/", model_name: "m" },
    });
    expect(viaMcp.isError).toBe(true);
    expect(textOf(viaMcp)).toContain("config.base_url");
    const models = await call<{ models: ModelSummary[] }>("GET", "/api/v1/models", { token: vault.adminKey });
    expect(models.body.models.filter((m) => m.id.startsWith("ssrf"))).toEqual([]);
    expect(models.body.models).toHaveLength(MODELS.length);
  });

  it("oversized bodies get 413 on /mcp, /v1 and /api", async () => {
    const big = "x".repeat(1_100_000);
    const mcp = await rawCall("/mcp", {
      method: "POST",
      headers: mcpHeaders(),
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "chat", arguments: chatArgs("oa-w", big) } }),
    });
    expect(mcp.status).toBe(413);
    const v1 = await rawCall("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${vault.userKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "oa-w", messages: [{ role: "user", content: big }] }),
    });
    expect(v1.status).toBe(413);
    const models = await rawCall("/api/v1/models", {
      method: "POST",
      headers: { authorization: `Bearer ${vault.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ ...MODELS[0], id: "too-big", name: big }),
    });
    expect(models.status).toBe(413);
    const secret = await rawCall("/api/v1/secrets/BIG_SECRET", {
      method: "PUT",
      headers: { authorization: `Bearer ${vault.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "y".repeat(70_000), hosts: ["127.0.0.1"] }),
    });
    expect(secret.status).toBe(413);
    // Nothing was stored, nothing reached the upstream.
    expect((await call("GET", "/api/v1/models/too-big", { token: vault.adminKey })).status).toBe(404);
    const secrets = await call<{ secrets: { name: string }[] }>("GET", "/api/v1/secrets", { token: vault.adminKey });
    expect(secrets.body.secrets.map((s) => s.name)).toEqual(["TENANT_KEY"]);
    const sent = await fakes.openai.requests(UP.oaW);
    expect(sent.some((r) => JSON.stringify(r.body).length > 1_000_000)).toBe(false);
  });

  it("a literal credential in a model config is refused with instructions, and not echoed", async () => {
    const literal = `sk-live-${randomBytes(12).toString("hex")}`;
    const cases = [{ api_key: literal }, { headers: { Authorization: `Bearer ${literal}` } }];
    for (const extra of cases) {
      const res = await call<ErrorBody>("POST", "/api/v1/models", {
        token: vault.adminKey,
        body: {
          id: "literal",
          name: "literal",
          backend_type: "openai_compatible",
          config: { base_url: `${openaiUrl}/v1`, model_name: "m", ...extra },
        },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^config\.(api_key|headers\.Authorization) holds a literal secret/);
      expect(res.body.error.message).toContain("PUT /api/v1/secrets/NAME");
      expect(res.body.error.message).toContain("${NAME}");
      expect(JSON.stringify(res.body)).not.toContain(literal);
    }
    const ollama = await admin.callTool("register_model", {
      id: "literal",
      name: "literal",
      backend_type: "ollama",
      config: { base_url: ollamaUrl, model_name: "m", headers: { "CF-Access-Client-Secret": literal } },
    });
    expect(ollama.isError).toBe(true);
    expect(textOf(ollama)).toContain("holds a literal secret");
    expect(JSON.stringify(ollama)).not.toContain(literal);
    expect((await call("GET", "/api/v1/models/literal", { token: vault.adminKey })).status).toBe(404);
  });

  it("a user key cannot use admin routes (403) nor admin tools (not listed, not callable); operator routes want the operator", async () => {
    const token = vault.userKey;
    const routes: [string, string, unknown?][] = [
      ["POST", "/api/v1/models", { ...MODELS[0], id: "by-user" }],
      ["PATCH", "/api/v1/models/oa-w", { config: { timeout: 9 } }],
      ["DELETE", "/api/v1/models/oa-w"],
      ["PUT", "/api/v1/models/oa-w/status", { status: "maintenance" }],
      ["PUT", "/api/v1/secrets/USER_SECRET", { value: "abcdefgh12345678", hosts: ["127.0.0.1"] }],
      ["GET", "/api/v1/secrets"],
      ["DELETE", "/api/v1/secrets/TENANT_KEY"],
      ["GET", "/api/v1/keys"],
      ["POST", "/api/v1/keys", { role: "admin" }],
      ["DELETE", `/api/v1/keys/${vault.adminKeyId}`],
    ];
    for (const [method, path, body] of routes) {
      const res = await call<ErrorBody>(method, path, { token, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
    }
    for (const [method, path] of [
      ["GET", "/api/v1/tenants"],
      ["POST", "/api/v1/tenants/vault/keys"],
      ["PUT", "/api/v1/tenants/vault/grants/UPSTREAM_KEY"],
    ]) {
      expect((await call(method!, path!, { token: vault.adminKey, body: method === "GET" ? undefined : {} })).status, `${method} ${path}`).toBe(401);
    }
    const names = (await user.listTools()).map((t) => t.name);
    expect(names).toContain("chat");
    for (const tool of ["register_model", "update_model", "remove_model", "set_maintenance", "set_telemetry_export"])
      expect(names).not.toContain(tool);
    const attempt = await toolOrError(user.callTool("remove_model", { model_id: "oa-w" }));
    expect(JSON.stringify(attempt)).toMatch(/remove_model/);
    // Nothing changed.
    const models = await call<{ models: ModelSummary[] }>("GET", "/api/v1/models", { token: vault.adminKey });
    expect(models.body.models.map((m) => m.id).sort()).toEqual(MODELS.map((m) => m.id).sort());
    expect(models.body.models.find((m) => m.id === "oa-w")!.status).not.toBe("maintenance");
    expect((await call<{ secrets: unknown[] }>("GET", "/api/v1/secrets", { token: vault.adminKey })).body.secrets).toHaveLength(1);
  });

  it("the per-tenant rate limit: the noisy tenant gets 429 with Retry-After, another tenant still gets 200", async () => {
    // The local limiter counts in windows aligned to the wall-clock minute: start a burst well inside one.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await sleep(60_000 - intoMinute + 200);
    const statuses: number[] = [];
    const limited: ApiResult<ErrorBody>[] = [];
    const quiet: number[] = [];
    const TOTAL = 660;
    const BATCH = 60;
    for (let sent = 0; sent < TOTAL; sent += BATCH) {
      const batch = await Promise.all(Array.from({ length: BATCH }, () => call<ErrorBody>("GET", "/api/v1/models", { token: noisy.userKey })));
      for (const res of batch) {
        statuses.push(res.status);
        if (res.status === 429) limited.push(res);
      }
      if (sent >= 600) quiet.push((await call("GET", "/api/v1/models", { token: rival.userKey })).status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(600);
    expect(limited).toHaveLength(TOTAL - 600);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    for (const res of limited) {
      expect(res.headers.get("retry-after")).toBe("60");
      expect(res.body.error.code).toBe("rate_limited");
    }
    expect(quiet.length).toBeGreaterThan(0);
    expect(quiet.every((s) => s === 200)).toBe(true);
    // Over MCP and /v1 too.
    const mcp = await rawCall("/mcp", { method: "POST", headers: mcpHeaders({ authorization: `Bearer ${noisy.userKey}` }), body: toolsList });
    expect(mcp.status).toBe(429);
    expect(mcp.headers.get("retry-after")).toBe("60");
    expect((await call("GET", "/v1/models", { token: noisy.adminKey })).status).toBe(429);
    // Unauthenticated requests do not spend anyone's budget (nor get counted): still 401.
    expect((await call("GET", "/api/v1/models", { token: "mgw_noisy_forgedforgedforgedforgedforgedforgedfor" })).status).toBe(401);
    expect((await call("GET", "/api/v1/models", { token: rival.userKey })).status).toBe(200);
  });

  it("the audit log records admin actions (who, what, which) and never a secret value", async () => {
    const want = (row: Partial<AuditRow>) => (rows: AuditRow[]) =>
      rows.some((r) => Object.entries(row).every(([k, v]) => r[k as keyof AuditRow] === v));
    const expected: Partial<AuditRow>[] = [
      { tenant_id: "vault", actor: "operator", action: "tenant.create", target: "vault" },
      { tenant_id: "vault", actor: "operator", action: "key.create", target: vault.adminKeyId },
      { tenant_id: "vault", actor: "operator", action: "grant.put", target: "UPSTREAM_KEY" },
      { tenant_id: "rival", actor: "operator", action: "grant.revoke", target: "UPSTREAM_KEY" },
      { tenant_id: "vault", actor: "operator", action: "secret.rotate", target: "vault" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "secret.put", target: "TENANT_KEY" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "model.register", target: "oa-t" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "model.update", target: "oa-t" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "model.status", target: "hf-t" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "model.remove", target: "via-mcp" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "key.create" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "key.revoke" },
      { tenant_id: "vault", actor: `key:${vault.adminKeyId}`, action: "oauth.authorize" },
    ];
    const rows = await until("the audit entries", auditLog, (r) => expected.every((e) => want(e)(r)), 10_000);
    for (const e of expected) expect(want(e)(rows), JSON.stringify(e)).toBe(true);
    const secretPut = rows.find((r) => r.action === "secret.put")!;
    expect(JSON.parse(secretPut.detail ?? "{}")).toEqual({ hosts: ["127.0.0.1"] });
    // Refused and forbidden requests changed nothing, so they left no entry.
    expect(rows.some((r) => (r.target ?? "").startsWith("ssrf") || r.target === "literal" || r.target === "by-user" || r.target === "too-big")).toBe(
      false,
    );
    expect(rows.every((r) => r.actor === "operator" || /^key:key_[A-Za-z0-9_-]+$/.test(r.actor))).toBe(true);
    const dump = JSON.stringify(rows);
    for (const canary of canaries()) for (const form of forms(canary)) expect(dump).not.toContain(form);
    expect(dump).not.toContain(vault.adminKey);
    expect(dump).not.toContain(dev.adminToken);
  });
});

describe("afterwards: neither canary is anywhere", () => {
  it("not in any response, log, debug log or stored health check", async () => {
    expect(recorder.count).toBeGreaterThan(800); // the rate-limit burst alone is 660
    const responses = recorder.text();
    expect(responses).toContain("[redacted]");
    const stored = JSON.stringify(await Promise.all(MODELS.map((m) => checks(m.id))));
    expect(stored).toContain("[redacted]");
    const logs = dev.logs();
    const debug = await dev.debugLogs();
    expect(logs).toContain("health sweep"); // the logs are the real ones
    for (const canary of canaries()) {
      for (const form of forms(canary)) {
        expect(responses.includes(form), `a response holds ${form}`).toBe(false);
        expect(stored.includes(form), `a stored check holds ${form}`).toBe(false);
        expect(logs.includes(form), `wrangler dev output holds ${form}`).toBe(false);
        expect(debug.includes(form), `wrangler's debug log holds ${form}`).toBe(false);
      }
    }
  });

  it("not in any byte of any file under the persist dir (D1, Durable Objects, KV), once wrangler dev has stopped", async () => {
    await dev.stop(); // flushes SQLite write-ahead logs into the database files
    const envFile = join(dev.persistDir, "e2e.env"); // the test harness's own input: it holds UPSTREAM_KEY by design
    const files = (await filesUnder(dev.persistDir)).filter((f) => f !== envFile);
    expect(files.some((f) => f.includes(`${join("v3", "d1")}`))).toBe(true);
    expect(files.some((f) => f.includes(`${join("v3", "do")}`))).toBe(true);
    expect(files.some((f) => f.includes(`${join("v3", "kv")}`))).toBe(true);
    const needles = canaries().flatMap((c) => forms(c).map((form) => ({ form, bytes: Buffer.from(form, "utf8") })));
    // Control: the search finds what is there (the model ids and secret names are stored in plain text).
    const planted = Buffer.from("TENANT_KEY");
    let plantedFound = false;
    for (const file of files) {
      const bytes = await readFile(file);
      if (bytes.includes(planted)) plantedFound = true;
      for (const needle of needles) expect(bytes.includes(needle.bytes), `${file} holds ${needle.form}`).toBe(false);
      // UTF-16 too, in case anything stores text that way.
      for (const needle of needles) expect(bytes.includes(Buffer.from(needle.form, "utf16le")), `${file} holds ${needle.form} (UTF-16)`).toBe(false);
    }
    expect(plantedFound).toBe(true);
  });
});
