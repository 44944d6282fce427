/**
 * End to end for the OpenAI Responses API: the official `openai` SDK pointed at
 * `wrangler dev` with a tenant key, against models on the fake
 * OpenAI-compatible upstream and the fake Ollama: a response, a stream read by
 * the SDK, a function call continued with previous_response_id from storage,
 * a fault before the first event (an HTTP error) and after it
 * (response.failed), a passed-through stream broken after text and finished
 * by a fallback that takes a prefill (the SDK's response whole), a secret
 * split across passed-through deltas, and neither the upstream secret nor the
 * key in any response or log.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { codexRequest } from "../support/codex-request";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { expectNotInLogs, fakes, gatewayFor, openaiFor, ResponseRecorder, type Tenant } from "./helpers";

const CANARY = `sk-canary-e2e-${crypto.randomUUID().replace(/-/g, "")}`;
const openaiUrl = inject("openaiUrl");
const ollamaUrl = inject("ollamaUrl");

const RUN = String(Date.now() % 1e8);
const UP_CHAT = `gpt-e2e-resp-${RUN}`;
const UP_OLLAMA = `e2e-resp-llm-${RUN}`;
const UP_NATIVE = `gpt-e2e-resp-native-${RUN}`;
const UP_CONTINUES = `gpt-e2e-resp-continues-${RUN}`;

let dev: WranglerDev;
const recorder = new ResponseRecorder();
const { createTenant, registerModel } = gatewayFor(recorder, () => dev);
let tenant: Tenant;
let openai: OpenAI;

const WEATHER: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

beforeAll(async () => {
  await fakes.ollama.control("pull", { model: UP_OLLAMA });
  dev = await startWranglerDev({ upstreamKey: CANARY });
  tenant = await createTenant({ id: "codex", name: "Responses API users", grantCanary: true });
  await registerModel(tenant, {
    id: "resp-chat",
    name: "Chat on the fake OpenAI",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: UP_CHAT, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
    features: ["tools"],
  });
  await registerModel(tenant, {
    id: "resp-ollama",
    name: "Chat on the fake Ollama",
    backend_type: "ollama",
    config: { base_url: ollamaUrl, model_name: UP_OLLAMA, max_retries: 0 },
    features: ["tools"],
  });
  // Passed through to the upstream's Responses API; its fallback continues a broken answer from an assistant prefill.
  const upstream = (model_name: string) => ({ base_url: `${openaiUrl}/v1`, model_name, api_key: "${UPSTREAM_KEY}", max_retries: 0 });
  await registerModel(tenant, {
    id: "resp-continues",
    name: "Takes a prefill",
    backend_type: "openai_compatible",
    config: upstream(UP_CONTINUES),
    features: ["tools", "prefill"],
  });
  await registerModel(tenant, {
    id: "resp-native",
    name: "Responses API upstream",
    backend_type: "openai_compatible",
    config: { ...upstream(UP_NATIVE), responses_api: true },
    fallbacks: ["resp-continues"],
  });
  openai = openaiFor(dev.url, tenant.userKey, recorder);
});

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
});

describe("the official OpenAI client against /v1/responses", () => {
  it("responses.create on both backends; the upstream gets the resolved secret", async () => {
    const response = await openai.responses.create({
      model: "resp-chat",
      instructions: "be brief",
      input: "hello from the openai sdk",
      store: false,
    });
    expect(response).toMatchObject({ object: "response", status: "completed", model: "resp-chat" });
    expect(response.output_text).toBe("echo: hello from the openai sdk");
    const [call] = (await fakes.openai.requests(UP_CHAT)).filter((r) => JSON.stringify(r.body).includes("hello from the openai sdk"));
    expect(call!.headers.authorization).toBe(`Bearer ${CANARY}`);

    const local = await openai.responses.create({ model: "resp-ollama", input: "hi", store: false });
    expect(local.output_text).toBe("ollama: hi");
  });

  it("responses.stream: the SDK reads the events into the response; Codex's request is answered on both backends", async () => {
    const stream = openai.responses.stream({ model: "resp-chat", input: "a b c", store: false, reasoning: { effort: "high" } });
    const names: string[] = [];
    stream.on("event", (event) => names.push(event.type));
    const response = await stream.finalResponse();
    expect(response.output_text).toBe("echo: a b c");
    expect(names.slice(0, 2)).toEqual(["response.created", "response.in_progress"]);
    expect(names.at(-1)).toBe("response.completed");

    for (const model of ["resp-chat", "resp-ollama"]) {
      const raw = await recorder.fetch(`${dev.url}/v1/responses`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${tenant.userKey}` },
        body: JSON.stringify(codexRequest(model)),
      });
      expect(raw.status, model).toBe(200);
      expect(raw.headers.get("x-gateway-not-applied"), model).toContain("tools.web_search");
      const text = await raw.text();
      expect(text, model).toContain("event: response.completed");
      expect(text, model).toContain('"name":"shell"');
    }
  });

  it("a function call continued with previous_response_id (stored), then GET and DELETE", async () => {
    const first = await openai.responses.create({ model: "resp-chat", tools: [WEATHER], input: "Paris" });
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: "function_call", name: "get_weather" });
    const second = await openai.responses.create({
      model: "resp-chat",
      tools: [WEATHER],
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }],
    });
    expect(second.output_text).toBe("tool said: sunny");
    expect((await openai.responses.retrieve(second.id)).id).toBe(second.id);
    await openai.responses.delete(second.id);
    expect(await openai.responses.retrieve(second.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("a fault before the first event is an HTTP error the SDK raises; after it, response.failed and no response.completed", async () => {
    await fakes.openai.script(UP_CHAT, [{ kind: "status", status: 500 }]);
    const before = await openai.responses
      .stream({ model: "resp-chat", input: "x", store: false })
      .finalResponse()
      .catch((e: unknown) => e);
    expect(before).toBeInstanceOf(OpenAI.APIError);
    expect((before as InstanceType<typeof OpenAI.APIError>).status).toBe(502);

    await fakes.openai.script(UP_CHAT, [{ kind: "break_stream", afterChunks: 1 }]);
    const types: string[] = [];
    const events = await openai.responses.create({ model: "resp-chat", input: "one two three", store: false, stream: true });
    for await (const event of events) types.push(event.type);
    expect(types.at(-1)).toBe("response.failed");
    expect(types).not.toContain("response.completed");
  });

  it("a passed-through stream broken after text is finished by a fallback that continues it: the SDK's response is whole, and stored", async () => {
    await fakes.openai.script(UP_NATIVE, [{ kind: "break_stream", afterChunks: 2 }]);
    const stream = openai.responses.stream({ model: "resp-native", input: "one two three four" });
    const types: string[] = [];
    stream.on("event", (event) => types.push(event.type));
    const response = await stream.finalResponse();
    expect(response.status).toBe("completed");
    expect(response.output_text).toBe("echo: one two three four");
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    expect(response).toMatchObject({ fallback: { requested: "resp-native", attempts: [{ model_id: "resp-native" }], rescued: "prefill" } });
    // Kept as answered: a later turn continues from the whole answer.
    const stored = await openai.responses.retrieve(response.id);
    expect(stored.output_text).toBe("echo: one two three four");
  });

  it("a secret the upstream echoes, split across passed-through output_text deltas, reaches the SDK as [redacted] and in no piece", async () => {
    await fakes.openai.script(UP_NATIVE, [{ kind: "small_deltas", chars: 3 }]);
    const stream = openai.responses.stream({ model: "resp-native", input: `say ${CANARY} now`, store: false });
    const deltas: string[] = [];
    stream.on("response.output_text.delta", (event) => deltas.push(event.delta));
    const response = await stream.finalResponse();
    expect(response.output_text).toBe("echo: say [redacted] now");
    expect(deltas.join("")).toBe("echo: say [redacted] now");
    expect(deltas.join("")).not.toContain(CANARY.slice(0, 6));
  });

  it("no secret in any response or log", async () => {
    expect(recorder.text()).not.toContain(CANARY);
    await expectNotInLogs(dev, [CANARY, tenant.userKey]);
  });
});
