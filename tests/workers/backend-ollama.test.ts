/**
 * The `ollama` backend against the fake Ollama server (tests/support/fake-ollama.ts):
 * inference through MCP tools as a client sees it, and healthCheck by
 * calling the factory directly (no tool exposes them yet).
 */
import { describe, expect, it } from "vitest";
import { ollama } from "../../src/backends/ollama";
import { api, callTool, CANARY, createTenant, fakes, registerModel, uniqueId } from "./helpers";

const fakeOllama = fakes.ollama;
const OLLAMA = fakeOllama.url;
const CLIENT_ID = "3f2a1b.access";

/** A tenant with one Ollama model whose Access secret is the granted canary. */
async function setup(options: { upstream?: string; config?: Record<string, unknown>; capabilities?: string[] } = {}) {
  const tenant = await createTenant({ grantCanary: true });
  const upstream = options.upstream ?? uniqueId("llm");
  if (!options.upstream) await fakeOllama.control("pull", { model: upstream });
  await registerModel(tenant, {
    id: "local",
    name: "Ollama model",
    backend_type: "ollama",
    config: {
      base_url: OLLAMA,
      model_name: upstream,
      headers: { "CF-Access-Client-Id": CLIENT_ID, "CF-Access-Client-Secret": "${UPSTREAM_KEY}" },
      timeout: 5,
      ...options.config,
    },
    ...(options.capabilities && { capabilities: options.capabilities }),
  });
  const transcripts: unknown[] = [];
  const tool = async (name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) => {
    const res = await callTool(tenant.userKey, name, { model_id: "local", ...args }, meta);
    transcripts.push(res.messages);
    return res;
  };
  const chat = (content = "ping", extra: Record<string, unknown> = {}, meta?: Record<string, unknown>) =>
    tool("chat", { messages: [{ role: "user", content }], ...extra }, meta);
  /** No canary value in anything any tool call returned. */
  const assertNoSecret = () => expect(JSON.stringify(transcripts)).not.toContain(CANARY);
  return { upstream, tool, chat, assertNoSecret };
}

/** The backend built by its factory, as run.ts does, for checks no tool exposes. */
function backend(config: Record<string, unknown>) {
  return ollama.create(ollama.configSchema.parse({ timeout: 2, max_retries: 0, ...config }), { fetch: (i, init) => fetch(i, init) });
}

/** A base URL under its own /i/<instance> prefix on the fake, so /api/tags can be scripted for it alone. */
function instance() {
  const name = uniqueId("inst");
  return { name, base_url: `${OLLAMA}/i/${name}` };
}

describe("ollama backend through MCP", () => {
  it("refuses a base_url ending in /v1 at registration, naming config.base_url and the fix", async () => {
    const tenant = await createTenant({ grantCanary: true });
    for (const base_url of [`${OLLAMA}/v1`, `${OLLAMA}/v1/`, `${OLLAMA}/i/x/V1`]) {
      const res = await api<{ error: { code: string; message: string } }>("POST", "/api/v1/models", {
        token: tenant.adminKey,
        body: { id: "ol-v1", name: "Ollama", backend_type: "ollama", config: { base_url, model_name: "llama3.2" } },
      });
      expect(res.status, base_url).toBe(400);
      expect(res.body.error, base_url).toEqual({
        code: "invalid_request",
        message:
          "config.base_url: should be the server root, e.g. https://host:11434, without /v1; " +
          "for Ollama's OpenAI-compatible API use backend_type openai_compatible",
      });
    }
    // A path that merely contains v1 is a root behind a proxy prefix, and is accepted.
    expect(ollama.configSchema.safeParse({ base_url: `${OLLAMA}/v1/tunnel`, model_name: "m" }).success).toBe(true);
  });

  it("chat sends stream:false, maps sampling into options, carries the Access headers, and reads usage", async () => {
    const { upstream, chat, assertNoSecret } = await setup();
    const res = await chat("hello there", { max_tokens: 50, temperature: 0.2, top_p: 0.9, stop: "END" });
    expect(res.tool.isError).toBeUndefined();
    expect(res.tool.structuredContent).toMatchObject({
      text: "ollama: hello there",
      finish_reason: "stop",
      usage: { prompt_tokens: 2, completion_tokens: 3 },
      model_id: "local",
    });
    const [sent] = await fakeOllama.requests({ model: upstream });
    expect(sent).toMatchObject({ method: "POST", path: "/api/chat" });
    expect(sent!.body).toEqual({
      model: upstream,
      messages: [{ role: "user", content: "hello there" }],
      stream: false,
      options: { num_predict: 50, temperature: 0.2, top_p: 0.9, stop: ["END"] },
    });
    expect(sent!.headers["cf-access-client-id"]).toBe(CLIENT_ID);
    expect(sent!.headers["cf-access-client-secret"]).toBe(CANARY);
    assertNoSecret();
  });

  it("complete calls /api/generate with stream:false; max_tokens becomes num_predict and done_reason length", async () => {
    const { upstream, tool } = await setup();
    const full = await tool("complete", { prompt: "once upon a time" });
    expect(full.tool.structuredContent).toMatchObject({ text: "once upon a time …continued", finish_reason: "stop" });
    const cut = await tool("complete", { prompt: "once upon a time", max_tokens: 2 });
    expect(cut.tool.structuredContent).toMatchObject({ text: "once upon", finish_reason: "length", usage: { completion_tokens: 2 } });
    const sent = await fakeOllama.requests({ model: upstream });
    expect(sent.map((s) => s.path)).toEqual(["/api/generate", "/api/generate"]);
    expect(sent[0]!.body).toEqual({ model: upstream, prompt: "once upon a time", stream: false });
    expect(sent[1]!.body).toMatchObject({ stream: false, options: { num_predict: 2 } });
  });

  it("chat cut by max_tokens says finish_reason length", async () => {
    const { chat } = await setup();
    const res = await chat("one two three four", { max_tokens: 3 });
    expect(res.tool.structuredContent, JSON.stringify(res.tool.content)).toMatchObject({ text: "ollama: one two", finish_reason: "length" });
  });

  it("embed returns one vector per input, for a string and for an array", async () => {
    const { upstream, tool } = await setup({ capabilities: ["embedding"] });
    const single = await tool("embed", { input: "alpha" });
    expect(single.tool.structuredContent).toMatchObject({ dimensions: 8, model_id: "local" });
    expect((single.tool.structuredContent as { embeddings: number[][] }).embeddings).toHaveLength(1);
    const many = await tool("embed", { input: ["alpha", "beta", "gamma"] });
    const vectors = (many.tool.structuredContent as { embeddings: number[][] }).embeddings;
    expect(vectors).toHaveLength(3);
    expect(vectors[0]).toEqual((single.tool.structuredContent as { embeddings: number[][] }).embeddings[0]);
    expect(vectors[1]).not.toEqual(vectors[2]);
    const bodies = (await fakeOllama.requests({ model: upstream })).map((s) => s.body).slice(1); // (the first request was the probe at registration)
    expect(bodies).toEqual([
      { model: upstream, input: ["alpha"] },
      { model: upstream, input: ["alpha", "beta", "gamma"] },
    ]);
    await fakeOllama.script(upstream, [{ kind: "status", status: 200, body: { model: upstream, embeddings: [] } }]);
    const short = await tool("embed", { input: "alpha" });
    expect(short.tool.content[0]!.text).toMatch(/^Ollama at .* sent 0 embeddings for 1 inputs\. \[upstream_error\]$/);
  });

  it("streams NDJSON deltas as progress notifications that add up to the final text", async () => {
    const { upstream, chat, tool, assertNoSecret } = await setup();
    const res = await chat("one two three four", {}, { progressToken: "tok-o" });
    const messages = res.messages.filter((m) => m.method === "notifications/progress").map((m) => (m.params as { message: string }).message);
    expect(messages.length).toBeGreaterThan(3);
    expect(messages.join("")).toBe("ollama: one two three four");
    expect(res.tool.structuredContent).toMatchObject({
      text: "ollama: one two three four",
      finish_reason: "stop",
      usage: { prompt_tokens: 4, completion_tokens: 5 },
    });
    const cut = await tool("complete", { prompt: "a b c d", max_tokens: 3 }, { progressToken: 2 });
    expect(cut.tool.structuredContent).toMatchObject({ text: "a b c", finish_reason: "length" });
    const sent = await fakeOllama.requests({ model: upstream });
    expect(sent.map((s) => s.body?.stream)).toEqual([true, true]);
    assertNoSecret();
  });

  it("a model that is not pulled is a clear error naming ollama pull", async () => {
    const { upstream, chat } = await setup({ upstream: uniqueId("ghost"), config: { max_retries: 3 } });
    const res = await chat();
    expect(res.tool.isError).toBe(true);
    expect(res.tool.content[0]!.text).toMatch(/^Ollama at 127\.0\.0\.1:\d+: model ghost-[\w-]+ is not pulled on the Ollama server; /);
    expect(res.tool.content[0]!.text).toContain(`run \`ollama pull ${upstream}\``);
    expect(res.tool.content[0]!.text).toMatch(/\[model_unavailable\]$/);
    expect(await fakeOllama.requests({ model: upstream })).toHaveLength(1); // a 404 is not retried
  });
});

describe("ollama upstream faults through MCP", () => {
  it("retries a 500, then succeeds", async () => {
    const { upstream, chat } = await setup({ config: { max_retries: 2 } });
    await fakeOllama.script(upstream, [{ kind: "status", status: 500, body: { error: "CUDA out of memory" } }]);
    const res = await chat();
    expect(res.tool.structuredContent).toMatchObject({ text: "ollama: ping" });
    expect(await fakeOllama.requests({ model: upstream })).toHaveLength(2);
  });

  it("gives up after max_retries with Ollama's own message", async () => {
    const { upstream, chat } = await setup({ config: { max_retries: 1 } });
    const failure = { kind: "status", status: 500, body: { error: "CUDA out of memory" } };
    await fakeOllama.script(upstream, [failure, failure]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/^Ollama at 127\.0\.0\.1:\d+ failed \(500\): CUDA out of memory \[upstream_error\]$/);
    expect(await fakeOllama.requests({ model: upstream })).toHaveLength(2);
  });

  it("honours Retry-After on 429", async () => {
    const { upstream, chat } = await setup({ config: { max_retries: 1 } });
    await fakeOllama.script(upstream, [{ kind: "status", status: 429, retryAfter: "1" }]);
    const started = Date.now();
    const res = await chat();
    expect(res.tool.structuredContent).toMatchObject({ text: "ollama: ping" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(await fakeOllama.requests({ model: upstream })).toHaveLength(2);
  });

  it("does not retry a 400", async () => {
    const { upstream, chat } = await setup({ config: { max_retries: 3 } });
    await fakeOllama.script(upstream, [{ kind: "status", status: 400, body: { error: "invalid options" } }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/rejected the request \(400\): invalid options \[invalid_request\]$/);
    expect(await fakeOllama.requests({ model: upstream })).toHaveLength(1);
  });

  it("times out a hanging server per the model's timeout", async () => {
    const { chat, upstream } = await setup({ config: { max_retries: 0, timeout: 0.5 } });
    await fakeOllama.script(upstream, [{ kind: "hang" }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/^Ollama at 127\.0\.0\.1:\d+ did not answer within 0\.5 s .*\[upstream_timeout\]$/);
  });

  it("reports a malformed body as the server's fault", async () => {
    const { chat, upstream } = await setup({ config: { max_retries: 0 } });
    await fakeOllama.script(upstream, [{ kind: "malformed" }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/^Ollama at .* sent a body that is not JSON: \{not json \[upstream_error\]$/);
  });

  it("keeps the partial text when the stream breaks, and never retries a started stream", async () => {
    const { chat, upstream } = await setup({ config: { max_retries: 3 } });
    await fakeOllama.script(upstream, [{ kind: "break_stream", afterLines: 2 }]);
    const res = await chat("alpha beta gamma delta", {}, { progressToken: 9 });
    const out = res.tool.structuredContent as { text: string; finish_reason: string; error?: string };
    expect(out, JSON.stringify(res.tool.content)).toMatchObject({ text: "ollama: alpha ", finish_reason: "error" });
    expect(out.error).toMatch(/^Ollama at .* (broke off the stream|ended the stream without saying why it stopped)\.$/);
    expect(await fakeOllama.requests({ model: upstream })).toHaveLength(1);
  });

  it("an error line inside the stream ends it with that message and the text so far", async () => {
    const { chat, upstream } = await setup();
    await fakeOllama.script(upstream, [{ kind: "error_in_stream", afterLines: 1, message: "model runner crashed" }]);
    const res = await chat("alpha beta", {}, { progressToken: 3 });
    expect(res.tool.structuredContent).toMatchObject({
      text: "ollama: ",
      finish_reason: "error",
      error: expect.stringMatching(/reported an error mid-stream: model runner crashed$/),
    });
  });

  it("an Access login page in place of Ollama is named as such and not retried", async () => {
    const { chat, upstream } = await setup({ config: { max_retries: 3 } });
    await fakeOllama.script(upstream, [{ kind: "access_page", status: 403 }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(
      /^Ollama at .* answered with an HTML page \(403\) instead of Ollama's JSON API\. .*CF-Access-Client-Secret/,
    );
    expect(await fakeOllama.requests({ model: upstream })).toHaveLength(1);
  });

  it("never shows the Access secret, even when the upstream echoes it back", async () => {
    const { chat, upstream, assertNoSecret } = await setup({ config: { max_retries: 0 } });
    await fakeOllama.script(upstream, [{ kind: "echo_headers", status: 401 }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/rejected the credentials \(401\).*access denied for service token \[redacted\]/);
    assertNoSecret();
  });
});

describe("ollama default capabilities", () => {
  it("embedding models by family name; the short family names only as a word of their own", () => {
    const of = (model_name: string) => ollama.defaultCapabilities(ollama.configSchema.parse({ base_url: OLLAMA, model_name }));
    for (const name of ["nomic-embed-text", "mxbai-embed-large", "all-minilm", "bge-m3", "jeffh/intfloat-multilingual-e5-large:f16", "gte-base"]) {
      expect(of(name), name).toEqual(["embedding"]);
    }
    // A random suffix that happens to hold "e5" or "gte" (as the tests' base-36 timestamps can) is not a family name.
    for (const name of ["llama3.2", "cc-llama-mipe5x-12", "qwen2.5-gtest", "phi4"]) expect(of(name), name).toEqual(["chat", "completion"]);
  });
});

describe("ollama healthCheck (GET /api/tags, no tokens spent)", () => {
  it("ok when the tags list has the model; a bare name matches its :latest tag", async () => {
    const inst = instance();
    const model = backend({ base_url: inst.base_url, model_name: "llama3.2", headers: { "CF-Access-Client-Id": CLIENT_ID } });
    const health = await model.healthCheck();
    expect(health).toEqual({ ok: true, latency_ms: expect.any(Number), detail: null });
    const sent = await fakeOllama.requests({ instance: inst.name });
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual(["GET /api/tags"]);
    expect(sent[0]!.headers["cf-access-client-id"]).toBe(CLIENT_ID);
  });

  it("tells a missing model apart and says to pull it", async () => {
    for (const name of ["mistral", "llama3.2:70b"]) {
      const model = backend({ base_url: instance().base_url, model_name: name });
      const health = await model.healthCheck();
      expect(health.ok).toBe(false);
      expect(health.detail).toMatch(
        new RegExp(`model ${name.replace(".", "\\.")} is not pulled on the Ollama server; run \`ollama pull ${name.replace(".", "\\.")}\``),
      );
      expect(health.detail).not.toMatch(/unreachable/);
    }
  });

  it("says the tunnel is unreachable on a closed port", async () => {
    const model = backend({ base_url: "http://127.0.0.1:1", model_name: "llama3.2" });
    const health = await model.healthCheck();
    expect(health.ok).toBe(false);
    expect(health.detail).toMatch(
      /^Ollama tunnel unreachable: Ollama at 127\.0\.0\.1:1 is unreachable: the connection was refused or closed before any answer/,
    );
  });

  it("says the tunnel is unreachable when Cloudflare Access answers instead of Ollama", async () => {
    const cases: [unknown, RegExp][] = [
      [{ kind: "access_page" }, /an HTML page \(200\)/],
      [{ kind: "access_page", status: 403 }, /an HTML page \(403\)/],
      [{ kind: "access_redirect" }, /a redirect \(302\) to myteam\.cloudflareaccess\.com \(a Cloudflare Access login\)/],
    ];
    for (const [step, what] of cases) {
      const inst = instance();
      await fakeOllama.control("tags", { instance: inst.name, steps: [step, step] });
      const model = backend({ base_url: inst.base_url, model_name: "llama3.2", max_retries: 2 });
      const health = await model.healthCheck();
      expect(health.ok).toBe(false);
      expect(health.detail).toMatch(/^Ollama tunnel unreachable: Ollama at 127\.0\.0\.1:\d+ answered with /);
      expect(health.detail).toMatch(what);
      expect(health.detail).toMatch(/CF-Access-Client-Id and CF-Access-Client-Secret/);
      expect(health.detail).not.toContain("redirect_url"); // only the host of the login URL is shown
      expect(await fakeOllama.requests({ instance: inst.name })).toHaveLength(1); // a check looks once
    }
  });

  it("says the tunnel is unreachable when some other server or a hang answers", async () => {
    const other = instance();
    await fakeOllama.control("tags", { instance: other.name, steps: [{ kind: "status", status: 200, body: { hello: "world" } }] });
    const wrong = await backend({ base_url: other.base_url, model_name: "llama3.2" }).healthCheck();
    expect(wrong.detail).toMatch(/^Ollama tunnel unreachable: Ollama at .* sent an answer in an unexpected shape \(models: /);

    const hung = instance();
    await fakeOllama.control("tags", { instance: hung.name, steps: [{ kind: "hang" }] });
    const slow = await backend({ base_url: hung.base_url, model_name: "llama3.2", timeout: 0.5 }).healthCheck();
    expect(slow).toMatchObject({ ok: false, detail: expect.stringMatching(/^Ollama tunnel unreachable: .* did not answer within 0\.5 s/) });
  });
});
