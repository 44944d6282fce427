/**
 * The `huggingface` backend against the fake Hugging Face (tests/support/fake-hf.ts):
 * through MCP tools like a client would, and through the factory where the
 * backend's own answer (sorting, retryAfter, health) is the point.
 */
import { describe, expect, inject, it } from "vitest";
import { huggingface } from "../../src/backends/huggingface";
import { GatewayError } from "../../src/errors";
import { api, callTool, CANARY, createTenant, fakes, registerModel } from "./helpers";

let counter = 0;
/** A fresh model name; digits only after the prefix, so the name heuristics see just the prefix. */
const fresh = (prefix: string) => `${prefix}-${Date.now()}${++counter}`;

const script = (model: string, steps: unknown[]) => fakes.hf.script(model, steps);
const requests = (model: string) => fakes.hf.requests(model);

function hfModel(id: string, modelName: string, config: Record<string, unknown> = {}) {
  return {
    id,
    name: `HF ${id}`,
    backend_type: "huggingface",
    config: { model_name: modelName, api_key: "${UPSTREAM_KEY}", base_url: inject("hfUrl"), timeout: 5, ...config },
  };
}

/** A tenant with one Hugging Face model "m" on the fake. */
async function setup(modelName: string, config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  await registerModel(tenant, hfModel("m", modelName, config));
  const tool = (name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) =>
    callTool(tenant.userKey, name, { model_id: "m", ...args }, meta);
  return { tenant, tool };
}

/** The factory on its own, with a literal token (no registry, no secret resolution). */
function direct(config: Record<string, unknown>) {
  const parsed = huggingface.configSchema.parse({ api_key: "hf_direct", base_url: inject("hfUrl"), timeout: 5, ...config });
  return huggingface.create(parsed, { fetch: (input, init) => fetch(input, init) });
}

const progressText = (messages: Record<string, unknown>[]) =>
  messages.filter((m) => m.method === "notifications/progress").map((m) => (m.params as { message: string }).message);

describe("huggingface backend: router chat", () => {
  it("sends <model>:<provider> to the router with the granted token and returns the reply", async () => {
    const name = fresh("acme/chat");
    const { tool } = await setup(name, { provider: "together" });
    const res = await tool("chat", { messages: [{ role: "user", content: "hello there" }], max_tokens: 50, temperature: 0.3 });
    expect(res.tool.structuredContent).toMatchObject({
      text: "echo: hello there",
      finish_reason: "stop",
      model_id: "m",
      usage: { completion_tokens: 3 },
    });
    const [sent, ...more] = await requests(name);
    expect(more).toEqual([]);
    expect(sent!.path).toBe("/v1/chat/completions");
    expect(sent!.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(sent!.headers["x-wait-for-model"]).toBeUndefined();
    expect(sent!.body).toEqual({
      model: `${name}:together`,
      messages: [{ role: "user", content: "hello there" }],
      max_tokens: 50,
      temperature: 0.3,
    });
    expect(JSON.stringify(res.messages)).not.toContain(CANARY);
  });

  it("sends the bare model name when no provider is set", async () => {
    const name = fresh("acme/auto");
    const { tool } = await setup(name);
    await tool("chat", { messages: [{ role: "user", content: "hi" }] });
    expect((await requests(name))[0]!.body.model).toBe(name);
  });

  it("streams chat as progress notifications with a progressToken", async () => {
    const name = fresh("acme/stream");
    const { tool } = await setup(name, { provider: "novita" });
    const res = await tool("chat", { messages: [{ role: "user", content: "one two three" }] }, { progressToken: "p1" });
    expect(progressText(res.messages)).toEqual(["echo: ", "one ", "two ", "three"]);
    expect(res.tool.structuredContent).toMatchObject({ text: "echo: one two three", finish_reason: "stop" });
    expect((await requests(name))[0]!.body).toMatchObject({ model: `${name}:novita`, stream: true });
  });
});

describe("huggingface backend: complete", () => {
  it("uses hf-inference OpenAI-style completions at <model>/v1/completions when no provider is set", async () => {
    const name = fresh("acme/gen");
    const { tool } = await setup(name);
    const cut = await tool("complete", { prompt: "once upon a time", max_tokens: 3, temperature: 0.5, top_p: 0.9 });
    expect(cut.tool.structuredContent).toMatchObject({ text: "and they lived", finish_reason: "length", usage: { completion_tokens: 3 } });
    const eos = await tool("complete", { prompt: "once", temperature: 0, top_p: 1 });
    expect(eos.tool.structuredContent).toMatchObject({ text: "and they lived happily ever after", finish_reason: "stop" });
    const stopped = await tool("complete", { prompt: "once", stop: "ever" });
    expect(stopped.tool.structuredContent).toMatchObject({ text: "and they lived happily", finish_reason: "stop" });

    const sent = await requests(name);
    expect(sent.map((r) => r.path)).toEqual(Array(3).fill(`/hf-inference/models/${name}/v1/completions`));
    expect(sent[0]!.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(sent[0]!.body).toEqual({ model: name, prompt: "once upon a time", max_tokens: 3, temperature: 0.5, top_p: 0.9 });
    expect(sent[1]!.body).toEqual({ model: name, prompt: "once", temperature: 0, top_p: 1 });
    expect(sent[2]!.body).toMatchObject({ stop: ["ever"] });
  });

  it("streams completions as progress, and maps stop and length", async () => {
    const name = fresh("acme/tgi");
    const { tool } = await setup(name, { provider: "hf-inference" });
    const eos = await tool("complete", { prompt: "once" }, { progressToken: 1 });
    expect(progressText(eos.messages)).toEqual(["and", " they", " lived", " happily", " ever", " after"]);
    expect(eos.tool.structuredContent).toMatchObject({
      text: "and they lived happily ever after",
      finish_reason: "stop",
      usage: { completion_tokens: 6 },
    });
    const cut = await tool("complete", { prompt: "once", max_tokens: 2 }, { progressToken: 2 });
    expect(cut.tool.structuredContent).toMatchObject({ text: "and they", finish_reason: "length" });
    const sent = await requests(name);
    expect(sent[0]!.path).toBe(`/hf-inference/models/${name}/v1/completions`);
    expect(sent[0]!.body).toMatchObject({ model: name, prompt: "once", stream: true });
  });

  it("keeps the partial text when a completion stream breaks, and does not retry it", async () => {
    const name = fresh("acme/broken");
    const { tool } = await setup(name, { max_retries: 2 });
    await script(name, [{ kind: "break_stream", afterChunks: 2 }]);
    const res = await tool("complete", { prompt: "once" }, { progressToken: 3 });
    expect(res.tool.structuredContent).toMatchObject({
      text: "and they",
      finish_reason: "error",
      error: expect.stringMatching(/^Hugging Face router at 127\.0\.0\.1:\d+ (broke off|ended) the stream/),
    });
    expect(await requests(name)).toHaveLength(1);
  });

  it("with another provider, sends the prompt to chat as one user message", async () => {
    const name = fresh("acme/provided");
    const { tool } = await setup(name, { provider: "together" });
    const res = await tool("complete", { prompt: "tell me", max_tokens: 20 });
    expect(res.tool.structuredContent).toMatchObject({ text: "echo: tell me", finish_reason: "stop" });
    const sent = await requests(name);
    expect(sent.map((r) => r.path)).toEqual(["/v1/chat/completions"]);
    expect(sent[0]!.body).toEqual({ model: `${name}:together`, messages: [{ role: "user", content: "tell me" }], max_tokens: 20 });
  });
});

describe("huggingface backend: embed and classify", () => {
  it("embeds a batch (one vector per input) and a single string, through the feature-extraction pipeline", async () => {
    const name = fresh("sentence-transformers/MiniLM");
    const { tool } = await setup(name);
    const batch = await tool("embed", { input: ["ab cde", "x"] });
    expect(batch.tool.structuredContent).toMatchObject({
      embeddings: [
        [6, 2, 97],
        [1, 1, 120],
      ],
      dimensions: 3,
    });
    const single = await tool("embed", { input: "hello" });
    expect(single.tool.structuredContent).toMatchObject({ embeddings: [[5, 1, 104]], dimensions: 3 });
    const sent = (await requests(name)).slice(1); // (the first request was the probe at registration)
    expect(sent.map((r) => r.body)).toEqual([{ inputs: ["ab cde", "x"] }, { inputs: ["hello"] }]);
    // A sentence-transformers model's own pipeline is sentence-similarity, which refuses a list of strings.
    expect(sent[0]!.path).toBe(`/hf-inference/models/${name}/pipeline/feature-extraction`);
    const own = await fetch(`${inject("hfUrl")}/hf-inference/models/${name}`, { method: "POST", body: JSON.stringify({ inputs: ["a"] }) });
    expect(own.status).toBe(422);
  });

  it("mean-pools token-level vectors into one per input", async () => {
    const { tool } = await setup(fresh("sentence-transformers/token-level-MiniLM"));
    const res = await tool("embed", { input: ["ab cde", "x"] });
    // tokens "ab" [2,1,97] and "cde" [3,1,99] average to [2.5,1,98]
    expect(res.tool.structuredContent).toMatchObject({
      embeddings: [
        [2.5, 1, 98],
        [1, 1, 120],
      ],
    });
  });

  it("takes a flat vector for a batch of one, and refuses a count that does not match the inputs", async () => {
    const { tool } = await setup(fresh("BAAI/bge-flat"));
    const one = await tool("embed", { input: ["hello"] });
    expect(one.tool.structuredContent).toMatchObject({ embeddings: [[5, 1, 104]] });
    const two = await tool("embed", { input: ["a", "b"] });
    expect(two.tool.content[0]!.text).toMatch(/^Hugging Face router at 127\.0\.0\.1:\d+ sent 1 embedding\(s\) for 2 input\(s\)\. \[upstream_error\]/);
  });

  it("classifies with text-classification: nested answer flattened, highest first", async () => {
    const name = fresh("distilbert/sst");
    const { tool } = await setup(name);
    const res = await tool("classify", { text: "I love it" });
    expect(res.tool.structuredContent).toMatchObject({
      labels: [
        { label: "POSITIVE", score: 0.95 },
        { label: "NEGATIVE", score: expect.closeTo(0.05) },
      ],
    });
    expect((await requests(name))[0]!.body).toEqual({ inputs: "I love it" });
    // The backend itself sorts (the fake answers NEGATIVE first).
    const backend = direct({ model_name: name });
    expect((await backend.classify!({ text: "I love it" })).labels.map((l) => l.label)).toEqual(["POSITIVE", "NEGATIVE"]);
  });

  it("classifies zero-shot with candidate_labels, in both answer shapes", async () => {
    const labels = ["politics", "football", "cooking"];
    const expected = [
      { label: "football", score: 7 / 11 },
      { label: "cooking", score: 3 / 11 },
      { label: "politics", score: 1 / 11 },
    ];
    for (const name of [fresh("facebook/bart-large-mnli"), fresh("facebook/legacy-mnli")]) {
      const { tool } = await setup(name);
      const res = await tool("classify", { text: "great football match", labels });
      expect(res.tool.structuredContent, name).toMatchObject({ labels: expected });
      expect((await requests(name))[0]!.body).toEqual({ inputs: "great football match", parameters: { candidate_labels: labels } });
      const backend = direct({ model_name: name });
      expect(await backend.classify!({ text: "great football match", labels })).toEqual({ labels: expected });
    }
  });
});

describe("huggingface backend: dedicated Inference Endpoint", () => {
  it("sends chat and completions to {endpoint_url}/v1/…, tasks to {endpoint_url}, never to base_url", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const tgi = fresh("tgi");
    const embedder = fresh("embed");
    // base_url stays the default (router.huggingface.co): the secret is granted for 127.0.0.1 only,
    // so registration passes only because base_url is not among the model's upstream hosts.
    const endpoint = (name: string, modelName: string) =>
      hfModel(name, modelName, { base_url: undefined, endpoint_url: `${inject("hfUrl")}/endpoint/${name}`, provider: "together" });
    await registerModel(tenant, endpoint(tgi, "acme/llama"));
    await registerModel(tenant, endpoint(embedder, "sentence-transformers/all-MiniLM-L6-v2"));

    const chat = await callTool(tenant.userKey, "chat", { model_id: tgi, messages: [{ role: "user", content: "hi" }] });
    expect(chat.tool.structuredContent).toMatchObject({ text: "echo: hi" });
    const done = await callTool(tenant.userKey, "complete", { model_id: tgi, prompt: "once", max_tokens: 1 });
    expect(done.tool.structuredContent).toMatchObject({ text: "and", finish_reason: "length" });
    const vectors = await callTool(tenant.userKey, "embed", { model_id: embedder, input: "hi" });
    expect(vectors.tool.structuredContent).toMatchObject({ embeddings: [[2, 1, 104]] });

    const sent = (await requests(tgi)).slice(1); // (the first request was the probe at registration, GET …/info)
    expect(sent.map((r) => r.path)).toEqual([`/endpoint/${tgi}/v1/chat/completions`, `/endpoint/${tgi}/v1/completions`]);
    expect(sent[0]!.body.model).toBe("acme/llama");
    expect(sent[1]!.body).toMatchObject({ model: "acme/llama", prompt: "once", max_tokens: 1 });
    expect(sent[1]!.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect((await requests(embedder)).map((r) => r.path)).toEqual([`/endpoint/${embedder}`, `/endpoint/${embedder}`]); // the first: the probe at registration
  });

  it("reports only the URL it calls, and names the endpoint in errors", async () => {
    const url = `${inject("hfUrl")}/endpoint/x`;
    expect(huggingface.upstreamUrls(huggingface.configSchema.parse({ model_name: "a/b", api_key: "k", endpoint_url: url }))).toEqual([
      { field: "config.endpoint_url", url },
    ]);
    expect(huggingface.upstreamUrls(huggingface.configSchema.parse({ model_name: "a/b", api_key: "k" }))).toEqual([
      { field: "config.base_url", url: "https://router.huggingface.co" },
    ]);
    const name = fresh("tgi");
    await script(name, [{ kind: "status", status: 400, body: { error: "Input validation error: inputs too long" } }]);
    const backend = direct({ model_name: "acme/llama", endpoint_url: `${inject("hfUrl")}/endpoint/${name}` });
    await expect(backend.complete!({ prompt: "x" })).rejects.toThrow(
      /^Hugging Face endpoint 127\.0\.0\.1:\d+ rejected the request \(400\): Input validation error: inputs too long$/,
    );
  });
});

describe("huggingface backend: faults", () => {
  it("turns 503 'model loading' into a clear retryable error with the estimate", async () => {
    const name = fresh("sentence-transformers/MiniLM-loading");
    const { tool } = await setup(name, { max_retries: 3 });
    await script(name, [{ kind: "loading", estimatedTime: 119.2 }]);
    const res = await tool("embed", { input: "x" });
    expect(res.tool.content[0]!.text).toBe(`Hugging Face model ${name} is loading (about 120 s); retry after 120 s [model_unavailable]`);
    expect(await requests(name)).toHaveLength(1 + 1); // the probe at registration, then one: 120 s does not fit the wait cap: passed on, not waited out

    await script(name, [{ kind: "loading", estimatedTime: 45 }]);
    const error = await direct({ model_name: name, max_retries: 0 }).embed!({ input: ["x"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: "model_unavailable", retryAfter: 45, status: 503 });
    expect((await requests(name)).every((r) => r.headers["x-wait-for-model"] === undefined)).toBe(true);
  });

  it("waits out a short loading estimate and then succeeds", async () => {
    const name = fresh("sentence-transformers/MiniLM-warming");
    const { tool } = await setup(name, { max_retries: 1 });
    await script(name, [{ kind: "loading", estimatedTime: 1 }]);
    const started = Date.now();
    const res = await tool("embed", { input: "abc" });
    expect(res.tool.structuredContent).toMatchObject({ embeddings: [[3, 1, 97]] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(await requests(name)).toHaveLength(1 + 2); // the probe at registration, then two
  });

  it("says Hugging Face rejected the token, redacting it when the body echoes it", async () => {
    const name = fresh("acme/denied");
    const { tool } = await setup(name, { max_retries: 2 });
    await script(name, [{ kind: "echo_auth", status: 401 }]);
    const res = await tool("chat", { messages: [{ role: "user", content: "hi" }] });
    const text = res.tool.content[0]!.text;
    expect(text).toMatch(/^Hugging Face router at 127\.0\.0\.1:\d+ rejected the credentials \(401\)/);
    expect(text).toContain("Bearer [redacted]");
    expect(JSON.stringify(res.messages)).not.toContain(CANARY);
    expect(await requests(name)).toHaveLength(1);
  });

  it("retries 500s on task routes, then succeeds", async () => {
    const name = fresh("distilbert/sst-retry");
    const { tool } = await setup(name, { max_retries: 2 });
    await script(name, [
      { kind: "status", status: 500 },
      { kind: "status", status: 502 },
    ]);
    const res = await tool("classify", { text: "good" });
    expect(res.tool.structuredContent).toMatchObject({ labels: [{ label: "POSITIVE" }, { label: "NEGATIVE" }] });
    expect(await requests(name)).toHaveLength(3);
  });

  it("gives up after max_retries with the status, and does not retry a 400", async () => {
    const name = fresh("acme/failing");
    const { tool } = await setup(name, { max_retries: 1 });
    await script(name, [
      { kind: "status", status: 500, body: { error: "CUDA out of memory" } },
      { kind: "status", status: 500, body: { error: "CUDA out of memory" } },
      { kind: "status", status: 400, body: { error: "Input validation error: max_new_tokens too large" } },
    ]);
    const failed = await tool("complete", { prompt: "x" });
    expect(failed.tool.content[0]!.text).toMatch(/^Hugging Face router at 127\.0\.0\.1:\d+ failed \(500\): CUDA out of memory \[upstream_error\]$/);
    expect(await requests(name)).toHaveLength(2);
    const refused = await tool("complete", { prompt: "x" });
    expect(refused.tool.content[0]!.text).toMatch(
      /rejected the request \(400\): Input validation error: max_new_tokens too large \[invalid_request\]/,
    );
    expect(await requests(name)).toHaveLength(3);
  });

  it("times out a hanging upstream per the model's timeout", async () => {
    const name = fresh("acme/hang");
    const { tool } = await setup(name, { max_retries: 0, timeout: 0.5 });
    await script(name, [{ kind: "hang" }]);
    const res = await tool("complete", { prompt: "x" });
    expect(res.tool.content[0]!.text).toMatch(/^Hugging Face router at 127\.0\.0\.1:\d+ did not answer within 0\.5 s .*\[upstream_timeout\]$/);
  });

  it("reports a malformed or misshapen body as the upstream's fault", async () => {
    const name = fresh("sentence-transformers/MiniLM-garbled");
    const { tool } = await setup(name, { max_retries: 0 });
    await script(name, [{ kind: "malformed" }, { kind: "status", status: 200, body: { embeddings: "nope" } }]);
    const garbage = await tool("embed", { input: "x" });
    expect(garbage.tool.content[0]!.text).toMatch(
      /^Hugging Face router at 127\.0\.0\.1:\d+ sent a body that is not JSON: \{not json \[upstream_error\]$/,
    );
    const misshapen = await tool("embed", { input: "x" });
    expect(misshapen.tool.content[0]!.text).toMatch(
      /^Hugging Face router at 127\.0\.0\.1:\d+ sent an answer in an unexpected shape .*\[upstream_error\]$/,
    );
  });
});

describe("huggingface backend: capabilities and health", () => {
  it("guesses default capabilities from the model name", () => {
    const caps = (model_name: string) => huggingface.defaultCapabilities(huggingface.configSchema.parse({ model_name, api_key: "k" }));
    for (const name of [
      "sentence-transformers/all-MiniLM-L6-v2",
      "BAAI/bge-small-en-v1.5",
      "intfloat/multilingual-e5-large",
      "nomic-ai/nomic-embed-text-v1.5",
    ]) {
      expect(caps(name), name).toEqual(["embedding"]);
    }
    for (const name of [
      "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
      "facebook/bart-large-mnli",
      "MoritzLaurer/mDeBERTa-v3-base-xnli-multilingual-nli-2mil7",
      "cardiffnlp/twitter-roberta-base-sentiment-latest",
    ]) {
      expect(caps(name), name).toEqual(["classification"]);
    }
    for (const name of ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "acme/online-assistant-v5"]) {
      expect(caps(name), name).toEqual(["chat", "completion"]);
    }
  });

  it("health: the router's model list (no tokens), an endpoint's /info, and failures as details", async () => {
    const listed = await direct({ model_name: "Qwen/Qwen2.5-7B-Instruct" }).healthCheck();
    expect(listed).toMatchObject({ ok: true, detail: null });
    const unlisted = await direct({ model_name: "acme/unknown" }).healthCheck();
    expect(unlisted).toMatchObject({ ok: true, detail: "acme/unknown is not in the Hugging Face router's model list" });

    const name = fresh("tgi");
    const endpoint = direct({ model_name: "acme/llama", endpoint_url: `${inject("hfUrl")}/endpoint/${name}`, max_retries: 0 });
    expect(await endpoint.healthCheck()).toMatchObject({ ok: true, detail: null });
    const unavailable = { kind: "status", status: 503, body: { error: "Service Unavailable" } };
    await script(name, [unavailable, unavailable]);
    const down = await endpoint.healthCheck();
    expect(down).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^Hugging Face endpoint 127\.0\.0\.1:\d+ failed \(503\): Service Unavailable$/),
    });
    expect(await endpoint.healthCheck()).toMatchObject({ ok: false, detail: expect.stringMatching(/failed \(503\)/) });
    expect(await endpoint.healthCheck()).toMatchObject({ ok: true, detail: null });
    expect((await requests(name)).map((r) => `${r.method} ${r.path}`)).toEqual(Array(4).fill(`GET /endpoint/${name}/info`));
  });

  it("health with probe 'generation' makes the smallest real call", async () => {
    const name = fresh("sentence-transformers/MiniLM-probe");
    const { tenant } = await setup(name, { health_check: { probe: "generation" } });
    const res = await api<{ checks: { ok: boolean; detail: string | null }[] }>("POST", "/api/v1/models/m/health-check", { token: tenant.adminKey });
    expect(res.body.checks[0]).toMatchObject({ ok: true, detail: null });
    // Once at registration, once on demand: each one short embedding.
    expect((await requests(name)).map((r) => r.body)).toEqual([{ inputs: ["health check"] }, { inputs: ["health check"] }]);
  });
});
