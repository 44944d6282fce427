/**
 * End to end, one block per upstream wire format: `wrangler dev` runs the
 * gateway, the fake upstreams of the globalSetup stand in for an Ollama server
 * (native NDJSON API), Hugging Face (router chat + hf-inference tasks) and an
 * OpenAI-compatible server, and both real MCP client generations call
 * chat / complete / embed / classify on a model of each backend type.
 *
 * Every answer is checked against what the fake sends (exact text, finish
 * reason, usage, vectors, scores), and against what the fake received (path,
 * streaming flag, the resolved secret), so a call that went to the wrong wire
 * format or lost a field fails. One fault per wire format runs end to end, then
 * an Ollama health check (GET /api/tags through the gateway), and the last block
 * checks that the canary Worker secret never reached a caller or wrangler dev's logs.
 *
 * The fakes are shared with the other e2e files: every upstream model name here
 * carries "e2e-backends" and a run number, so scripts and records do not mix.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { FakeUpstream, UpstreamRequest } from "../support/fake-control-client";
import { fakeVector3, fakeVector8 } from "../support/fake-vectors.js";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import {
  type Connect,
  connectLegacy,
  connectModern,
  type Embeddings,
  expectNotInLogs,
  fakes,
  gatewayFor,
  type Generation,
  type McpSession,
  type Progress,
  ResponseRecorder,
  structured,
  type Tenant,
  textOf,
  type ToolResult,
} from "./helpers";

const CANARY = `sk-canary-e2e-${crypto.randomUUID().replace(/-/g, "")}`;
const openaiUrl = inject("openaiUrl");
const ollamaUrl = inject("ollamaUrl");
const hfUrl = inject("hfUrl");

/**
 * Upstream model names, unique to this file and run (the fakes keep their records for
 * the whole vitest process, watch re-runs included). Digits only in the suffix: the
 * fake Hugging Face and the default capabilities read meaning into letters ("e5", "sst").
 */
const RUN = String(Date.now() % 1e8);
const UP = {
  ollamaChat: `e2e-backends-llm-${RUN}`,
  ollamaEmbed: `e2e-backends-embed-${RUN}`,
  ollamaGhost: `e2e-backends-ghost-${RUN}`, // never pulled
  hfChat: `e2e-backends/chat-llm-${RUN}`, // router chat; hf-inference OpenAI-style completions for complete
  hfEmbed: `sentence-transformers/MiniLM-e2e-backends-${RUN}`,
  hfSentiment: `distilbert/sst-e2e-backends-${RUN}`,
  hfZeroShot: `facebook/bart-large-mnli-e2e-backends-${RUN}`,
  hfLoading: `sentence-transformers/MiniLM-e2e-backends-loading-${RUN}`,
  openaiChat: `gpt-e2e-backends-${RUN}`,
  openaiEmbed: `e2e-backends-embed-${RUN}`,
  openaiLimited: `gpt-e2e-backends-limited-${RUN}`,
};

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

type Received = UpstreamRequest<Record<string, unknown> | undefined>;

/** The requests whose body mentions `marker` (each test sends a text of its own). */
async function receivedWith(fake: FakeUpstream, model: string, marker: string): Promise<Received[]> {
  return (await fake.requests<Received["body"]>(model)).filter((r) => JSON.stringify(r.body ?? {}).includes(marker));
}

let dev: WranglerDev;
const recorder = new ResponseRecorder();
let tenant: Tenant;
const { createTenant, registerModel } = gatewayFor(recorder, () => dev);

function model(id: string, backend_type: string, config: Record<string, unknown>, capabilities?: string[]) {
  return { id, name: `${backend_type} ${id}`, backend_type, config: { timeout: 10, ...config }, ...(capabilities && { capabilities }) };
}

/** The Access client id on this file's Ollama models: picks out their /api/tags calls, which name no model. */
const ACCESS_ID = `e2e-backends-${RUN}.access`;
const ollamaConfig = (model_name: string) => ({
  base_url: ollamaUrl,
  model_name,
  headers: { "CF-Access-Client-Id": ACCESS_ID, "CF-Access-Client-Secret": "${UPSTREAM_KEY}" },
  max_retries: 2,
});
const hfConfig = (model_name: string, extra: Record<string, unknown> = {}) => ({
  model_name,
  api_key: "${UPSTREAM_KEY}",
  base_url: hfUrl,
  max_retries: 0,
  ...extra,
});
const openaiConfig = (model_name: string, max_retries = 1) => ({
  base_url: `${openaiUrl}/v1`,
  model_name,
  api_key: "${UPSTREAM_KEY}",
  max_retries,
});

const MODELS = [
  model("ollama-chat", "ollama", ollamaConfig(UP.ollamaChat)),
  model("ollama-embed", "ollama", ollamaConfig(UP.ollamaEmbed)),
  model("ollama-ghost", "ollama", ollamaConfig(UP.ollamaGhost)),
  model("hf-chat", "huggingface", hfConfig(UP.hfChat)),
  model("hf-embed", "huggingface", hfConfig(UP.hfEmbed)),
  model("hf-sentiment", "huggingface", hfConfig(UP.hfSentiment)),
  model("hf-zero-shot", "huggingface", hfConfig(UP.hfZeroShot)),
  model("hf-loading", "huggingface", hfConfig(UP.hfLoading, { max_retries: 3 })),
  model("openai-chat", "openai_compatible", openaiConfig(UP.openaiChat)),
  model("openai-embed", "openai_compatible", openaiConfig(UP.openaiEmbed)),
  model("openai-limited", "openai_compatible", openaiConfig(UP.openaiLimited)),
];

beforeAll(async () => {
  // The Ollama models must be pulled (listed by /api/tags) before the gateway calls them; the ghost must not be.
  await fakes.ollama.control("pull", { model: UP.ollamaChat });
  await fakes.ollama.control("pull", { model: UP.ollamaEmbed });
  const tags = (await (await fetch(`${ollamaUrl}/api/tags`)).json()) as { models: { name: string }[] };
  const pulled = tags.models.map((m) => m.name);
  expect(pulled).toEqual(expect.arrayContaining([`${UP.ollamaChat}:latest`, `${UP.ollamaEmbed}:latest`]));
  expect(pulled).not.toContain(`${UP.ollamaGhost}:latest`);

  dev = await startWranglerDev({ upstreamKey: CANARY });
  tenant = await createTenant({ id: "wires", name: "Wire formats", grantCanary: true });
  for (const body of MODELS) await registerModel(tenant, body);
});

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

/** A successful generation's structured content, after checking the text block says the same. */
function generation(result: ToolResult): Generation {
  expect(result.isError, textOf(result)).toBeFalsy();
  const out = structured<Generation>(result);
  expect(textOf(result)).toBe(out.text);
  expect(out.latency_ms).toBeGreaterThanOrEqual(0);
  return out;
}

/** Call a tool with a progressToken; returns the result and the progress messages in order. */
async function streamed(session: McpSession, tool: string, args: Record<string, unknown>) {
  const progress: Progress[] = [];
  const result = await session.callTool(tool, args, (p) => progress.push(p));
  const values = progress.map((p) => p.progress);
  expect(values).toEqual([...values].sort((a, b) => a - b));
  expect(new Set(values).size).toBe(values.length);
  return { result, pieces: progress.map((p) => p.message ?? "") };
}

const chatArgs = (model_id: string, content: string, extra: Record<string, unknown> = {}) => ({
  model_id,
  messages: [{ role: "user", content }],
  ...extra,
});

const clients: [string, Connect][] = [
  ["2026-07-28 client (@modelcontextprotocol/client)", connectModern],
  ["2025-era client (@modelcontextprotocol/sdk)", connectLegacy],
];

describe.each(clients)("%s", (_label, connect) => {
  let session: McpSession;
  let tag: string;

  beforeAll(async () => {
    session = await connect(dev.url, tenant.userKey, recorder);
    tag = session.label;
  });
  afterAll(async () => {
    await session?.close();
  });

  it("list_models shows one model per wire format with its capabilities", async () => {
    const result = await session.callTool("list_models", {});
    const models = structured<{ models: { id: string; backend_type: string; capabilities: string[] }[] }>(result).models;
    const byId = Object.fromEntries(models.map((m) => [m.id, m]));
    expect(byId["ollama-chat"]).toMatchObject({ backend_type: "ollama", capabilities: ["chat", "completion"] });
    expect(byId["ollama-embed"]).toMatchObject({ backend_type: "ollama", capabilities: ["embedding"] });
    expect(byId["hf-chat"]).toMatchObject({ backend_type: "huggingface", capabilities: ["chat", "completion"] });
    expect(byId["hf-embed"]).toMatchObject({ backend_type: "huggingface", capabilities: ["embedding"] });
    expect(byId["hf-sentiment"]).toMatchObject({ backend_type: "huggingface", capabilities: ["classification"] });
    expect(byId["openai-chat"]).toMatchObject({ backend_type: "openai_compatible", capabilities: ["chat", "completion"] });
    expect(byId["openai-embed"]).toMatchObject({ backend_type: "openai_compatible", capabilities: ["embedding"] });
  });

  describe("ollama (native API, NDJSON streams)", () => {
    it("chat: POST /api/chat with stream:false and the Access headers; Ollama's reply, counts and done_reason", async () => {
      const message = `hello ollama from ${tag}`;
      const out = generation(await session.callTool("chat", chatArgs("ollama-chat", message)));
      expect(out).toMatchObject({
        text: `ollama: ${message}`,
        finish_reason: "stop",
        usage: { prompt_tokens: words(message), completion_tokens: words(message) + 1 },
        model_id: "ollama-chat",
      });
      const sent = await receivedWith(fakes.ollama, UP.ollamaChat, message);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ method: "POST", path: "/api/chat" });
      expect(sent[0]!.body).toEqual({ model: UP.ollamaChat, messages: [{ role: "user", content: message }], stream: false });
      expect(sent[0]!.headers["cf-access-client-id"]).toBe(ACCESS_ID);
      expect(sent[0]!.headers["cf-access-client-secret"]).toBe(CANARY);
    });

    it("chat: max_tokens becomes options.num_predict and a cut answer says length", async () => {
      const message = `one two three four ${tag}`;
      const out = generation(await session.callTool("chat", chatArgs("ollama-chat", message, { max_tokens: 3 })));
      expect(out).toMatchObject({ text: "ollama: one two", finish_reason: "length", usage: { completion_tokens: 3 }, model_id: "ollama-chat" });
      const [sent] = await receivedWith(fakes.ollama, UP.ollamaChat, message);
      expect(sent!.body).toMatchObject({ stream: false, options: { num_predict: 3 } });
    });

    it("chat with a progressToken relays each NDJSON line as a progress notification", async () => {
      const message = `stream ollama ${tag}`;
      const { result, pieces } = await streamed(session, "chat", chatArgs("ollama-chat", message));
      expect(pieces).toEqual(["ollama: ", "stream ", "ollama ", tag]);
      expect(generation(result)).toMatchObject({ text: `ollama: ${message}`, finish_reason: "stop", model_id: "ollama-chat" });
      const sent = await receivedWith(fakes.ollama, UP.ollamaChat, message);
      expect(sent.map((r) => `${r.path} stream=${String(r.body?.stream)}`)).toEqual(["/api/chat stream=true"]);
    });

    it("complete: POST /api/generate; streamed too", async () => {
      const prompt = `Once upon a time on ollama ${tag}`;
      const out = generation(await session.callTool("complete", { model_id: "ollama-chat", prompt }));
      expect(out).toMatchObject({ text: `${prompt} …continued`, finish_reason: "stop", model_id: "ollama-chat" });
      const { result, pieces } = await streamed(session, "complete", { model_id: "ollama-chat", prompt: `again ${tag}` });
      expect(pieces).toEqual(["again ", `${tag} `, "…continued"]);
      expect(generation(result)).toMatchObject({ text: `again ${tag} …continued`, finish_reason: "stop" });
      const paths = (await receivedWith(fakes.ollama, UP.ollamaChat, tag)).filter((r) => r.path === "/api/generate");
      expect(paths.map((r) => r.body?.stream)).toEqual([false, true]);
    });

    it("embed: POST /api/embed, one vector per input", async () => {
      const inputs = [`alpha ${tag}`, "beta", `alpha ${tag}`];
      const out = structured<Embeddings>(await session.callTool("embed", { model_id: "ollama-embed", input: inputs }));
      expect(out).toEqual({
        embeddings: inputs.map(fakeVector8),
        dimensions: 8,
        count: 3,
        model_id: "ollama-embed",
        latency_ms: expect.any(Number),
        usage: { prompt_tokens: expect.any(Number) }, // the upstream's own count, passed through
      });
      const [sent] = await receivedWith(fakes.ollama, UP.ollamaEmbed, `alpha ${tag}`);
      expect(sent).toMatchObject({ path: "/api/embed", body: { model: UP.ollamaEmbed, input: inputs } });
    });
  });

  describe("huggingface (router chat, hf-inference tasks)", () => {
    it("chat goes to the router's /v1/chat/completions with the granted token", async () => {
      const message = `hello hugging face from ${tag}`;
      const out = generation(await session.callTool("chat", chatArgs("hf-chat", message, { temperature: 0.4 })));
      expect(out).toMatchObject({
        text: `echo: ${message}`,
        finish_reason: "stop",
        usage: { completion_tokens: words(message) + 1 },
        model_id: "hf-chat",
      });
      const sent = await receivedWith(fakes.hf, UP.hfChat, message);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
      expect(sent[0]!.body).toEqual({ model: UP.hfChat, messages: [{ role: "user", content: message }], temperature: 0.4 });
      expect(sent[0]!.headers.authorization).toBe(`Bearer ${CANARY}`);
    });

    it("chat cut by max_tokens says length; streamed chat relays the router's SSE chunks", async () => {
      const cut = generation(await session.callTool("chat", chatArgs("hf-chat", `a b c d ${tag}`, { max_tokens: 2 })));
      expect(cut).toMatchObject({ text: "echo: a ", finish_reason: "length", model_id: "hf-chat" });

      const message = `stream hf ${tag}`;
      const { result, pieces } = await streamed(session, "chat", chatArgs("hf-chat", message));
      expect(pieces).toEqual(["echo: ", "stream ", "hf ", tag]);
      expect(generation(result)).toMatchObject({ text: `echo: ${message}`, finish_reason: "stop", usage: { completion_tokens: 4 } });
      expect((await receivedWith(fakes.hf, UP.hfChat, message))[0]!.body).toMatchObject({ stream: true });
    });

    it("complete uses hf-inference completions at <model>/v1/completions: JSON, cut by max_tokens, and streamed", async () => {
      const prompt = `Once upon a time on hugging face ${tag}`;
      const full = generation(await session.callTool("complete", { model_id: "hf-chat", prompt }));
      expect(full).toMatchObject({
        text: "and they lived happily ever after",
        finish_reason: "stop",
        usage: { completion_tokens: 6 },
        model_id: "hf-chat",
      });
      const cut = generation(await session.callTool("complete", { model_id: "hf-chat", prompt, max_tokens: 3 }));
      expect(cut).toMatchObject({ text: "and they lived", finish_reason: "length", usage: { completion_tokens: 3 } });
      const { result, pieces } = await streamed(session, "complete", { model_id: "hf-chat", prompt });
      expect(pieces).toEqual(["and", " they", " lived", " happily", " ever", " after"]);
      expect(generation(result)).toMatchObject({ text: "and they lived happily ever after", finish_reason: "stop" });

      const sent = await receivedWith(fakes.hf, UP.hfChat, prompt);
      expect(sent.map((r) => r.path)).toEqual(Array(3).fill(`/hf-inference/models/${UP.hfChat}/v1/completions`));
      expect(sent[0]!.body).toEqual({ model: UP.hfChat, prompt });
      expect(sent[1]!.body).toMatchObject({ max_tokens: 3 });
      expect(sent[2]!.body).toMatchObject({ stream: true });
      expect(sent[2]!.headers.authorization).toBe(`Bearer ${CANARY}`);
    });

    it("embed uses the feature-extraction pipeline, one vector per input", async () => {
      const inputs = [`ab cde ${tag}`, "x"];
      const out = structured<Embeddings>(await session.callTool("embed", { model_id: "hf-embed", input: inputs }));
      expect(out).toEqual({
        embeddings: inputs.map(fakeVector3),
        dimensions: 3,
        count: inputs.length,
        model_id: "hf-embed",
        latency_ms: expect.any(Number),
      });
      const single = structured<Embeddings>(await session.callTool("embed", { model_id: "hf-embed", input: tag }));
      expect(single.embeddings).toEqual([fakeVector3(tag)]);
      const sent = await receivedWith(fakes.hf, UP.hfEmbed, tag);
      expect(sent.map((r) => [r.path, r.body])).toEqual([
        [`/hf-inference/models/${UP.hfEmbed}/pipeline/feature-extraction`, { inputs }],
        [`/hf-inference/models/${UP.hfEmbed}/pipeline/feature-extraction`, { inputs: [tag] }],
      ]);
    });

    it("classify: text-classification, highest score first (the fake answers lowest first)", async () => {
      const text = `I love it (${tag})`;
      const result = await session.callTool("classify", { model_id: "hf-sentiment", text });
      expect(result.isError, textOf(result)).toBeFalsy();
      const out = structured<{ labels: { label: string; score: number }[]; model_id: string }>(result);
      expect(out.model_id).toBe("hf-sentiment");
      expect(out.labels.map((l) => l.label)).toEqual(["POSITIVE", "NEGATIVE"]);
      expect(out.labels[0]!.score).toBe(0.95);
      expect(out.labels[1]!.score).toBeCloseTo(0.05, 10);
      expect(textOf(result)).toBe("POSITIVE: 0.9500\nNEGATIVE: 0.0500");
      expect((await receivedWith(fakes.hf, UP.hfSentiment, text))[0]!.body).toEqual({ inputs: text });
    });

    it("classify with labels: zero-shot-classification with candidate_labels", async () => {
      const labels = ["politics", "football", "cooking"];
      const text = `great football match for ${tag}`;
      const result = await session.callTool("classify", { model_id: "hf-zero-shot", text, labels });
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(result.structuredContent).toMatchObject({
        labels: [
          { label: "football", score: 7 / 11 },
          { label: "cooking", score: 3 / 11 },
          { label: "politics", score: 1 / 11 },
        ],
        model_id: "hf-zero-shot",
      });
      expect((await receivedWith(fakes.hf, UP.hfZeroShot, text))[0]!.body).toEqual({ inputs: text, parameters: { candidate_labels: labels } });
    });
  });

  describe("openai_compatible", () => {
    it("chat: POST /v1/chat/completions with the resolved key", async () => {
      const message = `hello openai from ${tag}`;
      const out = generation(await session.callTool("chat", chatArgs("openai-chat", message, { stop: "END" })));
      expect(out).toMatchObject({
        text: `echo: ${message}`,
        finish_reason: "stop",
        usage: { completion_tokens: words(message) + 1 },
        model_id: "openai-chat",
      });
      const sent = await receivedWith(fakes.openai, UP.openaiChat, message);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
      expect(sent[0]!.body).toEqual({ model: UP.openaiChat, messages: [{ role: "user", content: message }], stop: ["END"] });
      expect(sent[0]!.headers.authorization).toBe(`Bearer ${CANARY}`);
    });

    it("chat cut by max_tokens says length; streamed chat relays the SSE deltas", async () => {
      const cut = generation(await session.callTool("chat", chatArgs("openai-chat", `a b c d ${tag}`, { max_tokens: 2 })));
      expect(cut).toMatchObject({ text: "echo: a", finish_reason: "length", model_id: "openai-chat" });

      const message = `stream openai ${tag}`;
      const { result, pieces } = await streamed(session, "chat", chatArgs("openai-chat", message));
      expect(pieces).toEqual(["echo: ", "stream ", "openai ", tag]);
      expect(generation(result)).toMatchObject({ text: `echo: ${message}`, finish_reason: "stop", usage: { completion_tokens: 4 } });
      const [sent] = await receivedWith(fakes.openai, UP.openaiChat, message);
      expect(sent!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    });

    it("complete: POST /v1/completions, plain and streamed", async () => {
      const prompt = `Once upon a time on openai ${tag}`;
      const out = generation(await session.callTool("complete", { model_id: "openai-chat", prompt }));
      expect(out).toMatchObject({ text: `${prompt} …continued`, finish_reason: "stop", model_id: "openai-chat" });
      const { result, pieces } = await streamed(session, "complete", { model_id: "openai-chat", prompt: `more ${tag}` });
      expect(pieces).toEqual(["more ", `${tag} `, "…continued"]);
      expect(generation(result)).toMatchObject({ text: `more ${tag} …continued`, finish_reason: "stop" });
      const sent = (await receivedWith(fakes.openai, UP.openaiChat, tag)).filter((r) => r.path === "/v1/completions");
      expect(sent.map((r) => r.body?.stream)).toEqual([undefined, true]);
    });

    it("embed: POST /v1/embeddings, vectors in input order", async () => {
      const inputs = [`alpha ${tag}`, "beta"];
      const out = structured<Embeddings>(await session.callTool("embed", { model_id: "openai-embed", input: inputs }));
      expect(out).toEqual({
        embeddings: inputs.map(fakeVector8),
        dimensions: 8,
        count: 2,
        model_id: "openai-embed",
        latency_ms: expect.any(Number),
        usage: { prompt_tokens: expect.any(Number) }, // the upstream's own count, passed through
      });
      const [sent] = await receivedWith(fakes.openai, UP.openaiEmbed, `alpha ${tag}`);
      expect(sent).toMatchObject({ path: "/v1/embeddings", body: { model: UP.openaiEmbed, input: inputs } });
    });
  });

  it("a capability a backend's model lacks is refused before any upstream call", async () => {
    const before = (await fakes.hf.requests(UP.hfSentiment)).length;
    const result = await session.callTool("chat", chatArgs("hf-sentiment", "hi"));
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Model "hf-sentiment" does not support chat; it supports classification\./);
    expect((await fakes.hf.requests(UP.hfSentiment)).length).toBe(before);
  });
});

describe("one fault per wire format, end to end", () => {
  let session: McpSession;
  beforeAll(async () => {
    session = await connectModern(dev.url, tenant.userKey, recorder);
  });
  afterAll(async () => {
    await session?.close();
  });

  it("ollama: a model that is not pulled is a tool error naming `ollama pull`, not retried", async () => {
    const result = await session.callTool("chat", chatArgs("ollama-ghost", "are you there?"));
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ error: { code: "model_unavailable" } });
    const text = textOf(result);
    expect(text).toMatch(new RegExp(`^Ollama at 127\\.0\\.0\\.1:\\d+: model ${UP.ollamaGhost} is not pulled on the Ollama server; `));
    expect(text).toContain(`run \`ollama pull ${UP.ollamaGhost}\``);
    expect(text).toMatch(/\[model_unavailable\]$/);
    // A 404 from Ollama is not retried (the model has max_retries 2).
    expect(await fakes.ollama.requests(UP.ollamaGhost)).toHaveLength(1);
  });

  it("huggingface: a 503 'model loading' is a clear retryable message with the estimate, passed on at once", async () => {
    const probed = (await fakes.hf.requests(UP.hfLoading)).length; // the embedding probe at registration
    await fakes.hf.script(UP.hfLoading, [{ kind: "loading", estimatedTime: 119.2 }]);
    const started = performance.now();
    const result = await session.callTool("embed", { model_id: "hf-loading", input: "warm up" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(`Hugging Face model ${UP.hfLoading} is loading (about 120 s); retry after 120 s [model_unavailable]`);
    // 120 s is beyond the gateway's wait cap: not waited out (max_retries is 3), the caller decides.
    expect(await fakes.hf.requests(UP.hfLoading)).toHaveLength(probed + 1);
    expect(performance.now() - started).toBeLessThan(5_000);

    // Once loaded, the same model answers.
    const ready = await session.callTool("embed", { model_id: "hf-loading", input: "warm up" });
    expect(structured<Embeddings>(ready).embeddings).toEqual([fakeVector3("warm up")]);
  });

  it("openai_compatible: a 429 with Retry-After is waited out, then the retry answers", async () => {
    await fakes.openai.script(UP.openaiLimited, [{ kind: "status", status: 429, retryAfter: "1" }]);
    const started = performance.now();
    const out = generation(await session.callTool("chat", chatArgs("openai-limited", "after the limit")));
    const elapsed = performance.now() - started;
    expect(out).toMatchObject({ text: "echo: after the limit", finish_reason: "stop", model_id: "openai-limited" });
    expect(elapsed).toBeGreaterThanOrEqual(950);
    const sent = await receivedWith(fakes.openai, UP.openaiLimited, "after the limit");
    expect(sent).toHaveLength(2);
  });

  it("openai_compatible: a Retry-After beyond the wait cap is passed on to the caller instead", async () => {
    await fakes.openai.script(UP.openaiLimited, [{ kind: "status", status: 429, retryAfter: "45" }]);
    const started = performance.now();
    const result = await session.callTool("chat", chatArgs("openai-limited", "too soon"));
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Rate limited by OpenAI-compatible upstream 127\.0\.0\.1:\d+, retry after 45 s: scripted 429 \[rate_limited\]$/);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await receivedWith(fakes.openai, UP.openaiLimited, "too soon")).toHaveLength(1);
  });
});

describe("ollama health through the gateway (GET /api/tags, no tokens spent)", () => {
  let session: McpSession;
  beforeAll(async () => {
    session = await connectModern(dev.url, tenant.userKey, recorder);
  });
  afterAll(async () => {
    await session?.close();
  });

  /** The /api/tags calls this file's models made, with the headers they carried. */
  async function tagCalls(): Promise<Received[]> {
    const requests = await fakes.ollama.requests({ instance: "" });
    return requests.filter((r) => r.path === "/api/tags" && r.headers["cf-access-client-id"] === ACCESS_ID);
  }

  it("check_health finds a pulled model in the tags list, and says to pull a missing one", async () => {
    const before = (await tagCalls()).length;
    const pulled = await session.callTool("check_health", { model_id: "ollama-chat" });
    expect(pulled.isError, textOf(pulled)).toBeFalsy();
    expect(structured<{ checks: unknown[] }>(pulled).checks).toEqual([
      expect.objectContaining({ model_id: "ollama-chat", ok: true, status: "available", detail: null }),
    ]);

    const missing = await session.callTool("check_health", { model_id: "ollama-ghost" });
    const [check] = structured<{ checks: { model_id: string; ok: boolean; detail: string | null }[] }>(missing).checks;
    expect(check).toMatchObject({ model_id: "ollama-ghost", ok: false });
    expect(check!.detail).toContain(`model ${UP.ollamaGhost} is not pulled on the Ollama server; run \`ollama pull ${UP.ollamaGhost}\``);

    // The ghost's real chat failed earlier in this file, so its check is a one-token chat (the capability that
    // failed), not the tags list: only the pulled model's check read /api/tags.
    const calls = (await tagCalls()).slice(before);
    expect(calls.map((c) => c.method)).toEqual(["GET"]);
    expect(calls.every((c) => c.headers["cf-access-client-secret"] === CANARY)).toBe(true);
    const ghostProbe = (await fakes.ollama.requests(UP.ollamaGhost)).at(-1);
    expect(ghostProbe).toMatchObject({ method: "POST", path: "/api/chat" });
  });
});

describe("secrets", () => {
  it("every upstream received the canary, and no response or wrangler dev log contains it", async () => {
    // The secret was really in play on all three wire formats.
    const ollama = await fakes.ollama.requests(UP.ollamaChat);
    const hf = await fakes.hf.requests(UP.hfChat);
    const openai = await fakes.openai.requests(UP.openaiChat);
    expect(ollama.length).toBeGreaterThan(5);
    expect(ollama.every((r) => r.headers["cf-access-client-secret"] === CANARY)).toBe(true);
    expect(hf.length).toBeGreaterThan(5);
    expect(hf.every((r) => r.headers.authorization === `Bearer ${CANARY}`)).toBe(true);
    expect(openai.length).toBeGreaterThan(5);
    expect(openai.every((r) => r.headers.authorization === `Bearer ${CANARY}`)).toBe(true);

    await new Promise((r) => setTimeout(r, 200)); // let recorded streams finish draining
    const bodies = recorder.text();
    expect(recorder.count).toBeGreaterThan(50);
    expect(bodies).toContain("ollama: hello ollama from modern");
    expect(bodies).toContain("and they lived happily ever after");
    expect(bodies).not.toContain(CANARY);

    expect(dev.logs()).toMatch(/POST \/mcp 200/);
    await expectNotInLogs(dev, [CANARY]);
  });
});
