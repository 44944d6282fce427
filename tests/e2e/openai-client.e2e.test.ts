/**
 * End to end for the OpenAI-compatible API: the official `openai` npm client,
 * pointed at `${gateway}/v1` under `wrangler dev` with a tenant key, against
 * models on the fake OpenAI-compatible upstream (and one on the fake Ollama, to
 * show /v1 routes through the same registry to any wire format).
 *
 * Every request the SDK sends and every response it gets pass through a
 * recording fetch, so the tests can see what the SDK really asked for (e.g.
 * base64 embeddings by default) and prove the canary Worker secret never
 * reached the client or wrangler dev's logs.
 */
import OpenAI from "openai";
import type { RunnableToolFunctionWithParse } from "openai/lib/RunnableFunction";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { fakeVector8 } from "../support/fake-vectors.js";
import { connectModern, expectNotInLogs, fakes, gatewayFor, ResponseRecorder, structured, type Tenant } from "./helpers";

const CANARY = `sk-canary-e2e-${crypto.randomUUID().replace(/-/g, "")}`;
const openaiUrl = inject("openaiUrl");
const ollamaUrl = inject("ollamaUrl");

/** Upstream model names, unique to this file and run (the fakes are shared by all e2e files and keep their records). */
const RUN = String(Date.now() % 1e8);
const UP_CHAT = `gpt-e2e-v1-${RUN}`;
const UP_EMBED = `e2e-v1-embed-${RUN}`;
const UP_OLLAMA = `e2e-v1-llm-${RUN}`;
const UP_TOOLS = `gpt-e2e-v1-tools-${RUN}`;

let dev: WranglerDev;
const recorder = new ResponseRecorder();
const { api, createTenant, registerModel } = gatewayFor(recorder, () => dev);
let tenant: Tenant;
/** Bodies of the requests the SDK sent to the gateway, by path. */
const sent: { path: string; body: Record<string, unknown> | undefined }[] = [];
let openai: OpenAI;

function client(key: string): OpenAI {
  return new OpenAI({
    apiKey: key,
    baseURL: `${dev.url}/v1`,
    maxRetries: 0,
    timeout: 20_000,
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const body = typeof init?.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
      sent.push({ path: new URL(url).pathname, body });
      return recorder.fetch(url, init);
    },
  });
}

beforeAll(async () => {
  await fakes.ollama.control("pull", { model: UP_OLLAMA });

  dev = await startWranglerDev({ upstreamKey: CANARY });
  tenant = await createTenant({ id: "sdk", name: "OpenAI SDK users", grantCanary: true });
  const models = [
    {
      id: "v1-chat",
      name: "Chat on the fake OpenAI",
      backend_type: "openai_compatible",
      config: { base_url: `${openaiUrl}/v1`, model_name: UP_CHAT, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
    },
    {
      id: "v1-embed",
      name: "Embeddings on the fake OpenAI",
      backend_type: "openai_compatible",
      config: { base_url: `${openaiUrl}/v1`, model_name: UP_EMBED, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
    },
    {
      id: "v1-agent",
      name: "An agent's model on the fake OpenAI",
      backend_type: "openai_compatible",
      config: { base_url: `${openaiUrl}/v1`, model_name: UP_TOOLS, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
      features: ["tools", "json_schema"],
    },
    {
      id: "v1-ollama",
      name: "Chat on the fake Ollama",
      backend_type: "ollama",
      config: { base_url: ollamaUrl, model_name: UP_OLLAMA, headers: { "CF-Access-Client-Secret": "${UPSTREAM_KEY}" }, max_retries: 0 },
    },
  ];
  for (const body of models) await registerModel(tenant, body);
  openai = client(tenant.userKey);
});

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

describe("the official openai client against /v1", () => {
  it("models.list lists the tenant's models, owned by their backend type", async () => {
    const models: OpenAI.Model[] = [];
    for await (const m of openai.models.list()) models.push(m);
    expect(models.map((m) => [m.id, m.object, m.owned_by]).sort()).toEqual([
      ["v1-agent", "model", "openai_compatible"],
      ["v1-chat", "model", "openai_compatible"],
      ["v1-embed", "model", "openai_compatible"],
      ["v1-ollama", "model", "ollama"],
    ]);
  });

  it("chat.completions.create answers through the upstream, which receives the resolved secret", async () => {
    const res = await openai.chat.completions.create({
      model: "v1-chat",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello from the openai sdk" },
      ],
      temperature: 0.5,
    });
    expect(res.object).toBe("chat.completion");
    expect(res.model).toBe("v1-chat");
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]!.message).toMatchObject({ role: "assistant", content: "echo: hello from the openai sdk" });
    expect(res.choices[0]!.finish_reason).toBe("stop");
    expect(res.usage?.completion_tokens).toBe(6);
    expect(res.usage?.total_tokens).toBe((res.usage?.prompt_tokens ?? NaN) + 6);

    const calls = (await fakes.openai.requests(UP_CHAT)).filter((r) => JSON.stringify(r.body).includes("hello from the openai sdk"));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.path).toBe("/v1/chat/completions");
    expect(calls[0]!.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(calls[0]!.body).toEqual({
      model: UP_CHAT,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello from the openai sdk" },
      ],
      temperature: 0.5,
    });
  });

  it("chat.completions.create cut by max_completion_tokens says length", async () => {
    const res = await openai.chat.completions.create({
      model: "v1-chat",
      messages: [{ role: "user", content: "one two three four" }],
      max_completion_tokens: 3,
    });
    expect(res.choices[0]!.message.content).toBe("echo: one two");
    expect(res.choices[0]!.finish_reason).toBe("length");
  });

  it("stream: true with include_usage streams the deltas, the finish reason and a usage chunk", async () => {
    const stream = await openai.chat.completions.create({
      model: "v1-chat",
      messages: [{ role: "user", content: "stream one two three" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "v1-chat")).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    const deltas = chunks.map((c) => c.choices[0]?.delta?.content).filter((d): d is string => !!d);
    expect(deltas).toEqual(["echo: ", "stream ", "one ", "two ", "three"]);
    const finishes = chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean);
    expect(finishes).toEqual(["stop"]);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 5, total_tokens: (last.usage?.prompt_tokens ?? NaN) + 5 });

    const [call] = (await fakes.openai.requests(UP_CHAT)).filter((r) => JSON.stringify(r.body).includes("stream one two three"));
    expect(call!.body).toMatchObject({ stream: true });
  });

  it("completions.create continues a prompt", async () => {
    const res = await openai.completions.create({ model: "v1-chat", prompt: "Once upon a time in the SDK", max_tokens: 50 });
    expect(res.object).toBe("text_completion");
    expect(res.model).toBe("v1-chat");
    expect(res.choices[0]).toMatchObject({ text: "Once upon a time in the SDK …continued", finish_reason: "stop" });
    expect(res.usage?.completion_tokens).toBe(8);
    const [call] = (await fakes.openai.requests(UP_CHAT)).filter((r) => r.path === "/v1/completions");
    expect(call!.body).toEqual({ model: UP_CHAT, prompt: "Once upon a time in the SDK", max_tokens: 50 });
  });

  it("embeddings.create with the default encoding: the SDK asks for base64 and decodes the vectors", async () => {
    const inputs = ["alpha", "beta gamma"];
    const before = sent.length;
    const res = await openai.embeddings.create({ model: "v1-embed", input: inputs });
    expect(sent.slice(before)).toEqual([{ path: "/v1/embeddings", body: { model: "v1-embed", input: inputs, encoding_format: "base64" } }]);
    expect(res.model).toBe("v1-embed");
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    res.data.forEach((d, i) => {
      const expected = fakeVector8(inputs[i]!);
      expect(d.embedding).toHaveLength(8);
      d.embedding.forEach((x, j) => expect(x).toBeCloseTo(expected[j]!, 6)); // float32 on the wire
    });

    // ...and the gateway really answered base64 (the SDK would pass a float array through unchanged).
    await new Promise((r) => setTimeout(r, 50)); // let the recorder finish reading the body
    const base64 = Buffer.from(new Float32Array(fakeVector8("beta gamma")).buffer).toString("base64");
    expect(recorder.text()).toContain(`"embedding":"${base64}"`);

    const floats = await openai.embeddings.create({ model: "v1-embed", input: "alpha", encoding_format: "float" });
    expect(floats.data[0]!.embedding).toEqual(fakeVector8("alpha"));
  });

  it("a model on another wire format (Ollama) answers through /v1 as well", async () => {
    const res = await openai.chat.completions.create({ model: "v1-ollama", messages: [{ role: "user", content: "hi from the sdk" }] });
    expect(res.model).toBe("v1-ollama");
    expect(res.choices[0]).toMatchObject({ message: { content: "ollama: hi from the sdk" }, finish_reason: "stop" });
    const calls = await fakes.ollama.requests(UP_OLLAMA);
    expect(calls.map((c) => c.path)).toEqual(["/api/chat"]);
    expect(calls[0]!.headers["cf-access-client-secret"]).toBe(CANARY);
  });

  it("an unknown model is a 404 APIError in OpenAI's shape, and nothing reaches an upstream", async () => {
    const before = (await fakes.openai.requests(UP_CHAT)).length;
    const error = await openai.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error).toMatchObject({
      status: 404,
      error: { type: "not_found", message: expect.stringMatching(/^Model "no-such-model" not found\. Models of this tenant: "v1-/) },
    });
    expect((await fakes.openai.requests(UP_CHAT)).length).toBe(before);

    const denied = await client("mgw_sdk_not-a-real-key")
      .models.list()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("an agent loop with runTools: tool call, tool result, final answer; non-streaming and streaming", async () => {
    const asked: string[] = [];
    const tools: RunnableToolFunctionWithParse<{ city: string }>[] = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "The weather in a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          parse: (input: string) => JSON.parse(input) as { city: string },
          function: ({ city }) => {
            asked.push(city);
            return `foggy in ${city}`;
          },
        },
      },
    ];
    const runner = openai.chat.completions.runTools({ model: "v1-agent", messages: [{ role: "user", content: "London" }], tools });
    expect(await runner.finalContent()).toBe("tool said: foggy in London");
    const streamed = openai.chat.completions.runTools({ model: "v1-agent", messages: [{ role: "user", content: "Dublin" }], tools, stream: true });
    const calls: string[] = [];
    streamed.on("functionToolCall", (call) => calls.push(`${call.name} ${call.arguments}`));
    expect(await streamed.finalContent()).toBe("tool said: foggy in Dublin");
    expect(calls).toEqual(['get_weather {"city":"Dublin"}']);
    expect(asked).toEqual(["London", "Dublin"]);

    const bodies = (await fakes.openai.requests(UP_TOOLS)).map((r) => r.body);
    expect(bodies).toHaveLength(4);
    expect(bodies[1]!.messages).toEqual([
      { role: "user", content: "London" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_fake_0", type: "function", function: { name: "get_weather", arguments: '{"city":"London"}' } }],
      },
      { role: "tool", tool_call_id: "call_fake_0", content: "foggy in London" },
    ]);
    expect(bodies[2]).toMatchObject({ stream: true, tools: [{ type: "function", function: { name: "get_weather" } }] });
  });

  it("the same loop through the MCP chat tool with a real MCP client: arguments as objects, the result as a tool message", async () => {
    const session = await connectModern(dev.url, tenant.userKey, recorder);
    try {
      const weather = {
        type: "function",
        function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
      };
      const first = await session.callTool("chat", { model_id: "v1-agent", messages: [{ role: "user", content: "Cairo" }], tools: [weather] });
      const made = structured<{ finish_reason: string; tool_calls: { id: string; name: string; arguments: { city: string } }[] }>(first);
      expect(made.finish_reason).toBe("tool_calls");
      expect(made.tool_calls).toEqual([{ id: "call_fake_0", name: "get_weather", arguments: { city: "Cairo" } }]);
      const progress: string[] = [];
      const second = await session.callTool(
        "chat",
        {
          model_id: "v1-agent",
          messages: [
            { role: "user", content: "Cairo" },
            { role: "assistant", content: "", tool_calls: made.tool_calls },
            { role: "tool", tool_call_id: made.tool_calls[0]!.id, content: "hot and dry" },
          ],
          tools: [weather],
        },
        (p) => progress.push(p.message ?? ""),
      );
      expect(structured<{ text: string; finish_reason: string }>(second)).toMatchObject({ text: "tool said: hot and dry", finish_reason: "stop" });
      expect(progress.join("")).toBe("tool said: hot and dry");
      const json = await session.callTool("chat", {
        model_id: "v1-agent",
        messages: [{ role: "user", content: "Cairo" }],
        response_format: { type: "json_object" },
      });
      expect(structured<{ json: unknown }>(json).json).toEqual({ echo: "Cairo" });
    } finally {
      await session.close();
    }
  });

  it("a model without the tools feature is a 400 unsupported_feature through the SDK, and nothing reaches the upstream", async () => {
    const before = (await fakes.ollama.requests(UP_OLLAMA)).length;
    await api("PATCH", "/api/v1/models/v1-ollama", { token: tenant.adminKey, body: { features: [] } });
    const error = await openai.chat.completions
      .create({ model: "v1-ollama", messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f" } }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({
      status: 400,
      error: { type: "unsupported_feature", message: expect.stringContaining('Model "v1-ollama" lacks the tools feature') },
    });
    expect((await fakes.ollama.requests(UP_OLLAMA)).length).toBe(before);
  });

  it("the canary secret never appears in a response or in wrangler dev's logs", async () => {
    const calls = await fakes.openai.requests(UP_CHAT);
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(calls.every((c) => c.headers.authorization === `Bearer ${CANARY}`)).toBe(true);

    await new Promise((r) => setTimeout(r, 200)); // let recorded streams finish draining
    const bodies = recorder.text();
    expect(recorder.count).toBeGreaterThan(10);
    expect(bodies).toContain("echo: hello from the openai sdk");
    expect(bodies).toContain("data: [DONE]");
    expect(bodies).not.toContain(CANARY);

    expect(dev.logs()).toMatch(/POST \/v1\/chat\/completions 200/);
    await expectNotInLogs(dev, [CANARY, tenant.userKey]);
  });
});
