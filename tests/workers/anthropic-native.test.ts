/**
 * /v1/messages on a model of backend type `anthropic`: the body goes upstream
 * as the caller wrote it (only `model` replaced), its events come back as the
 * upstream sent them, and the gateway's guarantees hold: held until the first
 * content (a failure before it goes to a fallback, here a translated Ollama
 * model), usage metered from message_start / message_delta with cache tokens,
 * and a stream broken after content ends with an `error` event. Driven by
 * Anthropic's own SDK inside workerd and by raw requests where the bytes matter.
 */
import Anthropic from "@anthropic-ai/sdk";
import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { CLAUDE_CODE_HEADERS, claudeCodeRequest } from "../support/claude-code-request";
import { sseEvents } from "../support/sse-events";
import { anthropicModel } from "../support/models";
import { anthropicClient, api, CANARY, createTenant, fakes, registerModel, uniqueId } from "./helpers";

async function post(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return exports.default.fetch(
    new Request("http://gateway.test/v1/messages?beta=true", {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
  );
}

async function nativeTenant(config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  const upstream = uniqueId("claude");
  await registerModel(tenant, anthropicModel("claude", upstream, config));
  return { tenant, upstream };
}

const messagesSent = async (upstream: string) => (await fakes.anthropic.requests(upstream)).filter((r) => r.path === "/v1/messages");

describe("/v1/messages on an anthropic model: passed through", () => {
  it("the body arrives as written (cache_control, thinking, metadata, context_management), the message comes back as sent", async () => {
    const { tenant, upstream } = await nativeTenant();
    const body = {
      model: "claude",
      max_tokens: 300,
      system: [{ type: "text", text: "You are terse.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: [{ type: "text", text: "hello native", cache_control: { type: "ephemeral", ttl: "1h" } }] }],
      thinking: { type: "enabled", budget_tokens: 1024 },
      metadata: { user_id: "u-1" },
      context_management: { edits: [{ type: "clear_tool_uses_20250919" }] },
      top_k: 5,
    };
    const response = await post(tenant.userKey, body, { "anthropic-version": "2023-06-01", "anthropic-beta": "context-management-2025-06-27" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-gateway-not-applied")).toBeNull();
    const message = (await response.json()) as Record<string, unknown>;
    expect(message).toMatchObject({
      id: "msg_fake",
      model: upstream,
      content: [
        { type: "thinking", thinking: "Let me think.", signature: "sig_fake" },
        { type: "text", text: "claude: hello native" },
      ],
      stop_reason: "end_turn",
    });
    const [sent] = await messagesSent(upstream);
    expect(sent!.body).toEqual({ ...body, model: upstream });
    expect(sent!.headers["anthropic-beta"]).toBe("context-management-2025-06-27");
    expect(sent!.headers["anthropic-version"]).toBe("2023-06-01");
    expect(sent!.headers["x-api-key"]).toBe(CANARY);
    expect(JSON.stringify(message)).not.toContain(CANARY);

    // The SDK reads it like Anthropic's own answer.
    const viaSdk = await anthropicClient(tenant.userKey).messages.create({
      model: "claude",
      max_tokens: 50,
      messages: [{ role: "user", content: "sdk" }],
    });
    expect(viaSdk.content).toEqual([{ type: "text", text: "claude: sdk" }]);
  });

  it("Claude Code's request, streamed: sent unchanged, the upstream's exact event sequence back, usage with cache tokens metered", async () => {
    const { tenant, upstream } = await nativeTenant();
    await fakes.anthropic.script(upstream, [{ kind: "cache_usage", read: 1000, write: 200 }]);
    const body = claudeCodeRequest("claude");
    const response = await post(tenant.userKey, body, CLAUDE_CODE_HEADERS);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-gateway-not-applied")).toBeNull();
    const events = await sseEvents(response);
    const [sent] = await messagesSent(upstream);
    expect(sent!.body).toEqual({ ...body, model: upstream });
    expect(sent!.headers["anthropic-beta"]).toBe(CLAUDE_CODE_HEADERS["anthropic-beta"]);

    // The fake answers a thinking block, then the text "tool said: ..." word by word.
    const text = events
      .filter((e) => e.event === "content_block_delta" && (e.data.delta as { type: string }).type === "text_delta")
      .map((e) => (e.data.delta as { text: string }).text);
    expect(text.join("")).toMatch(/^tool said: /);
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "ping",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      ...text.map(() => "content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(events.every((e) => e.data.type === e.event)).toBe(true);
    const start = events[0]!.data.message as { usage: Record<string, number> };
    expect(start.usage).toMatchObject({ cache_read_input_tokens: 1000, cache_creation_input_tokens: 200 });
    const outputTokens = (events.at(-2)!.data.usage as { output_tokens: number }).output_tokens;

    const report = await api<{ totals: Record<string, number> }>("GET", "/api/v1/usage", { token: tenant.adminKey });
    expect(report.body.totals).toMatchObject({
      requests: 1,
      prompt_tokens: start.usage.input_tokens! + 1200,
      completion_tokens: outputTokens,
      cached_tokens: 1000,
      cache_write_tokens: 200,
      estimated_requests: 0,
    });
  });

  it("the SDK's stream helper reads the passed-through events; tools of any type go up as written", async () => {
    const { tenant, upstream } = await nativeTenant();
    const tools = [
      { name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
      { type: "web_search_20250305", name: "web_search", max_uses: 2 },
    ];
    const stream = anthropicClient(tenant.userKey).messages.stream({
      model: "claude",
      max_tokens: 100,
      messages: [{ role: "user", content: "Oslo" }],
      tools: tools as Anthropic.ToolUnion[],
    });
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    expect(final.content).toEqual([{ type: "tool_use", id: expect.stringMatching(/^toolu_/), name: "get_weather", input: { city: "Oslo" } }]);
    expect((await messagesSent(upstream))[0]!.body.tools).toEqual(tools);
  });
  it("a secret in the upstream's answer is redacted in the passed-through events and message", async () => {
    const { tenant } = await nativeTenant();
    const ask = { model: "claude", max_tokens: 50, messages: [{ role: "user", content: `the key is ${CANARY} ok` }] };
    const events = await sseEvents(await post(tenant.userKey, { ...ask, stream: true }));
    const text = events
      .filter((e) => e.event === "content_block_delta")
      .map((e) => (e.data.delta as { text: string }).text)
      .join("");
    expect(text).toMatch(/^claude: the key is .+ ok$/);
    expect(JSON.stringify(events)).not.toContain(CANARY);
    expect(events.at(-1)!.event).toBe("message_stop");
    const whole = await (await post(tenant.userKey, ask)).text();
    expect(whole).toContain("claude: the key is");
    expect(whole).not.toContain(CANARY);
  });

  it("a secret split across a tool call's input_json_delta events never goes out, whole or in part", async () => {
    const { tenant } = await nativeTenant();
    const tools = [{ name: "lookup", description: "Looks up a key.", input_schema: { type: "object", properties: { key: { type: "string" } } } }];
    // The fake calls the tool with these arguments, its input JSON in two halves: the secret spans both.
    const ask = { model: "claude", max_tokens: 50, tools, stream: true, messages: [{ role: "user", content: `[call lookup {"key":"${CANARY}"}]` }] };
    const events = await sseEvents(await post(tenant.userKey, ask));
    const json = events
      .filter((e) => e.event === "content_block_delta")
      .map((e) => (e.data.delta as { partial_json: string }).partial_json)
      .join("");
    expect(JSON.parse(json)).toEqual({ key: "[redacted]" });
    expect(JSON.stringify(events)).not.toContain(CANARY.slice(0, 8));
    expect(events.at(-1)!.event).toBe("message_stop");
  });
});

describe("count_tokens on an anthropic model", () => {
  const count = (key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    exports.default.fetch(
      new Request("http://gateway.test/v1/messages/count_tokens", {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers },
        body: JSON.stringify(body),
      }),
    );

  it("is the upstream's own count of the body as written (cache_control, thinking and beta flags included)", async () => {
    const { tenant, upstream } = await nativeTenant();
    const body = {
      model: "claude",
      system: [{ type: "text", text: "Be terse.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: "how many tokens is this" }],
      thinking: { type: "enabled", budget_tokens: 1024 },
    };
    const response = await count(tenant.userKey, body, { "anthropic-beta": "token-counting-2024-11-01" });
    expect(response.status).toBe(200);
    // The fake counts 1000 plus the words it was sent: the gateway's estimate would be far less.
    const { input_tokens } = (await response.json()) as { input_tokens: number };
    expect(input_tokens).toBeGreaterThan(1000);
    const [sent] = (await fakes.anthropic.requests(upstream)).filter((r) => r.path === "/v1/messages/count_tokens");
    expect(sent!.body).toEqual({ ...body, model: upstream });
    expect(sent!.headers["anthropic-beta"]).toBe("token-counting-2024-11-01");
    expect(sent!.headers["x-api-key"]).toBe(CANARY);
  });

  it("an upstream that cannot count now (529): the gateway's estimate; a body the upstream refuses: its 400, redacted", async () => {
    const { tenant, upstream } = await nativeTenant({ max_retries: 0 });
    await fakes.anthropic.script(upstream, [{ kind: "status", status: 529 }]);
    const estimated = await count(tenant.userKey, { model: "claude", messages: [{ role: "user", content: "hi" }] });
    expect(estimated.status).toBe(200);
    expect(((await estimated.json()) as { input_tokens: number }).input_tokens).toBeLessThan(1000);
    const refused = await count(tenant.userKey, { model: "claude", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringMatching(/max_tokens/) },
    });
  });
});

describe("/v1/messages on an anthropic model: failures", () => {
  it("a failure before the first event falls over to a translated Ollama fallback (streamed and not)", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("claude-down");
    const local = uniqueId("llama-backup");
    await fakes.ollama.control("pull", { model: local });
    await registerModel(tenant, {
      id: "local",
      name: "local",
      backend_type: "ollama",
      config: { base_url: inject("ollamaUrl"), model_name: local, timeout: 5 },
    });
    await registerModel(tenant, { ...anthropicModel("claude", upstream, { max_retries: 0 }), fallbacks: ["local"] });
    await fakes.anthropic.script(upstream, [
      { kind: "status", status: 529 },
      { kind: "status", status: 500 },
    ]);
    const body = { model: "claude", max_tokens: 50, messages: [{ role: "user", content: "who answers" }], thinking: { type: "adaptive" } };

    const whole = await post(tenant.userKey, body);
    expect(whole.status).toBe(200);
    const message = (await whole.json()) as { model: string; content: { text: string }[] };
    expect(message.model).toBe("local");
    expect(message.content[0]!.text).toContain("who answers");
    // The fallback could not use the thinking hint: named, as on any translated model.
    expect(whole.headers.get("x-gateway-not-applied")).toBe("thinking");

    const streamed = await post(tenant.userKey, { ...body, stream: true });
    expect(streamed.status).toBe(200);
    const events = await sseEvents(streamed);
    expect(events[0]!.event).toBe("message_start");
    expect(events.map((e) => e.event)).not.toContain("error");
    expect(events.at(-1)!.event).toBe("message_stop");
    const text = events
      .filter((e) => e.event === "content_block_delta")
      .map((e) => (e.data.delta as { text: string }).text)
      .join("");
    expect(text).toContain("who answers");
    expect(await messagesSent(upstream)).toHaveLength(2);
    // Both say which model was asked for and why it did not answer: the message, and the stream's message_delta.
    const why = (status: string) => ({ requested: "claude", attempts: [{ model_id: "claude", error: expect.stringContaining(status) }] });
    expect(message).toMatchObject({ fallback: why("529") });
    expect(events.find((e) => e.event === "message_delta")!.data).toMatchObject({ fallback: why("500") });
  });

  it("answered by another anthropic model, its own events pass through, and its message_delta carries the gateway's fallback", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const down = uniqueId("claude-down");
    const spare = uniqueId("claude-spare");
    await registerModel(tenant, anthropicModel("spare", spare));
    await registerModel(tenant, { ...anthropicModel("claude", down, { max_retries: 0 }), fallbacks: ["spare"] });
    await fakes.anthropic.script(down, [{ kind: "status", status: 500 }]);
    const response = await post(tenant.userKey, {
      model: "claude",
      max_tokens: 50,
      stream: true,
      messages: [{ role: "user", content: "who answers" }],
    });
    const events = await sseEvents(response);
    expect(events.map((e) => e.event).slice(-2)).toEqual(["message_delta", "message_stop"]);
    const delta = events.at(-2)!.data;
    // The upstream's own message_delta (its usage), plus the gateway's word on who answered.
    expect(delta).toMatchObject({
      delta: { stop_reason: "end_turn" },
      usage: { output_tokens: expect.any(Number) },
      fallback: { requested: "claude", attempts: [{ model_id: "claude" }] },
    });
    expect(await messagesSent(spare)).toHaveLength(1);
  });

  it("a stream cut after text, or an upstream error event after it, ends with event: error and no message_stop, the text kept", async () => {
    const { tenant, upstream } = await nativeTenant();
    await fakes.anthropic.script(upstream, [{ kind: "cut_after_text" }, { kind: "error_after_text" }]);
    for (const round of ["cut", "error event"]) {
      const response = await post(tenant.userKey, {
        model: "claude",
        max_tokens: 50,
        stream: true,
        messages: [{ role: "user", content: "one two three" }],
      });
      expect(response.status, round).toBe(200);
      const events = await sseEvents(response);
      expect(
        events.map((e) => e.event),
        round,
      ).not.toContain("message_stop");
      expect(events.at(-1), round).toMatchObject({ event: "error", data: { type: "error", error: { type: "api_error" } } });
      expect(events.find((e) => e.event === "content_block_delta")!.data.delta, round).toEqual({ type: "text_delta", text: "claude: " });
    }
    const report = await api<{ totals: Record<string, number> }>("GET", "/api/v1/usage", { token: tenant.adminKey });
    expect(report.body.totals).toMatchObject({ requests: 2, errors: 2 });
  });

  it("a failure before the first event with no fallback is an HTTP error in Anthropic's shape; 529 is retried first", async () => {
    const { tenant, upstream } = await nativeTenant({ max_retries: 1 });
    await fakes.anthropic.script(upstream, [
      { kind: "status", status: 529 },
      { kind: "status", status: 529 },
    ]);
    const response = await post(tenant.userKey, { model: "claude", max_tokens: 50, stream: true, messages: [{ role: "user", content: "x" }] });
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ type: "error", error: { type: "api_error", message: expect.stringContaining("529") } });
    expect(await messagesSent(upstream)).toHaveLength(2);
  });
});
