/**
 * End to end: the gateway and the example backend Worker (examples/backend-worker)
 * in one `wrangler dev` with both configs, the backend in front of the fake
 * OpenAI-compatible upstream. The operator grants the binding; a tenant registers
 * `worker` models and calls them with the official `openai` SDK (whole and
 * streamed) and embeds; health checks go over RPC; a failing backend goes to the
 * fallback and, failing on, is skipped by the breaker.
 */
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { backendWranglerConfigs, type BackendConfigs } from "../support/backend-worker";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { fakes, gatewayFor, openaiFor, ResponseRecorder, type Tenant } from "./helpers";

const openaiUrl = inject("openaiUrl");
const RUN = String(Date.now() % 1e8);

let dev: WranglerDev;
let configs: BackendConfigs;
const recorder = new ResponseRecorder();
let tenant: Tenant;
let openai: OpenAI;
const { api, createTenant } = gatewayFor(recorder, () => dev);

const workerModel = (id: string, model: string, config: Record<string, unknown> = {}) => ({
  id,
  name: id,
  backend_type: "worker",
  config: { binding: "EXAMPLE_BACKEND", model, timeout: 5, ...config },
});

beforeAll(async () => {
  configs = await backendWranglerConfigs(openaiUrl);
  dev = await startWranglerDev({ config: configs.gateway, extraConfigs: [configs.backend] });
  tenant = await createTenant({ id: "backend-worker", name: "Backend Worker", grantCanary: true });
  const grant = await api("PUT", `/api/v1/tenants/${tenant.id}/grants/EXAMPLE_BACKEND`, { token: dev.adminToken, body: { binding: true } });
  expect(grant.status, grant.text).toBe(200);
  openai = openaiFor(dev.url, tenant.userKey, recorder, { timeout: 30_000 });
});

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
  await configs?.dispose();
});

describe("a backend Worker beside the gateway", () => {
  it("refuses a binding that is not granted, or the gateway's own, with a 400 naming it", async () => {
    const other = await createTenant({ id: `other-${RUN}`, name: "Other" });
    const notGranted = await api("POST", "/api/v1/models", { token: other.adminKey, body: workerModel("w", "gpt-fake") });
    expect(notGranted.status).toBe(400);
    expect(notGranted.text).toContain("the service binding EXAMPLE_BACKEND is not granted to this tenant");
    const db = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: workerModel("w", "gpt-fake", { binding: "DB" }) });
    expect(db.status).toBe(400);
    expect(db.text).toContain("config.binding: DB is one of the gateway's own bindings");
  });

  it("registers what the Worker declares, healthy; chats whole and streamed; embeds", async () => {
    const chat = await api<{ capabilities: string[]; status: string }>("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: workerModel("w-chat", "gpt-fake"),
    });
    expect(chat.status, chat.text).toBe(201);
    expect(chat.body).toMatchObject({ capabilities: ["chat", "completion"], status: "available" });
    const embed = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: workerModel("w-embed", "fake-embed") });
    expect(embed.body).toMatchObject({ capabilities: ["embedding"], status: "available" });

    const whole = await openai.chat.completions.create({ model: "w-chat", messages: [{ role: "user", content: "hello worker" }] });
    expect(whole.choices[0]?.message.content).toBe("echo: hello worker");
    expect(whole.usage?.prompt_tokens).toBeGreaterThan(0);

    const stream = await openai.chat.completions.create({
      model: "w-chat",
      messages: [{ role: "user", content: "a streamed answer" }],
      stream: true,
    });
    const pieces: string[] = [];
    for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta?.content ?? "");
    expect(pieces.filter(Boolean).length).toBeGreaterThan(1);
    expect(pieces.join("")).toBe("echo: a streamed answer");

    const vectors = await openai.embeddings.create({ model: "w-embed", input: ["one", "two"] });
    expect(vectors.data.map((d) => d.embedding.length)).toEqual([8, 8]);

    const check = await api<{ checks: { status: string }[] }>("POST", "/api/v1/models/w-chat/health-check", { token: tenant.adminKey });
    expect(check.status, check.text).toBe(200);
    expect(check.body.checks[0]).toMatchObject({ status: "available" });
  });

  it("a failing backend goes to the fallback; failing on, the breaker skips it", async () => {
    const primary = `w-primary-${RUN}`;
    await fakes.openai.script(primary, []);
    const backup = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: workerModel("w-backup", "gpt-fake", { max_retries: 0 }) });
    expect(backup.status, backup.text).toBe(201);
    const res = await api("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: { ...workerModel("w-primary", primary, { max_retries: 0 }), fallbacks: ["w-backup"] },
    });
    expect(res.status, res.text).toBe(201);
    await fakes.openai.script(primary, [{ kind: "down_for", ms: 60_000 }]);

    const answers: { model: string; error?: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = (await openai.chat.completions.create({
        model: "w-primary",
        messages: [{ role: "user", content: `try ${i}` }],
      })) as OpenAI.ChatCompletion & {
        fallback?: { attempts: { error: string }[] };
      };
      answers.push({ model: answer.model, error: answer.fallback?.attempts[0]?.error });
    }
    expect(answers.map((a) => a.model)).toEqual(["w-backup", "w-backup", "w-backup", "w-backup"]);
    expect(answers[0]?.error).toMatch(/backend Worker EXAMPLE_BACKEND \(model w-primary-\d+\) failed: the upstream answered 503/);
    expect(answers[3]?.error).toMatch(/circuit open/);
  });
});
