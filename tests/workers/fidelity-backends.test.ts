/**
 * Full fidelity per backend: each upstream gets tools, tool results, JSON mode,
 * images and parameters in its own wire format (Ollama's /api/chat, the Hugging
 * Face router, the Workers AI binding), tool calls come back in OpenAI's shape,
 * and what a backend cannot take is refused by name before any upstream call.
 */
import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, inject, it } from "vitest";
import { createTenant, registerModel, fakes, uniqueId, openaiClient, WEATHER_TOOL } from "./helpers";

const OLLAMA = inject("ollamaUrl");
const HF = inject("hfUrl");
const PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
const PIXEL_URL = `${inject("openaiUrl")}/__fixtures/pixel.png`;
const ALL = ["tools", "vision", "json_schema"];

async function ollamaSent(model: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${OLLAMA}/__control/requests?model=${encodeURIComponent(model)}`);
  return ((await res.json()) as { requests: { path: string; body: Record<string, unknown> }[] }).requests
    .filter((r) => r.path === "/api/chat")
    .map((r) => r.body);
}

interface FakeCall {
  model: string;
  inputs: Record<string, unknown>;
}
async function aiCalls(): Promise<FakeCall[]> {
  return (await (env as unknown as { AI: { run(m: string, i: object): Promise<FakeCall[]> } }).AI.run("@fake/calls", {})) as FakeCall[];
}

async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>) {
  let text = "";
  const calls: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    calls.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { text, calls, finish };
}

describe("ollama: /api/chat's own shapes", () => {
  async function setup() {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("llama3.2-fid");
    await fetch(`${OLLAMA}/__control/pull`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: upstream }),
    });
    await registerModel(tenant, {
      id: "local",
      name: "local",
      backend_type: "ollama",
      config: { base_url: OLLAMA, model_name: upstream, timeout: 5 },
      features: ALL,
    });
    return { upstream, openai: openaiClient(tenant.userKey) };
  }

  it("tools out, tool_calls back (arguments as objects on the wire, JSON text to the client), tool results with tool_name", async () => {
    const { upstream, openai } = await setup();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Paris" }];
    const first = await openai.chat.completions.create({
      model: "local",
      messages,
      tools: [WEATHER_TOOL],
      seed: 3,
      presence_penalty: 0.2,
      frequency_penalty: 0.1,
    });
    const call = first.choices[0]!.message.tool_calls![0]!;
    expect(first.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call).toMatchObject({ type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } });
    messages.push(first.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "sunny" });
    const second = await openai.chat.completions.create({ model: "local", messages, tools: [WEATHER_TOOL] });
    expect(second.choices[0]!.message.content).toBe("tool said: sunny");

    const [a, b] = await ollamaSent(upstream);
    expect(a).toMatchObject({ tools: [WEATHER_TOOL], stream: false, options: { seed: 3, presence_penalty: 0.2, frequency_penalty: 0.1 } });
    expect(b!.messages).toEqual([
      { role: "user", content: "Paris" },
      { role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }] },
      { role: "tool", content: "sunny", tool_name: "get_weather" },
    ]);
  });

  it("streams whole Ollama calls as OpenAI deltas: id and name first, then the arguments", async () => {
    const { openai } = await setup();
    const { calls, finish } = await collect(
      await openai.chat.completions.create({ model: "local", messages: [{ role: "user", content: "Oslo" }], tools: [WEATHER_TOOL], stream: true }),
    );
    expect(finish).toBe("tool_calls");
    expect(calls[0]).toEqual({ index: 0, id: expect.stringMatching(/^call_/), type: "function", function: { name: "get_weather", arguments: "" } });
    expect(calls[1]).toEqual({ index: 0, function: { arguments: '{"city":"Oslo"}' } });
  });

  it("response_format becomes format (json, or the schema); images become base64 `images`, fetched when given by URL", async () => {
    const { upstream, openai } = await setup();
    const schema = { type: "object", properties: { city: { type: "string" } } };
    const json = await openai.chat.completions.create({
      model: "local",
      messages: [{ role: "user", content: "Rome" }],
      response_format: { type: "json_schema", json_schema: { name: "c", schema, strict: true } },
    });
    expect(JSON.parse(json.choices[0]!.message.content!)).toEqual({ city: "Rome" });
    await openai.chat.completions.create({ model: "local", messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } });
    const seen = await openai.chat.completions.create({
      model: "local",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what?" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${PIXEL}` } },
            { type: "image_url", image_url: { url: PIXEL_URL } },
          ],
        },
      ],
    });
    expect(seen.choices[0]!.message.content).toBe("ollama: what? [2 image(s)]");
    const [a, b, c] = await ollamaSent(upstream);
    expect([a!.format, b!.format]).toEqual([schema, "json"]);
    expect(c!.messages).toEqual([{ role: "user", content: "what?", images: [PIXEL, PIXEL] }]);
  });

  it("the image count is each call's own: ten calls in a row, each with images by URL, all pass", async () => {
    const { upstream, openai } = await setup();
    for (let i = 0; i < 10; i++) {
      const content = [
        { type: "text" as const, text: `call ${i}` },
        ...Array.from({ length: 2 }, () => ({ type: "image_url" as const, image_url: { url: PIXEL_URL } })),
      ];
      const seen = await openai.chat.completions.create({ model: "local", messages: [{ role: "user", content }] });
      expect(seen.choices[0]!.message.content).toBe(`ollama: call ${i} [2 image(s)]`);
    }
    expect(await ollamaSent(upstream)).toHaveLength(10);
  });

  it("refuses by name what Ollama cannot take, before calling it", async () => {
    const { upstream, openai } = await setup();
    const base = { model: "local", messages: [{ role: "user" as const, content: "x" }] };
    for (const [extra, name] of [
      [{ logit_bias: { "1": 2 } }, "logit_bias"],
      [{ user: "u1" }, "user"],
      [{ tools: [WEATHER_TOOL], tool_choice: "required" }, "tool_choice"],
      [{ tools: [WEATHER_TOOL], parallel_tool_calls: false }, "parallel_tool_calls"],
      [{ reasoning_effort: "low" }, "reasoning_effort"],
    ] as const) {
      await expect(openai.chat.completions.create({ ...base, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toMatchObject({
        status: 400,
        error: { type: "unsupported_feature", message: expect.stringMatching(new RegExp(`^${name}: Ollama at`)) },
      });
    }
    await expect(
      openai.chat.completions.create({
        ...base,
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `${inject("openaiUrl")}/__fixtures/page.html` } }] }],
      }),
    ).rejects.toMatchObject({ status: 400, error: { message: expect.stringMatching(/image_url\.url: .* instead of an image/) } });
    await expect(
      openai.chat.completions.create({
        ...base,
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `${inject("openaiUrl")}/__fixtures/huge.png` } }] }],
      }),
    ).rejects.toMatchObject({ status: 400, error: { message: expect.stringMatching(/larger than 10 MiB/) } });
    await expect(
      openai.chat.completions.create({
        ...base,
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://169.254.169.254/latest/meta-data" } }] }],
      }),
    ).rejects.toMatchObject({ status: 400, error: { message: expect.stringMatching(/image_url\.url: 169\.254\.169\.254 is/) } });
    expect(await ollamaSent(upstream)).toEqual([]);
  });

  it("a call's images hold at most 12 MiB in all: past it the fetches stop (two at a time; the rest never start), and nothing is sent upstream", async () => {
    const { upstream, openai } = await setup();
    const ids = [uniqueId("img"), uniqueId("img"), uniqueId("img")];
    const content = ids.map((id) => ({ type: "image_url" as const, image_url: { url: `${inject("openaiUrl")}/__fixtures/big.png?mib=9&id=${id}` } }));
    await expect(openai.chat.completions.create({ model: "local", messages: [{ role: "user", content }] })).rejects.toMatchObject({
      status: 400,
      error: { message: expect.stringMatching(/image_url\.url: the images of one request may hold at most 12 MiB in all/) },
    });
    const served = await Promise.all(ids.map((id) => fakes.openai.requests(id)));
    // Two fetched at once; when they passed 12 MiB together both were cancelled, and the third was never asked for.
    expect(served.map((s) => s.length)).toEqual([1, 1, 0]);
    expect(await ollamaSent(upstream)).toEqual([]);
  });
});

describe("huggingface router: OpenAI-compatible, everything passes", () => {
  it("tools, tool_choice, response_format, parameters and unknown fields reach the router; tool calls come back", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const name = `org/chat-${Date.now()}`;
    await registerModel(tenant, {
      id: "hf",
      name: "hf",
      backend_type: "huggingface",
      config: { model_name: name, api_key: "${UPSTREAM_KEY}", base_url: HF, provider: "together", timeout: 5 },
    });
    const openai = openaiClient(tenant.userKey);
    const res = await openai.chat.completions.create({
      model: "hf",
      messages: [{ role: "user", content: "Lima" }],
      tools: [WEATHER_TOOL],
      tool_choice: "auto",
      seed: 1,
      top_k: 5,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(res.choices[0]).toMatchObject({
      finish_reason: "tool_calls",
      message: { tool_calls: [{ function: { name: "get_weather", arguments: '{"city":"Lima"}' } }] },
    });
    const streamed = await collect(
      await openai.chat.completions.create({ model: "hf", messages: [{ role: "user", content: "Quito" }], tools: [WEATHER_TOOL], stream: true }),
    );
    expect(streamed.finish).toBe("tool_calls");
    expect(streamed.calls.map((c) => c.function?.arguments ?? "").join("")).toBe('{"city":"Quito"}');
    const json = await openai.chat.completions.create({
      model: "hf",
      messages: [{ role: "user", content: "y" }],
      response_format: { type: "json_object" },
    });
    expect(JSON.parse(json.choices[0]!.message.content!)).toEqual({ echo: "y" });
    const [first, , third] = await fakes.hf.requests(name);
    expect(first!.body).toMatchObject({ model: `${name}:together`, tools: [WEATHER_TOOL], tool_choice: "auto", seed: 1, top_k: 5 });
    expect(third!.body).toMatchObject({ response_format: { type: "json_object" } });
  });
});

describe("workers_ai: the binding's documented function calling and JSON mode", () => {
  async function setup(model = "@cf/meta/llama-3.2-11b-vision-instruct") {
    const tenant = await createTenant();
    await registerModel(tenant, { id: "wai", name: "wai", backend_type: "workers_ai", config: { model_name: model, timeout: 5 } });
    await aiCalls();
    return openaiClient(tenant.userKey);
  }

  it("tools in the traditional shape, tool_calls back, tool results and the assistant's calls in its messages; streaming callers get the whole answer", async () => {
    const openai = await setup();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Kyoto" }];
    const first = await openai.chat.completions.create({ model: "wai", messages, tools: [WEATHER_TOOL], seed: 5 });
    const call = first.choices[0]!.message.tool_calls![0]!;
    expect(first.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call).toMatchObject({ id: expect.stringMatching(/^call_/), function: { name: "get_weather", arguments: '{"city":"Kyoto"}' } });
    messages.push(first.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "snow" });
    // The fake refuses stream: true with tools, as JSON mode refuses it: the gateway makes the call whole.
    const second = await collect(await openai.chat.completions.create({ model: "wai", messages, tools: [WEATHER_TOOL], stream: true }));
    expect(second).toMatchObject({ text: "tool said: snow", finish: "stop" });

    const [a, b] = await aiCalls();
    expect(a!.inputs).toEqual({
      messages: [{ role: "user", content: "Kyoto" }],
      seed: 5,
      tools: [{ name: "get_weather", description: "The weather in a city", parameters: WEATHER_TOOL.function.parameters }],
    });
    expect(b!.inputs.messages).toEqual([
      { role: "user", content: "Kyoto" },
      { role: "assistant", content: '[{"name":"get_weather","arguments":{"city":"Kyoto"}}]' },
      { role: "tool", tool_call_id: call.id, content: "snow" },
    ]);
  });

  it("JSON mode: response_format in its shape, the object answer as JSON text; images as data: URLs, fetched when given by https", async () => {
    const openai = await setup();
    const schema = { type: "object", properties: { city: { type: "string" } } };
    const json = await openai.chat.completions.create({
      model: "wai",
      messages: [{ role: "user", content: "Oslo" }],
      response_format: { type: "json_schema", json_schema: { name: "c", schema } },
    });
    expect(JSON.parse(json.choices[0]!.message.content!)).toEqual({ city: "Oslo" });
    const image = await openai.chat.completions.create({
      model: "wai",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "see" },
            { type: "image_url", image_url: { url: PIXEL_URL } },
          ],
        },
      ],
    });
    expect(image.choices[0]!.message.content).toBe("workers-ai: see [1 image(s)]");
    const [a, b] = await aiCalls();
    expect(a!.inputs.response_format).toEqual({ type: "json_schema", json_schema: schema });
    expect(b!.inputs.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "see" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${PIXEL}` } },
        ],
      },
    ]);
  });

  it("refuses by name what Workers AI cannot take (stop, logit_bias, user, tool_choice required, unknown fields), calling nothing", async () => {
    const openai = await setup("@cf/meta/llama-3.1-8b-instruct");
    const base = { model: "wai", messages: [{ role: "user" as const, content: "x" }] };
    for (const [extra, name] of [
      [{ stop: ["END"] }, "stop"],
      [{ logit_bias: { "1": 2 } }, "logit_bias"],
      [{ user: "u" }, "user"],
      [{ tools: [WEATHER_TOOL], tool_choice: "required" }, "tool_choice"],
      [{ service_tier: "flex" }, "service_tier"],
    ] as const) {
      await expect(openai.chat.completions.create({ ...base, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toMatchObject({
        status: 400,
        error: { message: expect.stringMatching(new RegExp(`^${name}: Workers AI model`)) },
      });
    }
    expect(await aiCalls()).toEqual([]);
  });
});
