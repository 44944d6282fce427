/**
 * The `anthropic` backend against the fake Anthropic Messages API
 * (tests/support/fake-anthropic.ts), through MCP and /v1/chat/completions as
 * clients use it: the request translated into a Messages body with the key
 * and version headers, answers and streams translated back, tools round
 * trip, refusals by name, the health check, retries of an overloaded upstream.
 */
import { describe, expect, it } from "vitest";
import { anthropicModel } from "../support/models";
import { api, callTool, CANARY, createTenant, fakes, openaiClient, registerModel, WEATHER_TOOL } from "./helpers";

let counter = 0;
const fresh = (prefix: string) => `${prefix}-${Date.now()}${++counter}`;

async function setup(modelName: string, config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  const registered = await registerModel(tenant, anthropicModel("claude", modelName, config));
  return { tenant, registered };
}

interface Sent {
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}
const sent = async (model: string) => (await fakes.anthropic.requests(model)).filter((r) => r.path === "/v1/messages") as Sent[];

describe("anthropic backend: chat by translation", () => {
  it("MCP chat: a Messages body with system, sampling and the key in x-api-key; the answer and its usage back", async () => {
    const name = fresh("claude-mcp");
    const { tenant } = await setup(name);
    const res = await callTool(tenant.userKey, "chat", {
      model_id: "claude",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there" },
      ],
      max_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      stop: ["END"],
    });
    expect(res.tool.isError, JSON.stringify(res.tool)).toBeFalsy();
    expect(res.tool.structuredContent).toMatchObject({ text: "claude: hello there", finish_reason: "stop", model_id: "claude" });
    const [request, ...more] = await sent(name);
    expect(more).toEqual([]);
    expect(request!.headers["x-api-key"]).toBe(CANARY);
    expect(request!.headers["anthropic-version"]).toBe("2023-06-01");
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.body).toEqual({
      model: name,
      system: "be brief",
      messages: [{ role: "user", content: [{ type: "text", text: "hello there" }] }],
      max_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ["END"],
    });
    expect(JSON.stringify(res)).not.toContain(CANARY);
  });

  it("/v1/chat/completions, streamed and not; max_tokens defaults (Anthropic requires it); usage with cache tokens", async () => {
    const name = fresh("claude-v1");
    const { tenant } = await setup(name);
    const openai = openaiClient(tenant.userKey);
    await fakes.anthropic.script(name, [{ kind: "cache_usage", read: 40, write: 8 }]);
    const whole = await openai.chat.completions.create({ model: "claude", messages: [{ role: "user", content: "one two" }] });
    expect(whole.choices[0]!.message.content).toBe("claude: one two");
    expect(whole.choices[0]!.finish_reason).toBe("stop");
    const [first] = await sent(name);
    expect(first!.body.max_tokens).toBe(4096);
    // Anthropic's input_tokens leave out the cached and cache-written tokens; OpenAI's prompt_tokens hold them.
    const input = JSON.stringify(first!.body.messages).split(/\s+/).filter(Boolean).length;
    expect(whole.usage).toMatchObject({ prompt_tokens: input + 48, prompt_tokens_details: { cached_tokens: 40 } });

    let text = "";
    let finish: string | null | undefined;
    for await (const chunk of await openai.chat.completions.create({
      model: "claude",
      messages: [{ role: "user", content: "three four five" }],
      stream: true,
    })) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe("claude: three four five");
    expect(finish).toBe("stop");
    expect((await sent(name))[1]!.body.stream).toBe(true);
  });

  it("tools round trip: tool_use comes back as tool_calls (streamed and not), the tool result goes up as a tool_result block", async () => {
    const name = fresh("claude-tools");
    const { tenant } = await setup(name);
    const openai = openaiClient(tenant.userKey);
    const ask = { model: "claude", messages: [{ role: "user" as const, content: "Paris" }], tools: [WEATHER_TOOL], tool_choice: "required" as const };
    const called = await openai.chat.completions.create(ask);
    const call = called.choices[0]!.message.tool_calls![0]! as { id: string; function: { name: string; arguments: string } };
    expect(called.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call.function.name).toBe(WEATHER_TOOL.function.name);
    expect(JSON.parse(call.function.arguments)).toMatchObject({ city: "Paris" });
    const [up] = await sent(name);
    expect(up!.body.tool_choice).toEqual({ type: "any" });
    expect(up!.body.tools).toEqual([
      { name: WEATHER_TOOL.function.name, description: WEATHER_TOOL.function.description, input_schema: WEATHER_TOOL.function.parameters },
    ]);

    const streamed: { id?: string; name?: string; args: string } = { args: "" };
    for await (const chunk of await openai.chat.completions.create({ ...ask, stream: true })) {
      for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
        streamed.id ??= d.id;
        streamed.name ??= d.function?.name;
        streamed.args += d.function?.arguments ?? "";
      }
    }
    expect(streamed).toMatchObject({ id: call.id, name: WEATHER_TOOL.function.name });
    expect(JSON.parse(streamed.args)).toEqual(JSON.parse(call.function.arguments));

    const answered = await openai.chat.completions.create({
      model: "claude",
      tools: [WEATHER_TOOL],
      messages: [...ask.messages, called.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "sunny, 21 C" }],
    });
    expect(answered.choices[0]!.message.content).toBe("tool said: sunny, 21 C");
    const last = (await sent(name)).at(-1)!;
    expect(last.body.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Paris" }] },
      {
        role: "assistant",
        content: [{ type: "tool_use", id: call.id, name: WEATHER_TOOL.function.name, input: JSON.parse(call.function.arguments) }],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny, 21 C" }] },
    ]);
  });

  it("images go up as image blocks (a URL source, or base64 from a data: URL); MCP complete is one user turn", async () => {
    const name = fresh("claude-vision");
    const { tenant } = await setup(name);
    const pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
    const res = await openaiClient(tenant.userKey).chat.completions.create({
      model: "claude",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what is this" },
            { type: "image_url", image_url: { url: "https://images.example.com/cat.png" } },
            { type: "image_url", image_url: { url: `data:image/png;base64,${pixel}` } },
          ],
        },
      ],
    });
    expect(res.choices[0]!.message.content).toBe("claude: what is this [2 image(s)]");
    expect((await sent(name))[0]!.body.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "what is this" },
          { type: "image", source: { type: "url", url: "https://images.example.com/cat.png" } },
          { type: "image", source: { type: "base64", media_type: "image/png", data: pixel } },
        ],
      },
    ]);

    const completed = await callTool(tenant.userKey, "complete", { model_id: "claude", prompt: "once upon", max_tokens: 20 });
    expect(completed.tool.structuredContent).toMatchObject({ text: "claude: once upon", finish_reason: "stop" });
    expect((await sent(name))[1]!.body).toMatchObject({
      messages: [{ role: "user", content: [{ type: "text", text: "once upon" }] }],
      max_tokens: 20,
    });
  });

  it("a parameter Anthropic has no such thing as is refused by name, and nothing is sent", async () => {
    const name = fresh("claude-refuse");
    const { tenant } = await setup(name);
    for (const [field, value] of [
      ["seed", 7],
      ["frequency_penalty", 0.5],
    ] as const) {
      const res = await api<{ error: { message: string } }>("POST", "/v1/chat/completions", {
        token: tenant.userKey,
        body: { model: "claude", messages: [{ role: "user", content: "x" }], [field]: value },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(field);
    }
    const json = await api<{ error: { message: string } }>("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: { model: "claude", messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } },
    });
    expect(json.status).toBe(400);
    expect(json.body.error.message).toContain("response_format");
    expect(await sent(name)).toEqual([]);
  });

  it("structured output goes up as output_config.format", async () => {
    const name = fresh("claude-json");
    const { tenant } = await setup(name);
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false };
    const res = await openaiClient(tenant.userKey).chat.completions.create({
      model: "claude",
      messages: [{ role: "user", content: "Rome" }],
      response_format: { type: "json_schema", json_schema: { name: "place", schema } },
    });
    expect(JSON.parse(res.choices[0]!.message.content!)).toEqual({ city: "Rome" });
    expect((await sent(name))[0]!.body.output_config).toEqual({ format: { type: "json_schema", schema } });
  });
});

describe("anthropic backend: health and faults", () => {
  it("health check: GET /v1/models/{model}, no tokens spent; an unknown model is an error", async () => {
    const name = fresh("claude-health");
    const { registered } = await setup(name);
    expect((registered as { status: string }).status).toBe("available");
    const checks = await fakes.anthropic.requests(name);
    expect(checks.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v1/models/${name}`]);
    expect(checks[0]!.headers["x-api-key"]).toBe(CANARY);

    const tenant = await createTenant({ grantCanary: true });
    const missing = await registerModel<{ status: string; status_detail: string }>(tenant, anthropicModel("gone", fresh("unknown-claude")));
    // One failed probe: degraded (the health rules wait for consecutive failures before "error"), saying why.
    expect(missing.status).toBe("degraded");
    expect(missing.status_detail).toContain("404");
  });

  it("retries an overloaded upstream (529) and a rate limit (429 with retry-after), then answers", async () => {
    const name = fresh("claude-529");
    const { tenant } = await setup(name, { max_retries: 2 });
    await fakes.anthropic.script(name, [
      { kind: "status", status: 529 },
      { kind: "status", status: 429, retryAfter: "0" },
    ]);
    const res = await openaiClient(tenant.userKey).chat.completions.create({ model: "claude", messages: [{ role: "user", content: "again" }] });
    expect(res.choices[0]!.message.content).toBe("claude: again");
    expect(await sent(name)).toHaveLength(3);
  });

  it("a 400 invalid_request_error is final and its message reaches the caller", async () => {
    const name = fresh("claude-400");
    const { tenant } = await setup(name, { max_retries: 2 });
    await fakes.anthropic.script(name, [
      { kind: "status", status: 400, body: { type: "error", error: { type: "invalid_request_error", message: "messages: bad turn" } } },
    ]);
    const res = await api<{ error: { message: string } }>("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      body: { model: "claude", messages: [{ role: "user", content: "x" }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("messages: bad turn");
    expect(await sent(name)).toHaveLength(1);
  });
});
