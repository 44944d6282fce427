/**
 * End to end for the Anthropic Messages API: the official `@anthropic-ai/sdk`
 * pointed at `wrangler dev` with a tenant key sent as `x-api-key` (as Claude
 * Code sends it), against models on the fake OpenAI-compatible upstream and the
 * fake Ollama: a message, a stream read by the SDK, a tool round trip, a fault
 * before the first event (an HTTP error) and after it (an error event), a
 * native stream cut after text and finished by a fallback that takes a
 * prefill (the SDK's message whole), a secret split across a native tool
 * call's deltas, and neither the upstream secret nor the key in any response
 * or log.
 */
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { anthropicModel } from "../support/models";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { expectNotInLogs, fakes, gatewayFor, ResponseRecorder, type Tenant } from "./helpers";

const CANARY = `sk-canary-e2e-${crypto.randomUUID().replace(/-/g, "")}`;
const openaiUrl = inject("openaiUrl");
const ollamaUrl = inject("ollamaUrl");

const RUN = String(Date.now() % 1e8);
const UP_CHAT = `gpt-e2e-msg-${RUN}`;
const UP_OLLAMA = `e2e-msg-llm-${RUN}`;
const UP_CLAUDE = `claude-e2e-cut-${RUN}`;
const UP_CLAUDE_BACKUP = `claude-e2e-backup-${RUN}`;

let dev: WranglerDev;
const recorder = new ResponseRecorder();
const { createTenant, registerModel } = gatewayFor(recorder, () => dev);
let tenant: Tenant;
let anthropic: Anthropic;

const WEATHER: Anthropic.Tool = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

beforeAll(async () => {
  await fakes.ollama.control("pull", { model: UP_OLLAMA });
  dev = await startWranglerDev({ upstreamKey: CANARY });
  tenant = await createTenant({ id: "claude", name: "Anthropic SDK users", grantCanary: true });
  await registerModel(tenant, {
    id: "msg-chat",
    name: "Chat on the fake OpenAI",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UP_CHAT, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
    features: ["tools"],
  });
  await registerModel(tenant, {
    id: "msg-ollama",
    name: "Chat on the fake Ollama",
    backend_type: "ollama",
    config: { base_url: ollamaUrl, model_name: UP_OLLAMA, max_retries: 0 },
  });
  // Native (passed through) on the fake Anthropic API; the backup takes a prefill, as anthropic models do by default.
  await registerModel(tenant, anthropicModel("claude-backup", UP_CLAUDE_BACKUP));
  await registerModel(tenant, { ...anthropicModel("claude", UP_CLAUDE, { max_retries: 0 }), fallbacks: ["claude-backup"] });
  anthropic = new Anthropic({
    apiKey: null,
    authToken: null,
    defaultHeaders: { "x-api-key": tenant.userKey },
    baseURL: dev.url,
    maxRetries: 0,
    timeout: 20_000,
    fetch: (input: string | URL | Request, init?: RequestInit) => recorder.fetch(input instanceof Request ? input.url : input, init),
  });
});

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

describe("the official Anthropic client against /v1/messages", () => {
  it("messages.create on both backends; the upstream gets the resolved secret", async () => {
    const message = await anthropic.messages.create({
      model: "msg-chat",
      max_tokens: 64,
      system: "be brief",
      messages: [{ role: "user", content: "hello from the anthropic sdk" }],
    });
    expect(message).toMatchObject({
      type: "message",
      model: "msg-chat",
      content: [{ type: "text", text: "echo: hello from the anthropic sdk" }],
      stop_reason: "end_turn",
    });
    const [call] = (await fakes.openai.requests(UP_CHAT)).filter((r) => JSON.stringify(r.body).includes("hello from the anthropic sdk"));
    expect(call!.headers.authorization).toBe(`Bearer ${CANARY}`);

    const local = await anthropic.messages.create({ model: "msg-ollama", max_tokens: 64, messages: [{ role: "user", content: "hi" }] });
    expect(local.content).toEqual([{ type: "text", text: "ollama: hi" }]);
  });

  it("messages.stream: the SDK reads the events into the message; Claude Code's ?beta=true path and hints work", async () => {
    const stream = anthropic.messages.stream(
      { model: "msg-chat", max_tokens: 64, thinking: { type: "adaptive" }, messages: [{ role: "user", content: "a b c" }] },
      { headers: { "anthropic-beta": "claude-code-20250219" }, query: { beta: "true" } },
    );
    const names: string[] = [];
    stream.on("streamEvent", (event) => names.push(event.type));
    const message = await stream.finalMessage();
    expect(message.content).toEqual([{ type: "text", text: "echo: a b c" }]);
    expect(names[0]).toBe("message_start");
    expect(names.slice(-2)).toEqual(["message_delta", "message_stop"]);
    const { response } = await stream.withResponse();
    expect(response.headers.get("x-gateway-not-applied")).toBe("thinking, anthropic-beta:claude-code-20250219");
  });

  it("a tool round trip", async () => {
    const first = await anthropic.messages.create({
      model: "msg-chat",
      max_tokens: 64,
      tools: [WEATHER],
      messages: [{ role: "user", content: "Paris" }],
    });
    const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")!;
    expect(use).toMatchObject({ name: "get_weather", input: { city: "Paris" } });
    const second = await anthropic.messages.create({
      model: "msg-chat",
      max_tokens: 64,
      tools: [WEATHER],
      messages: [
        { role: "user", content: "Paris" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "sunny" }] },
      ],
    });
    expect(second.content).toEqual([{ type: "text", text: "tool said: sunny" }]);
  });

  it("a fault before the first event is an HTTP error the SDK raises; after it, an error event the SDK raises too", async () => {
    await fakes.openai.script(UP_CHAT, [{ kind: "status", status: 500 }]);
    const before = await anthropic.messages
      .stream({ model: "msg-chat", max_tokens: 64, messages: [{ role: "user", content: "x" }] })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(before).toBeInstanceOf(Anthropic.APIError);
    expect((before as InstanceType<typeof Anthropic.APIError>).status).toBe(502);

    await fakes.openai.script(UP_CHAT, [{ kind: "break_stream", afterChunks: 1 }]);
    const texts: string[] = [];
    const after = await anthropic.messages
      .stream({ model: "msg-chat", max_tokens: 64, messages: [{ role: "user", content: "one two three" }] })
      .on("text", (text) => texts.push(text))
      .finalMessage()
      .catch((e: unknown) => e);
    expect(texts.join("")).toBe("echo: ");
    expect(after).toBeInstanceOf(Anthropic.APIError);
  });

  it("a native stream cut after its first text is finished by a fallback that continues it: the SDK's message is whole", async () => {
    await fakes.anthropic.script(UP_CLAUDE, [{ kind: "cut_after_text" }]);
    const stream = anthropic.messages.stream({ model: "claude", max_tokens: 64, messages: [{ role: "user", content: "one two three" }] });
    const events: Anthropic.MessageStreamEvent[] = [];
    stream.on("streamEvent", (event) => events.push(event));
    const message = await stream.finalMessage();
    expect(message.content).toEqual([{ type: "text", text: "claude: one two three" }]);
    expect(message.stop_reason).toBe("end_turn");
    // One text block, continued: the rescue's text joined the block the upstream left open.
    expect(events.filter((e) => e.type === "content_block_start")).toHaveLength(1);
    expect(events.map((e) => e.type).slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    expect(events.find((e) => e.type === "message_delta")).toMatchObject({
      fallback: { requested: "claude", attempts: [{ model_id: "claude" }], rescued: "prefill" },
    });
    // The backup was asked to continue what the client already had.
    const [sent] = (await fakes.anthropic.requests(UP_CLAUDE_BACKUP)).filter((r) => r.path === "/v1/messages");
    expect((sent!.body as { messages: { role: string; content: unknown }[] }).messages.at(-1)).toMatchObject({ role: "assistant" });
  });

  it("a secret the upstream puts in a native tool call, split across input_json_delta events, reaches the SDK as [redacted]", async () => {
    const stream = anthropic.messages.stream({
      model: "claude",
      max_tokens: 64,
      tools: [WEATHER],
      messages: [{ role: "user", content: `[call get_weather {"city":"${CANARY}"}]` }],
    });
    const pieces: string[] = [];
    stream.on("inputJson", (partial) => pieces.push(partial));
    const message = await stream.finalMessage();
    expect(message.content).toEqual([expect.objectContaining({ type: "tool_use", name: "get_weather", input: { city: "[redacted]" } })]);
    expect(pieces.join("")).not.toContain(CANARY.slice(0, 8));
  });

  it("no secret in any response or log", async () => {
    expect(recorder.text()).not.toContain(CANARY);
    await expectNotInLogs(dev, [CANARY, tenant.userKey]);
  });
});
