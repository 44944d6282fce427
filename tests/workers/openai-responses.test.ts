/**
 * OpenAI's Responses API (/v1/responses) driven by OpenAI's own SDK inside
 * workerd, on an OpenAI-compatible and an Ollama fake: the body translated into
 * each upstream's wire format, the answer back as a response object or as the
 * Responses events in their documented order, hints named in
 * x-gateway-not-applied, what cannot be honoured refused by name in OpenAI's
 * error shape, failover before the first event and response.failed (never
 * response.completed) after it.
 */
import OpenAI from "openai";
import { describe, expect, inject, it } from "vitest";
import { CODEX_NOT_APPLIED, codexRequest } from "../support/codex-request";
import { api, createTenant, fakes, openaiClient, openaiModel, postJson, registerModel, uniqueId, usageTotals } from "./helpers";
import { type SseEvent, sseEvents } from "../support/sse-events";

const OLLAMA = inject("ollamaUrl");
const HF = inject("hfUrl");
const PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
const ALL = ["tools", "vision", "json_schema"];

const WEATHER: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};
const TIME: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_time",
  description: "The time in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

async function openaiTenant(upstream = uniqueId("resp"), config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  await registerModel(tenant, { ...openaiModel("gpt", upstream, config), features: ALL });
  return { tenant, upstream, client: openaiClient(tenant.userKey) };
}

async function ollamaTenant() {
  const tenant = await createTenant({ grantCanary: true });
  const upstream = uniqueId("llama-resp");
  await fakes.ollama.control("pull", { model: upstream });
  await registerModel(tenant, {
    id: "local",
    name: "local",
    backend_type: "ollama",
    config: { base_url: OLLAMA, model_name: upstream, timeout: 5 },
    features: ALL,
  });
  return { tenant, upstream, client: openaiClient(tenant.userKey) };
}

/** The bodies the fake OpenAI upstream received for one upstream model. */
async function openaiSent(upstream: string): Promise<Record<string, unknown>[]> {
  return (await fakes.openai.requests(upstream)).filter((r) => r.path === "/v1/chat/completions").map((r) => r.body);
}

const post = (key: string, body: Record<string, unknown>, path = "/v1/responses") => postJson(key, path, body);

type Event = SseEvent;

const events = sseEvents;

const deltas = (seen: Event[]) =>
  seen
    .filter((e) => e.event === "response.output_text.delta")
    .map((e) => e.data.delta as string)
    .join("");

describe("non-streamed", () => {
  it("openai_compatible: a response with one message item, the upstream's usage; instructions, sampling and max_output_tokens sent", async () => {
    const { client, upstream } = await openaiTenant();
    const { data: response, response: raw } = await client.responses
      .create({ model: "gpt", instructions: "be brief", input: "hello there", max_output_tokens: 100, temperature: 0.5, top_p: 0.9, store: false })
      .withResponse();
    expect(raw.headers.get("x-gateway-not-applied")).toBeNull();
    expect(response).toMatchObject({
      id: expect.stringMatching(/^resp_/),
      object: "response",
      created_at: expect.any(Number),
      status: "completed",
      model: "gpt",
      output: [
        {
          type: "message",
          id: expect.stringMatching(/^msg_/),
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: "echo: hello there", annotations: [] }],
        },
      ],
      usage: {
        input_tokens: expect.any(Number),
        output_tokens: 3,
        total_tokens: expect.any(Number),
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      },
      instructions: "be brief",
      max_output_tokens: 100,
      store: false,
    });
    expect(response.output_text).toBe("echo: hello there");
    expect(response.usage!.total_tokens).toBe(response.usage!.input_tokens + 3);
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

  it("ollama: the same response from /api/chat; input items (developer, user parts, assistant output_text) translated", async () => {
    const { client, upstream } = await ollamaTenant();
    const response = await client.responses.create({
      model: "local",
      store: false,
      max_output_tokens: 50,
      input: [
        { role: "developer", content: "sys" },
        { role: "user", content: [{ type: "input_text", text: "first" }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "ok", annotations: [] }], id: "msg_1", status: "completed" },
        {
          role: "user",
          content: [
            { type: "input_text", text: "hi " },
            { type: "input_text", text: "ollama" },
          ],
        },
      ],
    });
    expect(response).toMatchObject({ status: "completed", model: "local", usage: { output_tokens: 3 } });
    expect(response.output_text).toBe("ollama: hi ollama");
    const sent = (await fakes.ollama.requests({ model: upstream })).filter((r) => r.path === "/api/chat");
    expect(sent[0]!.body).toMatchObject({
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: "first" },
        { role: "assistant", content: "ok" },
        { role: "user", content: "hi ollama" },
      ],
      options: { num_predict: 50 },
    });
  });

  it("max_output_tokens reached: status incomplete, incomplete_details max_output_tokens", async () => {
    const { client } = await openaiTenant();
    const cut = await client.responses.create({ model: "gpt", store: false, max_output_tokens: 2, input: "one two three four" });
    expect(cut).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
    expect(cut.output_text).toBe("echo: one");
  });

  it("text.format json_schema becomes response_format json_schema; json_object too", async () => {
    const { client, upstream } = await openaiTenant();
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false };
    const response = await client.responses.create({
      model: "gpt",
      store: false,
      input: "Rome",
      text: { format: { type: "json_schema", name: "place", schema, strict: true } },
    });
    expect(JSON.parse(response.output_text)).toEqual({ city: "Rome" });
    await client.responses.create({ model: "gpt", store: false, input: "json please", text: { format: { type: "json_object" } } });
    const [a, b] = await openaiSent(upstream);
    expect(a!.response_format).toEqual({ type: "json_schema", json_schema: { name: "place", schema, strict: true } });
    expect(b!.response_format).toEqual({ type: "json_object" });
  });

  it("an input_image (data URL and https) reaches the upstream as an image part", async () => {
    const { client, upstream } = await openaiTenant();
    const response = await client.responses.create({
      model: "gpt",
      store: false,
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "what?" },
            { type: "input_image", image_url: `data:image/png;base64,${PIXEL}`, detail: "auto" },
            { type: "input_image", image_url: "https://example.com/cat.png", detail: "low" },
          ],
        },
      ],
    });
    expect(response.output_text).toBe("echo: what? [2 image(s)]");
    expect((await openaiSent(upstream))[0]!.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "what?" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${PIXEL}`, detail: "auto" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } },
        ],
      },
    ]);
  });
});

describe("function calls", () => {
  it("a round trip: function_call out, then function_call + function_call_output items back as tool_calls and a tool message", async () => {
    const { client, upstream } = await openaiTenant();
    const first = await client.responses.create({ model: "gpt", store: false, tools: [WEATHER], tool_choice: "required", input: "Paris" });
    expect(first.output).toEqual([
      {
        type: "function_call",
        id: expect.stringMatching(/^fc_/),
        call_id: expect.any(String),
        name: "get_weather",
        arguments: expect.any(String),
        status: "completed",
      },
    ]);
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(JSON.parse(call.arguments)).toEqual({ city: "Paris" });
    const second = await client.responses.create({
      model: "gpt",
      store: false,
      tools: [WEATHER],
      input: [{ role: "user", content: "Paris" }, call, { type: "function_call_output", call_id: call.call_id, output: "sunny" }],
    });
    expect(second.output_text).toBe("tool said: sunny");
    const [a, b] = await openaiSent(upstream);
    expect(a).toMatchObject({
      tool_choice: "required",
      tools: [
        { type: "function", function: { name: "get_weather", description: "The weather in a city", parameters: WEATHER.parameters, strict: false } },
      ],
    });
    expect(b!.messages).toEqual([
      { role: "user", content: "Paris" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: call.call_id, type: "function", function: { name: "get_weather", arguments: call.arguments } }],
      },
      { role: "tool", tool_call_id: call.call_id, content: "sunny" },
    ]);
  });

  it("tool_choice {type: function, name}; parallel_tool_calls false keeps only the first call, on every backend", async () => {
    const { client, upstream } = await openaiTenant();
    const named = await client.responses.create({
      model: "gpt",
      store: false,
      tools: [WEATHER, TIME],
      tool_choice: { type: "function", name: "get_time" },
      input: "Oslo",
    });
    expect(named.output.map((o) => (o as { name: string }).name)).toEqual(["get_time"]);
    const both = await client.responses.create({ model: "gpt", store: false, tools: [WEATHER, TIME], input: "parallel Oslo" });
    expect(both.output).toHaveLength(2);
    const one = await client.responses.create({
      model: "gpt",
      store: false,
      tools: [WEATHER, TIME],
      parallel_tool_calls: false,
      input: "parallel Oslo",
    });
    expect(one.output.map((o) => (o as { name: string }).name)).toEqual(["get_weather"]);
    const sent = await openaiSent(upstream);
    expect(sent[0]!.tool_choice).toEqual({ type: "function", function: { name: "get_time" } });
    expect(sent[2]).not.toHaveProperty("parallel_tool_calls");

    const local = await ollamaTenant();
    const onOllama = await local.client.responses.create({
      model: "local",
      store: false,
      tools: [WEATHER],
      parallel_tool_calls: false,
      input: "Oslo",
    });
    expect(onOllama.output).toMatchObject([{ type: "function_call", name: "get_weather" }]);
  });

  it("streamed: a function_call item with its arguments as deltas, then response.completed", async () => {
    const { tenant } = await openaiTenant();
    const response = await post(tenant.userKey, { model: "gpt", store: false, stream: true, tools: [WEATHER], input: "Berlin" });
    expect(response.status).toBe(200);
    const seen = await events(response);
    expect(seen.map((e) => e.event)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      ...seen.filter((e) => e.event === "response.function_call_arguments.delta").map(() => "response.function_call_arguments.delta"),
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const done = seen.find((e) => e.event === "response.function_call_arguments.done")!.data;
    expect(JSON.parse(done.arguments as string)).toEqual({ city: "Berlin" });
    const final = seen.at(-1)!.data.response as OpenAI.Responses.Response;
    expect(final.output).toMatchObject([{ type: "function_call", name: "get_weather", arguments: done.arguments, status: "completed" }]);
  });
});

describe("streamed", () => {
  it("events exactly as OpenAI documents them, in order, numbered; the SDK's stream reads them", async () => {
    const { tenant, client } = await openaiTenant();
    const response = await post(tenant.userKey, { model: "gpt", store: false, stream: true, input: "a b c" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const seen = await events(response);
    const names = seen.map((e) => e.event);
    const pieces = names.filter((n) => n === "response.output_text.delta").length;
    expect(pieces).toBeGreaterThan(1);
    expect(names).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      ...Array<string>(pieces).fill("response.output_text.delta"),
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    for (const [i, e] of seen.entries()) {
      expect(e.data.type).toBe(e.event);
      expect(e.data.sequence_number).toBe(i);
    }
    expect(seen[0]!.data.response).toMatchObject({ object: "response", status: "in_progress", output: [], model: "gpt" });
    expect(deltas(seen)).toBe("echo: a b c");
    expect(seen.find((e) => e.event === "response.output_text.done")!.data.text).toBe("echo: a b c");
    const final = seen.at(-1)!.data.response as OpenAI.Responses.Response;
    expect(final).toMatchObject({
      status: "completed",
      output: [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "echo: a b c" }] }],
      usage: { output_tokens: 4 },
    });

    const sdk = await client.responses.create({ model: "gpt", store: false, stream: true, input: "x y" });
    const types: string[] = [];
    let text = "";
    for await (const event of sdk) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    expect(text).toBe("echo: x y");
    expect(types.at(-1)).toBe("response.completed");
    const streamed = await client.responses.stream({ model: "gpt", store: false, input: "via stream" }).finalResponse();
    expect(streamed.output_text).toBe("echo: via stream");
  });

  it("a stream cut by max_output_tokens ends with response.incomplete (not completed, not failed)", async () => {
    const { tenant } = await openaiTenant();
    const seen = await events(
      await post(tenant.userKey, { model: "gpt", store: false, stream: true, max_output_tokens: 2, input: "one two three four" }),
    );
    const names = seen.map((e) => e.event);
    expect(names.at(-1)).toBe("response.incomplete");
    expect(names).not.toContain("response.completed");
    expect(names).not.toContain("response.failed");
    expect(seen.at(-1)!.data.response).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
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
    const client = openaiClient(tenant.userKey);
    const answered = await client.responses.create({ model: "primary", store: false, input: "first" });
    expect(answered).toMatchObject({ model: "backup", status: "completed" });
    expect(answered.output_text).toBe("echo: first");

    const response = await post(tenant.userKey, { model: "primary", store: false, stream: true, input: "second" });
    expect(response.status).toBe(200);
    const seen = await events(response);
    expect(seen.map((e) => e.event)).not.toContain("response.failed");
    expect(seen.at(-1)!.event).toBe("response.completed");
    expect(deltas(seen)).toBe("echo: second");
    expect(await openaiSent(primaryUp)).toHaveLength(2);
  });

  it("a failure before the first event without a fallback is an HTTP error in OpenAI's shape", async () => {
    const { tenant, upstream } = await openaiTenant(undefined, { max_retries: 0 });
    await fakes.openai.script(upstream, [{ kind: "status", status: 500 }]);
    const response = await post(tenant.userKey, { model: "gpt", store: false, stream: true, input: "x" });
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ error: { message: expect.any(String), type: "upstream_error", param: null, code: "upstream_error" } });
  });

  it("a stream cut after text ends with response.failed (status failed, error) and no response.completed", async () => {
    const { tenant, upstream } = await openaiTenant();
    await fakes.openai.script(upstream, [{ kind: "break_stream", afterChunks: 2 }]);
    const response = await post(tenant.userKey, { model: "gpt", store: false, stream: true, input: "one two three" });
    expect(response.status).toBe(200);
    const seen = await events(response);
    const names = seen.map((e) => e.event);
    expect(names.slice(0, 5)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
    ]);
    expect(names.at(-1)).toBe("response.failed");
    expect(names).not.toContain("response.completed");
    expect(names).not.toContain("response.output_item.done");
    expect(seen.at(-1)!.data.response).toMatchObject({ status: "failed", error: { code: "server_error", message: expect.any(String) } });
  });
});

describe("hints, refusals and errors", () => {
  it("reasoning, include, prompt_cache_key, metadata and web_search are answered, not sent, and named in x-gateway-not-applied (streamed and not)", async () => {
    const { tenant, client, upstream } = await openaiTenant();
    const { data, response } = await client.responses
      .create({
        model: "gpt",
        input: "think",
        reasoning: { effort: "high", summary: "auto" },
        include: ["reasoning.encrypted_content", "web_search_call.action.sources"],
        prompt_cache_key: "k1",
        metadata: { a: "b" },
        tools: [{ type: "web_search" }],
        tool_choice: "auto",
      })
      .withResponse();
    expect(data.output_text).toBe("echo: think");
    expect(response.headers.get("x-gateway-not-applied")).toBe(
      "reasoning, include:reasoning.encrypted_content, include:web_search_call.action.sources, prompt_cache_key, metadata, tools.web_search",
    );
    const streamed = await post(tenant.userKey, {
      model: "gpt",
      stream: true,
      store: false,
      reasoning: { effort: "low" },
      tools: [{ type: "web_search_preview" }, { type: "namespace", name: "ns", tools: [WEATHER] }],
      input: "again",
    });
    expect(streamed.headers.get("x-gateway-not-applied")).toBe("reasoning, tools.web_search_preview, tools.namespace");
    expect((await events(streamed)).at(-1)!.event).toBe("response.completed");
    for (const sent of await openaiSent(upstream)) {
      expect(sent).not.toHaveProperty("tools");
      expect(sent).not.toHaveProperty("tool_choice");
      for (const field of ["reasoning", "include", "prompt_cache_key", "metadata", "store", "web_search", "extra"]) {
        expect(JSON.stringify(sent)).not.toContain(`"${field}"`);
      }
    }
  });

  it("what cannot be honoured is a 400 naming it in OpenAI's shape; nothing reaches the upstream", async () => {
    const { tenant, client, upstream } = await openaiTenant();
    const error = await client.responses.create({ model: "gpt", store: false, input: "x", ...{ conversation: "conv_1" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      message: expect.stringMatching(/^conversation: conversations are not kept/),
      type: "unsupported_feature",
    });
    const refused = async (body: Record<string, unknown>) => {
      const response = await post(tenant.userKey, { model: "gpt", store: false, ...body });
      expect(response.status).toBe(400);
      const json = (await response.json()) as { error: { message: string; type: string; param: null; code: string } };
      expect(Object.keys(json.error).sort()).toEqual(["code", "message", "param", "type"]);
      return json.error.message;
    };
    expect(await refused({ input: "x", tools: [{ type: "code_interpreter", container: { type: "auto" } }, { type: "local_shell" }] })).toMatch(
      /^tools\.1: "local_shell"/,
    );
    expect(await refused({ input: [{ role: "user", content: [{ type: "input_file", file_id: "file_1" }] }] })).toMatch(
      /^input\.0\.content\.0: input_file/,
    );
    expect(await refused({ input: [{ type: "item_reference", id: "x" }] })).toMatch(/^input\.0: "item_reference" items/);
    expect(await refused({ input: "x", background: true })).toMatch(/^background: /);
    expect(await refused({ input: [{ type: "message", role: "user", content: [{ type: "input_text" }] }] })).toMatch(/^input\.0\.content/);
    expect(await refused({ input: [{ type: "function_call", call_id: "c1", name: "f" }] })).toMatch(/^input\.0\.arguments/);
    expect(await refused({ input: "x", frequency_penalty: 1 })).toBe('unknown field(s) "frequency_penalty"');
    expect(await refused({ input: "x", tools: [WEATHER], tool_choice: { type: "function", name: "nope" } })).toMatch(/^tool_choice\.name: /);
    expect(await openaiSent(upstream)).toHaveLength(0);
  });

  it("an unknown model is a 404, an unknown response id too; no key is a 401 (all in OpenAI's shape)", async () => {
    const { client } = await openaiTenant();
    const error = await client.responses.create({ model: "nope", store: false, input: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({ type: "not_found", code: "not_found" });
    for (const method of ["GET", "DELETE"]) {
      const stored = await api(method, "/v1/responses/resp_123", { token: (await openaiTenant()).tenant.userKey });
      expect(stored.status, method).toBe(404);
    }
    const none = await post("", { model: "gpt", input: "x" });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { type: string } }).error.type).toBe("unauthenticated");
  });
});

describe("every backend type and budgets", () => {
  it("huggingface and workers_ai answer too (streamed and not)", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, {
      id: "hf",
      name: "hf",
      backend_type: "huggingface",
      config: { model_name: `org/chat-${Date.now()}`, api_key: "${UPSTREAM_KEY}", base_url: HF, provider: "together", timeout: 5 },
    });
    await registerModel(tenant, {
      id: "wai",
      name: "wai",
      backend_type: "workers_ai",
      config: { model_name: "@cf/meta/llama-3.2-11b-vision-instruct", timeout: 5 },
    });
    const client = openaiClient(tenant.userKey);
    for (const model of ["hf", "wai"]) {
      const response = await client.responses.create({ model, store: false, max_output_tokens: 20, input: `hi ${model}` });
      expect(response, model).toMatchObject({ model, status: "completed" });
      expect(response.output_text, model).toContain(`hi ${model}`);
      const streamed = await client.responses.stream({ model, store: false, max_output_tokens: 20, input: `again ${model}` }).finalResponse();
      expect(streamed.output_text, model).toContain(`again ${model}`);
    }
  });

  it("a budget refusal is a 429 in OpenAI's shape with x-should-retry: false", async () => {
    const { tenant } = await openaiTenant();
    const set = await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, { token: tenant.adminKey, body: { budget: { period: "day", tokens: 5 } } });
    expect(set.status, set.text).toBe(200);
    const response = await post(tenant.userKey, { model: "gpt", store: false, max_output_tokens: 100, input: "x" });
    expect(response.status).toBe(429);
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(await response.json()).toMatchObject({ error: { type: "budget_exceeded", code: "budget_exceeded" } });
  });
});

describe("input_tokens and usage", () => {
  it("input_tokens: the gateway's estimate of what would be sent; nothing reaches the upstream", async () => {
    const { tenant, upstream } = await openaiTenant();
    const count = async (body: Record<string, unknown>) => {
      const response = await post(tenant.userKey, { model: "gpt", ...body }, "/v1/responses/input_tokens");
      expect(response.status).toBe(200);
      return (await response.json()) as { object: string; input_tokens: number };
    };
    const small = await count({ input: "hi" });
    const big = await count({ instructions: "x".repeat(400), tools: [WEATHER], input: "hi" });
    expect(small).toEqual({ object: "response.input_tokens", input_tokens: expect.any(Number) });
    expect(small.input_tokens).toBeGreaterThan(0);
    expect(big.input_tokens).toBeGreaterThan(small.input_tokens + 100);
    expect(await openaiSent(upstream)).toHaveLength(0);
    const unknown = await post(tenant.userKey, { model: "nope", input: "x" }, "/v1/responses/input_tokens");
    expect(unknown.status).toBe(404);
  });

  it("usage is metered with the upstream's reported tokens (GET /api/v1/usage)", async () => {
    const { tenant, client } = await openaiTenant();
    const answered = await client.responses.create({ model: "gpt", store: false, input: "count me please" });
    const streamed = await client.responses.stream({ model: "gpt", store: false, input: "and me" }).finalResponse();
    expect(await usageTotals(tenant.adminKey)).toMatchObject({
      requests: 2,
      prompt_tokens: answered.usage!.input_tokens + streamed.usage!.input_tokens,
      completion_tokens: answered.usage!.output_tokens + streamed.usage!.output_tokens,
      estimated_requests: 0,
    });
  });
});

describe("stored responses", () => {
  it("store (the default) keeps the answer: GET returns it, previous_response_id continues it, DELETE drops it; store: false keeps nothing", async () => {
    const { client, upstream } = await openaiTenant();
    const first = await client.responses.create({ model: "gpt", instructions: "first rules", tools: [WEATHER], input: "Paris" });
    expect(first).toMatchObject({ store: true, previous_response_id: null });
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: "function_call", name: "get_weather" });
    expect(await client.responses.retrieve(first.id)).toEqual(first);

    // The function call's output continues the stored conversation; the first instructions are not carried over.
    const second = await client.responses.create({
      model: "gpt",
      instructions: "second rules",
      previous_response_id: first.id,
      tools: [WEATHER],
      input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }],
    });
    expect(second).toMatchObject({ previous_response_id: first.id, output_text: "tool said: sunny" });
    expect((await openaiSent(upstream))[1]!.messages).toEqual([
      { role: "system", content: "second rules" },
      { role: "user", content: "Paris" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: call.call_id, type: "function", function: { name: "get_weather", arguments: call.arguments } }],
      },
      { role: "tool", tool_call_id: call.call_id, content: "sunny" },
    ]);
    // A chain: the third continues the second, which held the first.
    const third = await client.responses.create({ model: "gpt", previous_response_id: second.id, input: "and tomorrow?" });
    expect(third.output_text).toBe("echo: and tomorrow?");
    expect(((await openaiSent(upstream))[2]!.messages as unknown[]).length).toBe(5);

    expect(await client.responses.delete(first.id)).toMatchObject({ id: first.id, object: "response", deleted: true });
    const gone = await client.responses.retrieve(first.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    const again = await client.responses.delete(first.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(OpenAI.NotFoundError);
    const continuing = await client.responses.create({ model: "gpt", previous_response_id: first.id, input: "x" }).catch((e: unknown) => e);
    expect(continuing).toBeInstanceOf(OpenAI.BadRequestError);
    expect((continuing as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/previous_response_id: no stored response/);

    const unstored = await client.responses.create({ model: "gpt", store: false, input: "forget me" });
    expect(unstored).toMatchObject({ store: false });
    expect(await client.responses.retrieve(unstored.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("a streamed answer is stored once complete; another tenant's id is not found, as a nonexistent one", async () => {
    const { tenant, client } = await openaiTenant();
    const seen = await events(await post(tenant.userKey, { model: "gpt", stream: true, input: "keep this" }));
    const final = seen.at(-1)!.data.response as OpenAI.Responses.Response;
    expect(seen.at(-1)!.event).toBe("response.completed");
    expect(await client.responses.retrieve(final.id)).toMatchObject({ id: final.id, status: "completed", store: true, output: final.output });

    const other = await openaiTenant();
    expect(await other.client.responses.retrieve(final.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await other.client.responses.delete(final.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const continuing = await other.client.responses.create({ model: "gpt", previous_response_id: final.id, input: "x" }).catch((e: unknown) => e);
    expect(continuing).toBeInstanceOf(OpenAI.BadRequestError);
    // Still there for its own tenant.
    expect((await client.responses.retrieve(final.id)).id).toBe(final.id);
  });

  it("a cut stream is not stored", async () => {
    const { tenant, client, upstream } = await openaiTenant();
    await fakes.openai.script(upstream, [{ kind: "break_stream", afterChunks: 2 }]);
    const seen = await events(await post(tenant.userKey, { model: "gpt", stream: true, input: "one two three" }));
    expect(seen.at(-1)!.event).toBe("response.failed");
    const id = (seen[0]!.data.response as { id: string }).id;
    expect(await client.responses.retrieve(id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("what Codex sends (a hand-written shape)", () => {
  it("openai_compatible and ollama: answered as a stream with a function call, hints named, the conversation translated", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("codex-gpt");
    const local = uniqueId("codex-llama");
    await fakes.ollama.control("pull", { model: local });
    await registerModel(tenant, { ...openaiModel("codex-gpt", upstream), features: ["tools"] });
    await registerModel(tenant, {
      id: "codex-local",
      name: "codex",
      backend_type: "ollama",
      config: { base_url: OLLAMA, model_name: local, timeout: 5 },
      features: ["tools"],
    });
    for (const model of ["codex-gpt", "codex-local"]) {
      const response = await post(tenant.userKey, codexRequest(model));
      expect(response.status, model).toBe(200);
      expect(response.headers.get("x-gateway-not-applied"), model).toBe(CODEX_NOT_APPLIED.join(", "));
      const seen = await events(response);
      expect(seen.at(-1)!.event, model).toBe("response.completed");
      expect(seen.find((e) => e.event === "response.output_item.added")!.data.item).toMatchObject({ type: "function_call", name: "shell" });
    }
    const [sent] = await openaiSent(upstream);
    expect(sent!.messages).toEqual([
      { role: "system", content: "You are Codex, a coding agent running in a terminal. Be concise." },
      { role: "system", content: "<permissions instructions>sandbox: read-only</permissions instructions>" },
      { role: "user", content: "<environment_context><cwd>/repo</cwd></environment_context>" },
      { role: "user", content: "List the files in the repository." },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_shell_1", type: "function", function: { name: "shell", arguments: '{"command":["ls"]}' } }],
      },
      { role: "tool", tool_call_id: "call_shell_1", content: "README.md\nsrc" },
      { role: "assistant", content: "README.md and src." },
      { role: "user", content: "Now list the files again please." },
    ]);
    expect((sent!.tools as { function: { name: string } }[]).map((t) => t.function.name)).toEqual(["shell", "update_plan"]);
    expect(sent).not.toHaveProperty("parallel_tool_calls");

    // A plain text turn (no tools) answers with text on both.
    for (const model of ["codex-gpt", "codex-local"]) {
      const body = { ...codexRequest(model, "say hi"), tools: [], tool_choice: "auto" };
      const seen = await events(await post(tenant.userKey, body));
      expect(seen.at(-1)!.event, model).toBe("response.completed");
      expect(deltas(seen), model).toContain("say hi");
    }
  });
});
