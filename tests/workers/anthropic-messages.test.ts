/**
 * Anthropic's Messages API (/v1/messages) driven by Anthropic's own SDK inside
 * workerd, on an OpenAI-compatible and an Ollama fake: the body translated into
 * each upstream's wire format, the answer back as a message or as Anthropic's
 * events in their documented order, hints named in x-gateway-not-applied, what
 * cannot be honoured refused by name in Anthropic's error shape, failover
 * before the first event and an error event (never a clean stop) after it.
 */
import Anthropic from "@anthropic-ai/sdk";
import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { CLAUDE_CODE_HEADERS, claudeCodeRequest } from "../support/claude-code-request";
import { anthropicClient, api, createTenant, fakes, openaiModel, registerModel, uniqueId, usageTotals } from "./helpers";
import { sseEvents } from "../support/sse-events";

const OLLAMA = inject("ollamaUrl");
const HF = inject("hfUrl");
const PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
const ALL = ["tools", "vision", "json_schema"];
const fetchWorker = (url: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(url, init));

/** The SDK as most code uses it: `apiKey`, which 1.x sends as `Authorization: Bearer`. */
function bearerClient(key: string): Anthropic {
  return new Anthropic({ apiKey: key, baseURL: "http://gateway.test", maxRetries: 0, fetch: fetchWorker });
}

const WEATHER: Anthropic.Tool = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

async function openaiTenant(upstream = uniqueId("msg"), config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  await registerModel(tenant, { ...openaiModel("gpt", upstream, config), features: ALL });
  return { tenant, upstream, client: bearerClient(tenant.userKey) };
}

/** The bodies the fake OpenAI upstream received for one upstream model. */
async function openaiSent(upstream: string): Promise<Record<string, unknown>[]> {
  return (await fakes.openai.requests(upstream)).filter((r) => r.path === "/v1/chat/completions").map((r) => r.body);
}

/** POST /v1/messages with fetch, for what the SDK hides: headers, and the raw event stream. */
async function post(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}, path = "/v1/messages") {
  return exports.default.fetch(
    new Request(`http://gateway.test${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01", ...headers },
      body: JSON.stringify(body),
    }),
  );
}

const events = sseEvents;

describe("non-streamed", () => {
  it("openai_compatible: a message with a text block, end_turn and the upstream's usage; the key as Bearer", async () => {
    const { client, upstream } = await openaiTenant();
    const message = await client.messages.create({
      model: "gpt",
      max_tokens: 100,
      system: [{ type: "text", text: "be brief" }],
      messages: [{ role: "user", content: "hello there" }],
      // Documented for Anthropic's older models; SDK 1.x no longer types them.
      ...{ temperature: 0.5, top_p: 0.9 },
    });
    expect(message).toMatchObject({
      id: expect.stringMatching(/^msg_/),
      type: "message",
      role: "assistant",
      model: "gpt",
      content: [{ type: "text", text: "echo: hello there" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: expect.any(Number), output_tokens: 3 },
    });
    const [sent] = await openaiSent(upstream);
    expect(sent).toMatchObject({
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there" },
      ],
      max_tokens: 100,
      temperature: 0.5,
      top_p: 0.9,
    });
  });

  it("the key as x-api-key (what Claude Code sends); no key, or two different keys, is a 401 authentication_error", async () => {
    const { tenant } = await openaiTenant();
    const message = await anthropicClient(tenant.userKey).messages.create({
      model: "gpt",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.content).toEqual([{ type: "text", text: "echo: hi" }]);

    const body = { model: "gpt", max_tokens: 10, messages: [{ role: "user", content: "hi" }] };
    const none = await post("", body, { "x-api-key": "" });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ type: "error", error: { type: "authentication_error", message: expect.stringContaining("x-api-key") } });
    const two = await post(tenant.userKey, body, { authorization: `Bearer ${tenant.adminKey}` });
    expect(two.status).toBe(401);
    const bad = await post("mgw_nobody_xxxxxxxx", body);
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
  });

  it("ollama: the same message from /api/chat, with Ollama's own counts", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("llama-msg");
    await fakes.ollama.control("pull", { model: upstream });
    await registerModel(tenant, {
      id: "local",
      name: "local",
      backend_type: "ollama",
      config: { base_url: OLLAMA, model_name: upstream, timeout: 5 },
      features: ALL,
    });
    const client = anthropicClient(tenant.userKey);
    const message = await client.messages.create({
      model: "local",
      max_tokens: 50,
      system: "sys",
      messages: [{ role: "user", content: "hi ollama" }],
    });
    expect(message).toMatchObject({
      model: "local",
      content: [{ type: "text", text: "ollama: hi ollama" }],
      stop_reason: "end_turn",
      usage: { input_tokens: expect.any(Number), output_tokens: 3 },
    });
    const sent = (await fakes.ollama.requests({ model: upstream })).filter((r) => r.path === "/api/chat");
    expect(sent[0]!.body).toMatchObject({
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: "hi ollama" },
      ],
      options: { num_predict: 50 },
    });

    // A tool round trip on Ollama too: tool_use out, tool_result back.
    const first = await client.messages.create({ model: "local", max_tokens: 50, tools: [WEATHER], messages: [{ role: "user", content: "Oslo" }] });
    expect(first.stop_reason).toBe("tool_use");
    const use = first.content.find((b) => b.type === "tool_use")!;
    expect(use).toMatchObject({ name: "get_weather", input: { city: "Oslo" } });
    const second = await client.messages.create({
      model: "local",
      max_tokens: 50,
      tools: [WEATHER],
      messages: [
        { role: "user", content: "Oslo" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "rain" }] },
      ],
    });
    expect(second.content).toEqual([{ type: "text", text: "tool said: rain" }]);
  });

  it("a system message among the turns (as Claude Code 2.1 sends it) is a system message where it stands; an image in it is refused", async () => {
    const { tenant, upstream } = await openaiTenant();
    const turns = [
      { role: "user", content: "first" },
      { role: "system", content: [{ type: "text", text: "reminder: be brief" }] },
      { role: "user", content: "second" },
    ];
    const ok = await post(tenant.userKey, { model: "gpt", max_tokens: 20, messages: turns });
    expect(ok.status).toBe(200);
    expect((await openaiSent(upstream))[0]!.messages).toEqual([
      { role: "user", content: "first" },
      { role: "system", content: "reminder: be brief" },
      { role: "user", content: "second" },
    ]);
    const image = { type: "image", source: { type: "url", url: "https://example.com/a.png" } };
    const refused = await post(tenant.userKey, {
      model: "gpt",
      max_tokens: 20,
      messages: [turns[0], { role: "system", content: [image] }, turns[2]],
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain("messages.1.content.0");
  });

  it("stop_sequences become stop; max_tokens reached reads as max_tokens", async () => {
    const { client, upstream } = await openaiTenant();
    const cut = await client.messages.create({
      model: "gpt",
      max_tokens: 2,
      stop_sequences: ["END", "###"],
      messages: [{ role: "user", content: "one two three four" }],
    });
    expect(cut.stop_reason).toBe("max_tokens");
    expect(cut.content).toEqual([{ type: "text", text: "echo: one" }]);
    expect((await openaiSent(upstream))[0]).toMatchObject({ stop: ["END", "###"], max_tokens: 2 });
  });

  it("output_config.format asks for JSON output: the upstream gets response_format json_schema", async () => {
    const { client, upstream } = await openaiTenant();
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false };
    const message = await client.messages.create({
      model: "gpt",
      max_tokens: 50,
      output_config: { format: { type: "json_schema", schema } },
      messages: [{ role: "user", content: "Rome" }],
    });
    expect(JSON.parse((message.content[0] as Anthropic.TextBlock).text)).toEqual({ city: "Rome" });
    expect((await openaiSent(upstream))[0]!.response_format).toEqual({ type: "json_schema", json_schema: { name: "output", schema, strict: true } });
  });

  it("an image block (base64 and by URL) reaches the upstream as an image part", async () => {
    const { client, upstream } = await openaiTenant();
    const message = await client.messages.create({
      model: "gpt",
      max_tokens: 20,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what?" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: PIXEL } },
            { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
          ],
        },
      ],
    });
    expect(message.content).toEqual([{ type: "text", text: "echo: what? [2 image(s)]" }]);
    expect((await openaiSent(upstream))[0]!.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "what?" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${PIXEL}` } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
        ],
      },
    ]);
  });
});

describe("inline images", () => {
  it("a base64 image block whose bytes are not its media_type is a 400 naming the block", async () => {
    const { client, upstream } = await openaiTenant();
    const send = client.messages.create({
      model: "gpt",
      max_tokens: 20,
      messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/jpeg", data: PIXEL } }] }],
    });
    await expect(send).rejects.toMatchObject({
      status: 400,
      error: { error: { type: "invalid_request_error", message: expect.stringMatching(/messages\.0\.content\.0.*not a JPEG image/) } },
    });
    expect(await openaiSent(upstream)).toEqual([]);
  });
});

describe("every backend type", () => {
  it("huggingface and workers_ai answer too (streamed and not); a backend's refusal names the field as the caller wrote it", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const name = `org/chat-${Date.now()}`;
    await registerModel(tenant, {
      id: "hf",
      name: "hf",
      backend_type: "huggingface",
      config: { model_name: name, api_key: "${UPSTREAM_KEY}", base_url: HF, provider: "together", timeout: 5 },
    });
    await registerModel(tenant, {
      id: "wai",
      name: "wai",
      backend_type: "workers_ai",
      config: { model_name: "@cf/meta/llama-3.2-11b-vision-instruct", timeout: 5 },
    });
    const local = uniqueId("llama-refuse");
    await fakes.ollama.control("pull", { model: local });
    await registerModel(tenant, {
      id: "local",
      name: "local",
      backend_type: "ollama",
      config: { base_url: OLLAMA, model_name: local, timeout: 5 },
      features: ALL,
    });
    const client = anthropicClient(tenant.userKey);
    for (const model of ["hf", "wai"]) {
      const message = await client.messages.create({ model, max_tokens: 20, messages: [{ role: "user", content: `hi ${model}` }] });
      expect(message, model).toMatchObject({
        model,
        content: [{ type: "text", text: expect.stringContaining(`hi ${model}`) }],
        stop_reason: "end_turn",
      });
      const streamed = await client.messages
        .stream({ model, max_tokens: 20, messages: [{ role: "user", content: `again ${model}` }] })
        .finalMessage();
      expect(streamed.content, model).toEqual([{ type: "text", text: expect.stringContaining(`again ${model}`) }]);
    }
    const refused = async (model: string, extra: Record<string, unknown>) => {
      const response = await post(tenant.userKey, { model, max_tokens: 20, messages: [{ role: "user", content: "x" }], ...extra });
      expect(response.status).toBe(400);
      return ((await response.json()) as { error: { type: string; message: string } }).error;
    };
    expect(await refused("wai", { stop_sequences: ["END"] })).toEqual({
      type: "invalid_request_error",
      message: expect.stringMatching(/^stop_sequences: Workers AI.*Leave stop_sequences out/),
    });
    expect((await refused("local", { tools: [WEATHER], tool_choice: { type: "auto", disable_parallel_tool_use: true } })).message).toMatch(
      /^tool_choice\.disable_parallel_tool_use: Ollama/,
    );
    expect((await refused("local", { tools: [WEATHER], tool_choice: { type: "any" } })).message).toMatch(/^tool_choice: Ollama/);
  });
});

describe("tools", () => {
  it("a round trip: tool_use with its input parsed, then tool_result (is_error said in the content) as tool messages", async () => {
    const { client, upstream } = await openaiTenant();
    const first = await client.messages.create({
      model: "gpt",
      max_tokens: 100,
      tools: [WEATHER],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
      messages: [{ role: "user", content: "Paris" }],
    });
    expect(first.stop_reason).toBe("tool_use");
    expect(first.content).toEqual([{ type: "tool_use", id: expect.any(String), name: "get_weather", input: { city: "Paris" } }]);
    const id = (first.content[0] as Anthropic.ToolUseBlock).id;
    const second = await client.messages.create({
      model: "gpt",
      max_tokens: 100,
      tools: [WEATHER],
      messages: [
        { role: "user", content: "Paris" },
        { role: "assistant", content: first.content },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: id, content: [{ type: "text", text: "sunny" }] },
            { type: "tool_result", tool_use_id: "other", content: "no such city", is_error: true },
          ],
        },
      ],
    });
    expect(second.stop_reason).toBe("end_turn");
    expect(second.content).toEqual([{ type: "text", text: "tool said: sunny | Error: no such city" }]);

    const [a, b] = await openaiSent(upstream);
    expect(a).toMatchObject({
      tools: [{ type: "function", function: { name: "get_weather", description: "The weather in a city", parameters: WEATHER.input_schema } }],
      tool_choice: "required",
      parallel_tool_calls: false,
    });
    expect(b!.messages).toEqual([
      { role: "user", content: "Paris" },
      { role: "assistant", content: null, tool_calls: [{ id, type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: id, content: "sunny" },
      { role: "tool", tool_call_id: "other", content: "Error: no such city" },
    ]);
  });

  it("images a tool returned (Claude Code's Read of a picture) follow the turn's tool messages in one user message naming the call", async () => {
    const { client, upstream } = await openaiTenant();
    await client.messages.create({
      model: "gpt",
      max_tokens: 20,
      tools: [WEATHER],
      messages: [
        { role: "user", content: "What is in shot.png?" },
        {
          role: "assistant",
          content: [
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "x" } },
            { type: "tool_use", id: "toolu_2", name: "get_weather", input: { city: "y" } },
          ],
        },
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "toolu_1",
              content: [
                { type: "text", text: "read shot.png" },
                { type: "image", source: { type: "base64", media_type: "image/png", data: PIXEL } },
              ],
            },
            { type: "tool_result", tool_use_id: "toolu_2", content: "nothing" },
            { type: "text", text: "Describe it." },
          ],
        },
      ],
    });
    const [sent] = await openaiSent(upstream);
    expect((sent!.messages as unknown[]).slice(2)).toEqual([
      { role: "tool", tool_call_id: "toolu_1", content: "read shot.png" },
      { role: "tool", tool_call_id: "toolu_2", content: "nothing" },
      {
        role: "user",
        content: [
          { type: "text", text: "The image the tool call toolu_1 returned:" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${PIXEL}` } },
          { type: "text", text: "Describe it." },
        ],
      },
    ]);
  });

  it("tool_choice tool and none; a tool Anthropic defines the schema of is refused, a hosted one is named as not applied", async () => {
    const { tenant, client, upstream } = await openaiTenant();
    await client.messages.create({
      model: "gpt",
      max_tokens: 10,
      tools: [WEATHER],
      tool_choice: { type: "tool", name: "get_weather" },
      messages: [{ role: "user", content: "x" }],
    });
    const none = await client.messages.create({
      model: "gpt",
      max_tokens: 10,
      tools: [WEATHER],
      tool_choice: { type: "none" },
      messages: [{ role: "user", content: "y" }],
    });
    expect(none.content).toEqual([{ type: "text", text: "echo: y" }]);
    const [a, b] = await openaiSent(upstream);
    expect(a!.tool_choice).toEqual({ type: "function", function: { name: "get_weather" } });
    expect(b!.tool_choice).toBe("none");

    const bash = await post(tenant.userKey, {
      model: "gpt",
      max_tokens: 10,
      tools: [{ type: "bash_20250124", name: "bash" }],
      messages: [{ role: "user", content: "ls" }],
    });
    expect(bash.status).toBe(400);
    expect(await bash.json()).toEqual({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringMatching(/^tools\.0: "bash_20250124"/) },
    });

    const hosted = await post(tenant.userKey, {
      model: "gpt",
      max_tokens: 10,
      tools: [WEATHER, { type: "web_search_20250305", name: "web_search", max_uses: 3 }],
      messages: [{ role: "user", content: "z" }],
    });
    expect(hosted.status).toBe(200);
    expect(hosted.headers.get("x-gateway-not-applied")).toBe("tools.web_search_20250305");
    expect(((await openaiSent(upstream))[2]!.tools as unknown[]).length).toBe(1);
  });

  it("streamed: a tool_use block with its input as input_json_delta pieces, stop_reason tool_use", async () => {
    const { tenant } = await openaiTenant();
    const response = await post(tenant.userKey, {
      model: "gpt",
      max_tokens: 50,
      stream: true,
      tools: [WEATHER],
      messages: [{ role: "user", content: "Rome" }],
    });
    const seen = await events(response);
    expect(seen.map((e) => e.event)).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(seen[1]!.data).toEqual({
      type: "content_block_start",
      index: 0,
      content_block: { type: "tool_use", id: "call_fake_0", name: "get_weather", input: {} },
    });
    const json = seen
      .filter((e) => e.event === "content_block_delta")
      .map((e) => (e.data.delta as { type: string; partial_json: string }).partial_json)
      .join("");
    expect(JSON.parse(json)).toEqual({ city: "Rome" });
    expect(seen[5]!.data.delta).toEqual({ stop_reason: "tool_use", stop_sequence: null });

    // The SDK's stream helper puts the same message together.
    const message = await bearerClient(tenant.userKey)
      .messages.stream({ model: "gpt", max_tokens: 50, tools: [WEATHER], messages: [{ role: "user", content: "Rome" }] })
      .finalMessage();
    expect(message.content).toEqual([{ type: "tool_use", id: "call_fake_0", name: "get_weather", input: { city: "Rome" } }]);
  });
});

describe("streamed", () => {
  it("events exactly as Anthropic documents them, in order; every event's name is its data's type", async () => {
    const { tenant } = await openaiTenant();
    const response = await post(tenant.userKey, { model: "gpt", max_tokens: 50, stream: true, messages: [{ role: "user", content: "a b c" }] });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const seen = await events(response);
    const names = seen.map((e) => e.event);
    // "echo: a b c" arrives in four pieces (the fake splits after each space).
    expect(names).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    for (const e of seen) expect(e.data.type).toBe(e.event);
    expect(seen[0]!.data.message).toMatchObject({
      id: expect.stringMatching(/^msg_/),
      type: "message",
      role: "assistant",
      model: "gpt",
      content: [],
      stop_reason: null,
      usage: { input_tokens: expect.any(Number), output_tokens: 0 },
    });
    expect(seen[1]!.data).toEqual({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    const text = seen
      .filter((e) => e.event === "content_block_delta")
      .map((e) => (e.data.delta as { type: string; text: string }).text)
      .join("");
    expect(text).toBe("echo: a b c");
    expect(seen[7]!.data).toEqual({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { input_tokens: 0, output_tokens: 4 },
    });

    // The SDK reads the same stream into the same message.
    const message = await anthropicClient(tenant.userKey)
      .messages.stream({ model: "gpt", max_tokens: 50, messages: [{ role: "user", content: "a b c" }] })
      .finalMessage();
    expect(message).toMatchObject({ content: [{ type: "text", text: "echo: a b c" }], stop_reason: "end_turn", usage: { output_tokens: 4 } });
  });

  it("failover before the first event: the primary fails, the client sees only the fallback's answer (streamed and not)", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const primaryUp = uniqueId("primary");
    const backupUp = uniqueId("backup");
    await registerModel(tenant, openaiModel("backup", backupUp));
    await registerModel(tenant, { ...openaiModel("primary", primaryUp, { max_retries: 0 }), fallbacks: ["backup"] });
    await fakes.openai.script(primaryUp, [
      { kind: "status", status: 500 },
      { kind: "break_stream", afterChunks: 0 },
    ]);
    const client = bearerClient(tenant.userKey);

    const message = await client.messages.create({ model: "primary", max_tokens: 20, messages: [{ role: "user", content: "first" }] });
    expect(message).toMatchObject({ model: "backup", content: [{ type: "text", text: "echo: first" }] });

    const response = await post(tenant.userKey, { model: "primary", max_tokens: 20, stream: true, messages: [{ role: "user", content: "second" }] });
    expect(response.status).toBe(200);
    const seen = await events(response);
    expect(seen.map((e) => e.event)).not.toContain("error");
    expect(seen.at(-1)!.event).toBe("message_stop");
    expect(
      seen
        .filter((e) => e.event === "content_block_delta")
        .map((e) => (e.data.delta as { text: string }).text)
        .join(""),
    ).toBe("echo: second");
    expect(await openaiSent(primaryUp)).toHaveLength(2);
  });

  it("a failure before the first event without a fallback is an HTTP error in Anthropic's shape", async () => {
    const { tenant, upstream } = await openaiTenant(undefined, { max_retries: 0 });
    await fakes.openai.script(upstream, [{ kind: "status", status: 500 }]);
    const response = await post(tenant.userKey, { model: "gpt", max_tokens: 20, stream: true, messages: [{ role: "user", content: "x" }] });
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ type: "error", error: { type: "api_error", message: expect.any(String) } });
  });

  it("a stream cut after text ends with an error event and no message_stop", async () => {
    const { tenant, upstream } = await openaiTenant();
    await fakes.openai.script(upstream, [{ kind: "break_stream", afterChunks: 2 }]);
    const response = await post(tenant.userKey, {
      model: "gpt",
      max_tokens: 50,
      stream: true,
      messages: [{ role: "user", content: "one two three" }],
    });
    expect(response.status).toBe(200);
    const seen = await events(response);
    const names = seen.map((e) => e.event);
    expect(names.slice(0, 4)).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta"]);
    expect(names.at(-1)).toBe("error");
    expect(names).not.toContain("message_stop");
    expect(names).not.toContain("message_delta");
    expect(seen.at(-1)!.data).toEqual({ type: "error", error: { type: "api_error", message: expect.any(String) } });
  });
});

describe("hints, refusals and errors", () => {
  it("thinking and anthropic-beta flags are answered, not sent, and named in x-gateway-not-applied (streamed and not)", async () => {
    const { tenant, client, upstream } = await openaiTenant();
    const beta = { "anthropic-beta": "interleaved-thinking-2025-05-14, context-1m-2025-08-07" };
    const { data, response } = await client.messages
      .create(
        {
          model: "gpt",
          max_tokens: 2048,
          thinking: { type: "enabled", budget_tokens: 1024 },
          metadata: { user_id: "u1" },
          messages: [{ role: "user", content: [{ type: "text", text: "think", cache_control: { type: "ephemeral" } }] }],
        },
        { headers: beta },
      )
      .withResponse();
    expect(data.content).toEqual([{ type: "text", text: "echo: think" }]);
    expect(response.headers.get("x-gateway-not-applied")).toBe(
      "thinking, metadata, cache_control, anthropic-beta:interleaved-thinking-2025-05-14, anthropic-beta:context-1m-2025-08-07",
    );
    const streamed = await post(
      tenant.userKey,
      {
        model: "gpt",
        max_tokens: 100,
        stream: true,
        thinking: { type: "adaptive" },
        output_config: { effort: "high" },
        context_management: { edits: [] },
        speed: "fast",
        messages: [{ role: "user", content: "again" }],
      },
      beta,
    );
    expect(streamed.headers.get("x-gateway-not-applied")).toBe(
      "thinking, context_management, output_config.effort, speed, anthropic-beta:interleaved-thinking-2025-05-14, anthropic-beta:context-1m-2025-08-07",
    );
    expect((await events(streamed)).at(-1)!.event).toBe("message_stop");
    for (const sent of await openaiSent(upstream)) {
      for (const field of ["thinking", "metadata", "output_config", "context_management", "cache_control", "extra"])
        expect(JSON.stringify(sent)).not.toContain(field);
    }
  });

  it("top_k is refused with a 400 naming it; so is a field Anthropic does not document; nothing reaches the upstream", async () => {
    const { tenant, client, upstream } = await openaiTenant();
    const error = await client.messages
      .create({ model: "gpt", max_tokens: 10, ...{ top_k: 5 }, messages: [{ role: "user", content: "x" }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    const bad = error as InstanceType<typeof Anthropic.BadRequestError>;
    expect(bad.status).toBe(400);
    expect(bad.error).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.stringMatching(/^top_k: /) } });

    const unknown = await post(tenant.userKey, { model: "gpt", max_tokens: 10, frequency_penalty: 1, messages: [{ role: "user", content: "x" }] });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({
      type: "error",
      error: { type: "invalid_request_error", message: 'unknown field(s) "frequency_penalty"' },
    });
    const prefill = await post(tenant.userKey, {
      model: "gpt",
      max_tokens: 10,
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: "{" },
      ],
    });
    expect(prefill.status).toBe(400);
    expect(((await prefill.json()) as { error: { message: string } }).error.message).toMatch(/^messages\.1: a last assistant message \(prefilling/);
    const empty = await post(tenant.userKey, { model: "gpt", max_tokens: 10, messages: [{ role: "user", content: [] }] });
    expect(((await empty.json()) as { error: { message: string } }).error.message).toBe("messages.0.content: at least one content block");
    const noMax = await post(tenant.userKey, { model: "gpt", messages: [{ role: "user", content: "x" }] });
    expect(noMax.status).toBe(400);
    expect(((await noMax.json()) as { error: { message: string } }).error.message).toMatch(/^max_tokens: /);
    expect(await openaiSent(upstream)).toHaveLength(0);
  });

  it("an unknown model is a 404 not_found_error", async () => {
    const { client } = await openaiTenant();
    const error = await client.messages
      .create({ model: "nope", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    expect((error as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ type: "error", error: { type: "not_found_error" } });
  });

  it("a budget refusal is a 429 rate_limit_error with x-should-retry: false", async () => {
    const { tenant } = await openaiTenant();
    const set = await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, { token: tenant.adminKey, body: { budget: { period: "day", tokens: 5 } } });
    expect(set.status, set.text).toBe(200);
    const response = await post(tenant.userKey, { model: "gpt", max_tokens: 100, messages: [{ role: "user", content: "x" }] });
    expect(response.status).toBe(429);
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(await response.json()).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
  });
});

describe("count_tokens and usage", () => {
  it("count_tokens: the gateway's estimate of what would be sent; nothing reaches the upstream", async () => {
    const { tenant, client, upstream } = await openaiTenant();
    const small = await client.messages.countTokens({ model: "gpt", messages: [{ role: "user", content: "hi" }] });
    const big = await client.messages.countTokens({
      model: "gpt",
      system: "x".repeat(400),
      tools: [WEATHER],
      messages: [{ role: "user", content: "hi" }],
    });
    expect(small.input_tokens).toBeGreaterThan(0);
    expect(big.input_tokens).toBeGreaterThan(small.input_tokens + 100);
    expect(await openaiSent(upstream)).toHaveLength(0);
    const unknown = await post(tenant.userKey, { model: "nope", messages: [{ role: "user", content: "x" }] }, {}, "/v1/messages/count_tokens");
    expect(unknown.status).toBe(404);
  });

  it("usage is metered with the upstream's reported tokens (GET /api/v1/usage)", async () => {
    const { tenant, client } = await openaiTenant();
    const answered = await client.messages.create({ model: "gpt", max_tokens: 20, messages: [{ role: "user", content: "count me please" }] });
    const streamed = await client.messages.stream({ model: "gpt", max_tokens: 20, messages: [{ role: "user", content: "and me" }] }).finalMessage();
    expect(await usageTotals(tenant.adminKey)).toMatchObject({
      requests: 2,
      prompt_tokens: answered.usage.input_tokens + streamed.usage.input_tokens,
      completion_tokens: answered.usage.output_tokens + streamed.usage.output_tokens,
      estimated_requests: 0,
    });
  });
});

describe("what Claude Code sends (a recorded shape)", () => {
  const NOT_APPLIED = [
    "thinking",
    "context_management",
    "output_config.effort",
    "metadata",
    "cache_control",
    ...CLAUDE_CODE_HEADERS["anthropic-beta"].split(",").map((flag) => `anthropic-beta:${flag}`),
  ].join(", ");

  it("openai_compatible and ollama: answered as a stream with a tool call, hints named, the conversation translated", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("cc");
    const local = uniqueId("cc-llama");
    await fakes.ollama.control("pull", { model: local });
    await registerModel(tenant, { ...openaiModel("cc-gpt", upstream), features: ["tools"] });
    await registerModel(tenant, {
      id: "cc-local",
      name: "cc",
      backend_type: "ollama",
      config: { base_url: OLLAMA, model_name: local, timeout: 5 },
      features: ["tools"],
    });
    for (const model of ["cc-gpt", "cc-local"]) {
      const response = await post(tenant.userKey, claudeCodeRequest(model), CLAUDE_CODE_HEADERS, "/v1/messages?beta=true");
      expect(response.status, model).toBe(200);
      expect(response.headers.get("x-gateway-not-applied")).toBe(NOT_APPLIED);
      const seen = await events(response);
      expect(seen.map((e) => e.event).at(-1)).toBe("message_stop");
      expect(seen.find((e) => e.event === "content_block_start")!.data.content_block).toMatchObject({ type: "tool_use", name: "Bash" });
      expect(seen.find((e) => e.event === "message_delta")!.data.delta).toEqual({ stop_reason: "tool_use", stop_sequence: null });
    }
    const [sent] = await openaiSent(upstream);
    expect(sent!.max_tokens).toBe(32000);
    expect(sent!.messages).toEqual([
      {
        role: "system",
        content:
          "You are Claude Code, Anthropic's official CLI for Claude.\n\nYou are an interactive CLI tool that helps users with software engineering tasks.",
      },
      { role: "user", content: "list the files" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "toolu_01A", type: "function", function: { name: "Bash", arguments: '{"command":"ls"}' } }],
      },
      { role: "tool", tool_call_id: "toolu_01A", content: "README.md\nsrc" },
      { role: "user", content: "now summarize" },
    ]);
    expect((sent!.tools as { function: { name: string } }[]).map((t) => t.function.name)).toEqual(["Bash", "Read", "mcp__ide__getDiagnostics"]);
  });
});
