/**
 * End to end: failover through `wrangler dev`, with the official `openai` SDK
 * on /v1 and a real MCP client, against the fake OpenAI-compatible upstream
 * misbehaving on cue (tests/support/fake-openai.ts). Each scenario is one
 * primary with one fallback ("backup"), streamed and not: a primary down for
 * 60 s serves again within 10 s of healing (the circuit breaker's probes), silence
 * before the first token is rescued, context length fails over, a content
 * filter refusal does not, a malformed event is skipped, a cut answer is
 * never presented as complete, and one cut (or stalled) after text is
 * continued by a fallback that takes a prefill. Short timeouts and cooldowns keep it fast.
 */
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { connectModern, fakes, gatewayFor, type McpSession, openaiFor, ResponseRecorder, structured, type Tenant } from "./helpers";

const openaiUrl = inject("openaiUrl");
const RUN = String(Date.now() % 1e8);
const up = (name: string) => `gpt-e2e-failover-${name}-${RUN}`;

let dev: WranglerDev;
const recorder = new ResponseRecorder();
let tenant: Tenant;
let openai: OpenAI;
let mcp: McpSession;
const { api, createTenant } = gatewayFor(recorder, () => dev);

interface Fallback {
  requested: string;
  attempts: { model_id: string; error: string }[];
  rescued?: "prefill" | "regenerated";
}
type Answer = OpenAI.ChatCompletion & { fallback?: Fallback };

async function register(id: string, config: Record<string, unknown> = {}, fallbacks?: string[], features?: string[]) {
  const res = await api("POST", "/api/v1/models", {
    token: tenant.adminKey,
    body: {
      id,
      name: id,
      backend_type: "openai_compatible",
      config: { base_url: `${openaiUrl}/v1`, model_name: up(id), api_key: "${UPSTREAM_KEY}", max_retries: 2, timeout: 5, ...config },
      ...(fallbacks && { fallbacks }),
      ...(features && { features }),
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

const ask = (model: string, content: string) => openai.chat.completions.create({ model, messages: [{ role: "user", content }] }) as Promise<Answer>;

/** A streamed answer through the SDK: its text, the chunks, and the error it ended with, if any. */
async function askStreamed(model: string, content: string) {
  const stream = await openai.chat.completions.create({ model, messages: [{ role: "user", content }], stream: true });
  const chunks: (OpenAI.ChatCompletionChunk & { fallback?: Fallback })[] = [];
  let error: unknown;
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (e) {
    error = e;
  }
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
  return { text, chunks, error, finish: chunks.map((c) => c.choices[0]?.finish_reason).find(Boolean) };
}

beforeAll(async () => {
  dev = await startWranglerDev();
  tenant = await createTenant({ id: "failover", name: "Failover", grantCanary: true });
  await register("backup", { max_retries: 0 });
  openai = openaiFor(dev.url, tenant.userKey, recorder, { timeout: 30_000 });
  mcp = await connectModern(dev.url, tenant.userKey, recorder);
});

afterAll(async () => {
  await mcp?.close();
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

/** A primary down this long, asked this often: long enough for the breaker's cooldown to reach its cap, so its growth is bounded. */
const DOWN_MS = 60_000;
const EVERY_MS = 4_000;

describe("failover end to end", () => {
  it(
    "a primary down 60 s, asked every 4 s: serving again within 10 s of healing, no call touching it twice while open",
    async () => {
      // The defaults: 2 retries, the breaker's cooldowns (2 s doubling to 8 s) and its probes.
      await register("flappy", {}, ["backup"]);
      await fakes.openai.script(up("flappy"), [{ kind: "down_for", ms: DOWN_MS }]);
      const healsAt = Date.now() + DOWN_MS;
      const status = async () => (await api<{ status: string }>("GET", "/api/v1/models/flappy", { token: tenant.userKey })).body.status;
      const rows: { n: number; open: boolean; model: string | undefined; touches: number }[] = [];
      let servedAt = 0;
      for (let n = 0; Date.now() < healsAt + 15_000; n++) {
        const sentAt = Date.now();
        const open = (await status()) === "error";
        const model = n % 2 === 0 ? (await ask("flappy", `call ${n}`)).model : (await askStreamed("flappy", `call ${n}`)).chunks.at(-1)?.model;
        const touches = (await fakes.openai.requests<{ messages?: { content?: string }[] }>(up("flappy"))).filter(
          (r) => r.body?.messages?.[0]?.content === `call ${n}`,
        ).length;
        rows.push({ n, open, model, touches });
        if (model === "flappy" && sentAt >= healsAt) {
          servedAt = Date.now();
          break;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, sentAt + EVERY_MS - Date.now())));
      }
      const detail = JSON.stringify(rows);
      expect(servedAt, detail).toBeGreaterThan(0);
      expect(servedAt - healsAt, detail).toBeLessThan(10_000);
      // Some calls were made while the breaker was open, and none of them touched the dead primary more than once.
      const whileOpen = rows.filter((r) => r.open);
      expect(whileOpen.length, detail).toBeGreaterThan(3);
      expect(Math.max(...whileOpen.map((r) => r.touches)), detail).toBeLessThanOrEqual(1);
      const model = await api<{ status: string }>("GET", "/api/v1/models/flappy", { token: tenant.userKey });
      expect(model.body.status).toBe("available");
      // The object's probes (one-token calls) found it down, then healed.
      const checks = await api<{ checks: { source: string; ok: boolean }[] }>("GET", "/api/v1/models/flappy/checks", { token: tenant.userKey });
      expect(checks.body.checks.filter((c) => c.source === "scheduled" && !c.ok).length).toBeGreaterThan(1);
    },
    DOWN_MS + 40_000,
  );

  it("silence before the first token is rescued by the fallback, streamed (SDK and MCP) and not", async () => {
    await register("silent", { first_token_timeout: 0.5, timeout: 1 }, ["backup"]);
    await fakes.openai.script(up("silent"), [{ kind: "no_first_token" }, { kind: "no_first_token" }, { kind: "hang" }]);

    const streamed = await askStreamed("silent", "rescue the stream");
    expect(streamed).toMatchObject({ text: "echo: rescue the stream", finish: "stop", error: undefined });
    expect(streamed.chunks.find((c) => c.choices[0]?.finish_reason)).toMatchObject({ model: "backup", fallback: { requested: "silent" } });

    const viaMcp = structured<{ text: string; model_id: string; fallback: Fallback }>(
      await mcp.callTool("chat", { model_id: "silent", messages: [{ role: "user", content: "rescue mcp" }] }, () => {}),
    );
    expect(viaMcp).toMatchObject({ text: "echo: rescue mcp", model_id: "backup" });
    expect(viaMcp.fallback.attempts[0]!.error).toMatch(/first_token_timeout/);

    const whole = await ask("silent", "rescue the whole answer");
    expect(whole).toMatchObject({ model: "backup", choices: [{ message: { content: "echo: rescue the whole answer" } }] });
    // One attempt each: a silent upstream is not retried when a fallback can answer.
    expect(await fakes.openai.requests(up("silent"))).toHaveLength(3);
  });

  it("context length exceeded goes to the fallback; a content filter refusal is final", async () => {
    await register("short", {}, ["backup"]);
    await fakes.openai.script(up("short"), [{ kind: "context_length" }, { kind: "context_length" }]);
    const whole = await ask("short", "a long prompt");
    expect(whole.model).toBe("backup");
    expect(whole.fallback?.attempts[0]?.error).toMatch(/maximum context length/);
    expect(await askStreamed("short", "a long stream")).toMatchObject({ text: "echo: a long stream", error: undefined });

    await register("strict", {}, ["backup"]);
    await fakes.openai.script(up("strict"), [{ kind: "content_filter" }, { kind: "content_filter" }]);
    const before = (await fakes.openai.requests(up("backup"))).length;
    await expect(ask("strict", "something bad")).rejects.toMatchObject({ status: 400, error: { type: "content_filtered" } });
    await expect(askStreamed("strict", "something bad, streamed")).rejects.toMatchObject({ status: 400 });
    expect(await fakes.openai.requests(up("backup"))).toHaveLength(before);
    expect(await fakes.openai.requests(up("strict"))).toHaveLength(2);
  });

  it("a malformed event is skipped, and a cut stream is never presented as complete", async () => {
    await register("noisy", { max_retries: 0 }, ["backup"]);
    await fakes.openai.script(up("noisy"), [{ kind: "malformed_event", afterChunks: 1 }]);
    expect(await askStreamed("noisy", "one two three")).toMatchObject({ text: "echo: one two three", finish: "stop", error: undefined });

    await fakes.openai.script(up("noisy"), [
      { kind: "break_stream", afterChunks: 2 },
      { kind: "break_stream", afterChunks: 2 },
    ]);
    const cut = await askStreamed("noisy", "a b c d");
    expect(cut.text).toBe("echo: a ");
    expect(cut.finish).toBeUndefined();
    expect(String(cut.error)).toMatch(/broke off/);
    const viaMcp = structured<{ text: string; finish_reason: string; error?: string; model_id: string }>(
      await mcp.callTool("chat", { model_id: "noisy", messages: [{ role: "user", content: "a b c d" }] }, () => {}),
    );
    expect(viaMcp).toMatchObject({ text: "echo: a ", finish_reason: "error", model_id: "noisy", error: expect.stringMatching(/broke off/) });
  });

  it("a cut stream is continued by a fallback that takes a prefill (SDK and MCP); one that refuses it leaves the break's error", async () => {
    await register("continues", { max_retries: 0 }, undefined, ["tools", "prefill"]);
    await register("cut", { max_retries: 0 }, ["continues"]);
    await fakes.openai.script(up("cut"), [
      { kind: "break_stream", afterChunks: 2 },
      { kind: "stall", afterChunks: 2 },
    ]);
    const rescued = await askStreamed("cut", "a b c d");
    expect(rescued).toMatchObject({ text: "echo: a b c d", finish: "stop", error: undefined });
    expect(rescued.chunks.at(-1)?.fallback ?? rescued.chunks.find((c) => c.fallback)?.fallback).toMatchObject({
      requested: "cut",
      rescued: "prefill",
    });
    // A stall after text (stall_timeout) is a break too, and MCP gets the whole answer.
    await api("PATCH", "/api/v1/models/cut", { token: tenant.adminKey, body: { config: { stall_timeout: 0.5 } } });
    const viaMcp = structured<{ text: string; finish_reason: string; model_id: string; fallback: Fallback }>(
      await mcp.callTool("chat", { model_id: "cut", messages: [{ role: "user", content: "a b c d" }] }, () => {}),
    );
    expect(viaMcp).toMatchObject({ text: "echo: a b c d", finish_reason: "stop", model_id: "continues", fallback: { rescued: "prefill" } });

    await register("refuses", { max_retries: 0 }, undefined, ["tools", "prefill"]);
    await register("cut-again", { max_retries: 0 }, ["refuses"]);
    await fakes.openai.control("quirks", { model: up("refuses"), prefill: "refuse" });
    await fakes.openai.script(up("cut-again"), [{ kind: "break_stream", afterChunks: 2 }]);
    const lost = await askStreamed("cut-again", "a b c d");
    expect(lost.text).toBe("echo: a ");
    expect(lost.finish).toBeUndefined();
    expect(String(lost.error)).toMatch(/broke off/);
    expect(String(lost.error)).not.toMatch(/prefill/);
    expect(await fakes.openai.requests(up("refuses"))).toHaveLength(1);
  });
});
