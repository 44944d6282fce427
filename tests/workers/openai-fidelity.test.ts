/**
 * Full fidelity on /v1, driven by the official `openai` client: tools and the
 * agent loop (plain and streamed), JSON mode, image parts, every generation
 * parameter seen by the upstream in its wire form or refused by name, and
 * model features (refused before any upstream call; fallbacks that have them).
 */
import OpenAI from "openai";
import type { RunnableToolFunctionWithParse } from "openai/lib/RunnableFunction";
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, openaiModel, registerModel, fakes, uniqueId, openaiClient, WEATHER_TOOL } from "./helpers";

const TIME: OpenAI.ChatCompletionTool = {
  type: "function",
  function: { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string" } } } },
};

async function setup() {
  const tenant = await createTenant({ grantCanary: true });
  const up = uniqueId("fid");
  await registerModel(tenant, { ...openaiModel("gpt", up), features: ["tools", "vision", "json_schema"] });
  return { tenant, up, openai: openaiClient(tenant.userKey) };
}

interface Sent {
  body: Record<string, unknown>;
}

describe("tools through /v1", () => {
  it("tool call, tool result, final answer: the upstream sees the tools, the calls and the results in OpenAI's shape", async () => {
    const { openai, up } = await setup();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Paris" }];
    const first = await openai.chat.completions.create({ model: "gpt", messages, tools: [WEATHER_TOOL, TIME], tool_choice: "auto" });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toEqual([
      { id: "call_fake_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
    ]);

    messages.push(choice.message, { role: "tool", tool_call_id: "call_fake_0", content: "sunny, 21 C" });
    const second = await openai.chat.completions.create({ model: "gpt", messages, tools: [WEATHER_TOOL, TIME] });
    expect(second.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "tool said: sunny, 21 C" } });

    const sent = await fakes.openai.requests<Sent["body"]>(up);
    expect(sent[0]!.body).toMatchObject({ tools: [WEATHER_TOOL, TIME], tool_choice: "auto" });
    expect(sent[1]!.body.messages).toEqual([
      { role: "user", content: "Paris" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_fake_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
      },
      { role: "tool", tool_call_id: "call_fake_0", content: "sunny, 21 C" },
    ]);
  });

  it("runTools: the SDK's own agent loop, non-streaming and streaming", async () => {
    const { openai } = await setup();
    const seen: string[] = [];
    const tools: RunnableToolFunctionWithParse<{ city: string }>[] = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "The weather in a city",
          parameters: { type: "object", properties: { city: { type: "string" } } },
          parse: (input: string) => JSON.parse(input) as { city: string },
          function: ({ city }: { city: string }) => {
            seen.push(city);
            return `rainy in ${city}`;
          },
        },
      },
    ];
    const runner = openai.chat.completions.runTools({ model: "gpt", messages: [{ role: "user", content: "Oslo" }], tools });
    expect(await runner.finalContent()).toBe("tool said: rainy in Oslo");

    const streamed = openai.chat.completions.runTools({ model: "gpt", messages: [{ role: "user", content: "Rome" }], tools, stream: true });
    let text = "";
    streamed.on("content", (delta) => (text += delta));
    expect(await streamed.finalContent()).toBe("tool said: rainy in Rome");
    expect(text).toBe("tool said: rainy in Rome");
    expect(seen).toEqual(["Oslo", "Rome"]);
  });

  it("streams delta.tool_calls as OpenAI does: index, id and name first, then the arguments in pieces", async () => {
    const { openai } = await setup();
    const stream = await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "parallel Lyon" }],
      tools: [WEATHER_TOOL, TIME],
      stream: true,
    });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    const finishes: string[] = [];
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    }
    expect(finishes).toEqual(["tool_calls"]);
    expect(deltas[0]).toEqual({ index: 0, id: "call_fake_0", type: "function", function: { name: "get_weather", arguments: "" } });
    const args = (i: number) =>
      deltas
        .filter((d) => d.index === i)
        .map((d) => d.function?.arguments ?? "")
        .join("");
    expect(deltas.filter((d) => d.index === 0).length).toBeGreaterThan(2); // arguments in fragments
    expect(JSON.parse(args(0))).toEqual({ city: "parallel Lyon" });
    expect(JSON.parse(args(1))).toEqual({ zone: "parallel Lyon" });

    // The SDK's stream helper assembles the same calls.
    const helper = openai.chat.completions.stream({ model: "gpt", messages: [{ role: "user", content: "Nice" }], tools: [WEATHER_TOOL] });
    const final = await helper.finalChatCompletion();
    expect(final.choices[0]!.message.tool_calls).toEqual([
      { id: "call_fake_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Nice"}' } },
    ]);
  });

  it("tool_choice (none, required, a named function) and parallel_tool_calls reach the upstream as sent", async () => {
    const { openai, up } = await setup();
    const named = await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "UTC" }],
      tools: [WEATHER_TOOL, TIME],
      tool_choice: { type: "function", function: { name: "get_time" } },
      parallel_tool_calls: false,
    });
    expect(named.choices[0]!.message.tool_calls?.[0]).toMatchObject({ function: { name: "get_time" } });
    const none = await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "hi" }],
      tools: [WEATHER_TOOL],
      tool_choice: "none",
    });
    expect(none.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "echo: hi" } });
    await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "x" }],
      tools: [WEATHER_TOOL],
      tool_choice: "required",
    });
    const bodies = (await fakes.openai.requests<Sent["body"]>(up)).map((r) => r.body);
    expect(bodies.map((b) => [b.tool_choice, b.parallel_tool_calls])).toEqual([
      [{ type: "function", function: { name: "get_time" } }, false],
      ["none", undefined],
      ["required", undefined],
    ]);
  });
});

describe("structured output, images and parameters through /v1", () => {
  it("response_format json_object and json_schema (strict) reach the upstream as sent; the answer is the model's JSON", async () => {
    const { openai, up } = await setup();
    const format = {
      type: "json_schema" as const,
      json_schema: {
        name: "city",
        strict: true,
        schema: { type: "object", properties: { name: { type: "string" }, population: { type: "integer" } } },
      },
    };
    const res = await openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "Bern" }], response_format: format });
    expect(JSON.parse(res.choices[0]!.message.content!)).toEqual({ name: "Bern", population: 42 });
    const obj = await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_object" },
    });
    expect(JSON.parse(obj.choices[0]!.message.content!)).toEqual({ echo: "x" });
    const bodies = (await fakes.openai.requests<Sent["body"]>(up)).map((r) => r.body.response_format);
    expect(bodies).toEqual([format, { type: "json_object" }]);
  });

  it("image parts (https and data: URLs) pass to an OpenAI-compatible upstream as they are", async () => {
    const { openai, up } = await setup();
    const content: OpenAI.ChatCompletionContentPart[] = [
      { type: "text", text: "what is this?" },
      { type: "image_url", image_url: { url: "https://images.example.com/cat.png", detail: "low" } },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
    ];
    const res = await openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content }] });
    expect(res.choices[0]!.message.content).toBe("echo: what is this? [2 image(s)]");
    const [sent] = await fakes.openai.requests<Sent["body"]>(up);
    expect(sent!.body.messages).toEqual([{ role: "user", content }]);
  });

  it("an inline image that is not what its data: URL says is a 400 naming the part, and nothing is sent upstream", async () => {
    const { openai, up } = await setup();
    const cases: [string, RegExp][] = [
      ["data:image/png;base64,AAAAAAAAAAAA", /messages\.0\.content\.1\.image_url\.url: .*not a PNG image/],
      ["data:image/jpeg;base64,iVBORw0KGgo=", /not a JPEG image/],
      ["data:image/png;base64,iVBORw0KGgo", /not valid base64/],
      [
        "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
        /image\/svg\+xml is not supported inline; send image\/png, image\/jpeg, image\/gif, image\/webp/,
      ],
    ];
    for (const [url, message] of cases) {
      const content: OpenAI.ChatCompletionContentPart[] = [
        { type: "text", text: "what is this?" },
        { type: "image_url", image_url: { url } },
      ];
      await expect(openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content }] }), url).rejects.toMatchObject({
        status: 400,
        error: { message: expect.stringMatching(message) },
      });
    }
    expect(await fakes.openai.requests(up)).toEqual([]);
  });

  it("seed, stop, penalties, logit_bias, user, max_completion_tokens and unknown fields reach an OpenAI-compatible upstream", async () => {
    const { openai, up } = await setup();
    await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "x" }],
      seed: 7,
      stop: "END",
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { "50256": -100 },
      user: "end-user-1",
      max_completion_tokens: 9,
      n: 1,
      // Not known to the gateway: passed as it is.
      reasoning_effort: "low",
      metadata: { run: "42" },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const [sent] = await fakes.openai.requests<Sent["body"]>(up);
    expect(sent!.body).toEqual({
      model: up,
      messages: [{ role: "user", content: "x" }],
      seed: 7,
      stop: ["END"],
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { "50256": -100 },
      user: "end-user-1",
      max_tokens: 9,
      reasoning_effort: "low",
      metadata: { run: "42" },
    });
  });

  it("what the gateway cannot give back is refused by name, before any upstream call", async () => {
    const { tenant, up } = await setup();
    const post = (extra: Record<string, unknown>) =>
      api("POST", "/v1/chat/completions", { token: tenant.userKey, body: { model: "gpt", messages: [{ role: "user", content: "x" }], ...extra } });
    for (const [extra, field] of [
      [{ n: 2 }, "n"],
      [{ logprobs: true }, "logprobs"],
      [{ top_logprobs: 3 }, "top_logprobs"],
      [{ functions: [{ name: "f" }] }, "functions"],
      [{ tools: [{ type: "function", function: { name: "bad name!" } }] }, "tools.0.function.name"],
      [{ response_format: { type: "xml" } }, "response_format.type"],
    ] as const) {
      const res = await post(extra);
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect((res.body as { error: { message: string } }).error.message).toContain(`${field}:`);
    }
    expect(await fakes.openai.requests(up)).toEqual([]);
  });
});

describe("features", () => {
  it("models declare features at registration and show them in /v1/models and list_models; defaults come from the backend and model name", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const gpt4o = await registerModel(tenant, openaiModel("gpt-4o", "gpt-4o"));
    const plain = await registerModel(tenant, { ...openaiModel("plain", "plain-model"), features: [] });
    const llama = await registerModel(tenant, {
      id: "llama",
      name: "llama",
      backend_type: "workers_ai",
      config: { model_name: "@cf/meta/llama-3.1-8b-instruct" },
    });
    expect([gpt4o.features, plain.features, llama.features]).toEqual([["tools", "json_schema", "vision"], [], ["tools", "json_schema"]]);
    const listed = await api<{ data: { id: string; features: string[] }[] }>("GET", "/v1/models", { token: tenant.userKey });
    expect(listed.body.data.find((m) => m.id === "plain")?.features).toEqual([]);
    const tool = await callTool(tenant.userKey, "list_models", {});
    expect((tool.tool.structuredContent as { models: { id: string; features: string[] }[] }).models.find((m) => m.id === "gpt-4o")?.features).toEqual(
      ["tools", "json_schema", "vision"],
    );
    const patched = await api("PATCH", "/api/v1/models/plain", { token: tenant.adminKey, body: { features: ["json_schema"] } });
    expect(patched.body).toMatchObject({ features: ["json_schema"] });
  });

  it("a model without tools asked for tools: 400 unsupported_feature naming the parameter and the model, nothing sent upstream", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("nofeat");
    await registerModel(tenant, { ...openaiModel("plain", up), features: [] });
    const openai = openaiClient(tenant.userKey);
    await expect(
      openai.chat.completions.create({ model: "plain", messages: [{ role: "user", content: "x" }], tools: [WEATHER_TOOL] }),
    ).rejects.toMatchObject({
      status: 400,
      error: { type: "unsupported_feature", message: expect.stringMatching(/Model "plain" lacks the tools feature, which tools needs/) },
    });
    const image = [{ type: "image_url" as const, image_url: { url: "https://images.example.com/x.png" } }];
    await expect(openai.chat.completions.create({ model: "plain", messages: [{ role: "user", content: image }] })).rejects.toMatchObject({
      status: 400,
      error: { message: expect.stringMatching(/lacks the vision feature, which messages\.0\.content \(an image\) needs/) },
    });
    await expect(
      openai.chat.completions.create({ model: "plain", messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } }),
    ).rejects.toMatchObject({ status: 400, error: { message: expect.stringMatching(/json_schema feature/) } });
    expect(await fakes.openai.requests(up)).toEqual([]);
  });

  it("with a fallback that has the feature, the fallback answers and the result says so; explain_route shows the skip", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upPlain = uniqueId("plain");
    const upTools = uniqueId("tools");
    await registerModel(tenant, { ...openaiModel("tooly", upTools), features: ["tools"] });
    await registerModel(tenant, { ...openaiModel("plain", upPlain), features: [], fallbacks: ["tooly"] });
    const res = await callTool(tenant.userKey, "chat", {
      model_id: "plain",
      messages: [{ role: "user", content: "Tokyo" }],
      tools: [WEATHER_TOOL],
    });
    expect(res.tool.structuredContent).toMatchObject({
      model_id: "tooly",
      finish_reason: "tool_calls",
      tool_calls: [{ id: "call_fake_0", name: "get_weather", arguments: { city: "Tokyo" } }],
      fallback: { requested: "plain", attempts: [{ model_id: "plain", error: expect.stringMatching(/lacks the tools feature/) }] },
    });
    expect(await fakes.openai.requests(upPlain)).toEqual([]);

    const route = await callTool(tenant.userKey, "explain_route", { model_id: "plain", capability: "chat", features: ["tools"] });
    expect(route.tool.structuredContent).toMatchObject({
      would_answer: "tooly",
      steps: [
        { model_id: "plain", usable: false, reason: "lacks the tools feature, which tools needs" },
        { model_id: "tooly", usable: true },
      ],
    });
  });
});
