/**
 * `openai_compatible` with `responses_api: true`: /v1/responses passes through
 * to the upstream's own Responses API (the fake's /v1/responses, written from
 * OpenAI's docs), driven by OpenAI's SDK inside workerd: the caller's body
 * arrives as sent (model renamed, store: false, previous turns inlined by the
 * gateway), the upstream's events come back in its order, usage is metered
 * from response.completed, a failure before the first event falls over to a
 * translated fallback, and a stream broken after content ends with
 * response.failed.
 */
import { describe, expect, inject, it } from "vitest";
import { codexRequest } from "../support/codex-request";
import { sseEvents } from "../support/sse-events";
import { api, CANARY, createTenant, fakes, openaiClient, openaiModel, postJson, registerModel, uniqueId, usageTotals } from "./helpers";

const OLLAMA = inject("ollamaUrl");

async function nativeTenant(config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  const upstream = uniqueId("native");
  await registerModel(tenant, { ...openaiModel("gpt", upstream, { responses_api: true, ...config }), aliases: ["gpt-5-codex"] });
  return { tenant, upstream, client: openaiClient(tenant.userKey) };
}

/** The bodies the fake received at /v1/responses for one upstream model. */
async function sentToResponses(upstream: string): Promise<Record<string, unknown>[]> {
  return (await fakes.openai.requests(upstream)).filter((r) => r.path === "/v1/responses").map((r) => r.body);
}

const post = (key: string, body: Record<string, unknown>, path = "/v1/responses") => postJson(key, path, body);

describe("responses_api: true passes /v1/responses through", () => {
  it("sends Codex's body as it is (model renamed), nothing named not applied, and streams the upstream's events in its order", async () => {
    const { tenant, upstream } = await nativeTenant();
    const body = { ...codexRequest("gpt-5-codex"), stream: true };
    const response = await post(tenant.userKey, body);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-gateway-not-applied")).toBeNull();
    const seen = await sseEvents(response);

    const [sent] = await sentToResponses(upstream);
    // Everything the caller sent arrives, reasoning, include, hosted and namespace tools, prompt_cache_key included.
    const { model: _model, ...rest } = body as Record<string, unknown>;
    expect(sent).toEqual({ ...rest, model: upstream, store: false });

    expect(seen.map((e) => e.event)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added", // the reasoning item (reasoning was asked for, with a summary)
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
      "response.output_item.added", // Codex offers tools: the fake calls the first (shell)
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    // Each event as the upstream numbered it, none left out, the event name the same as its type.
    expect(seen.map((e) => e.data.sequence_number)).toEqual(seen.map((_, i) => i));
    expect(seen.every((e) => e.data.type === e.event)).toBe(true);
    const completed = seen.at(-1)!.data.response as Record<string, unknown>;
    expect(completed).toMatchObject({
      status: "completed",
      model: upstream,
      output: [
        { type: "reasoning", encrypted_content: "gAAAAB-fake-encrypted" },
        { type: "function_call", name: "shell", call_id: "call_fake_0" },
      ],
    });
    const args = seen.filter((e) => e.event === "response.function_call_arguments.delta").map((e) => e.data.delta);
    expect(args.join("")).toBe((completed.output as { arguments?: string }[])[1]!.arguments);
  });

  it("answers with the upstream's response object (not streamed), with OpenAI's SDK, function calls included", async () => {
    const { client, upstream } = await nativeTenant();
    const answered = await client.responses.create({
      model: "gpt",
      input: "Paris",
      tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }],
      tool_choice: "required",
      reasoning: { effort: "low" },
      store: false,
    });
    expect(answered.id).toMatch(/^resp_fake/);
    expect(answered.output.map((o) => o.type)).toEqual(["reasoning", "function_call"]);
    expect(answered.output[1]).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Paris"}', call_id: "call_fake_0" });
    const [sent] = await sentToResponses(upstream);
    expect(sent).toMatchObject({ tool_choice: "required", reasoning: { effort: "low" }, store: false });
    expect(sent).not.toHaveProperty("stream");
  });

  it("under a budget, a body without max_output_tokens reaches the upstream bounded by the amount held", async () => {
    const { tenant, upstream } = await nativeTenant();
    const set = await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, {
      token: tenant.adminKey,
      body: { budget: { period: "day", tokens: 1_000_000 } },
    });
    expect(set.status, set.text).toBe(200);
    expect((await post(tenant.userKey, { model: "gpt", input: "bounded", store: false })).status).toBe(200);
    expect((await post(tenant.adminKey, { model: "gpt", input: "unbounded", store: false })).status).toBe(200);
    expect((await sentToResponses(upstream)).map((b) => [b.input, b.max_output_tokens])).toEqual([
      ["bounded", 4096],
      ["unbounded", undefined],
    ]);
  });

  it("meters the upstream's usage from response.completed, streamed and not", async () => {
    const { tenant, client } = await nativeTenant({ pricing: { input_per_mtok: 1, output_per_mtok: 1 } });
    const answered = await client.responses.create({ model: "gpt", input: "count me please", prompt_cache_key: "k", store: false });
    const streamed = await client.responses
      .stream({ model: "gpt", input: "and me", reasoning: { effort: "low" }, prompt_cache_key: "k", store: false })
      .finalResponse();
    expect(answered.usage!.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    expect(streamed.usage!.output_tokens_details.reasoning_tokens).toBe(7);
    expect(await usageTotals(tenant.adminKey)).toMatchObject({
      requests: 2,
      prompt_tokens: answered.usage!.input_tokens + streamed.usage!.input_tokens,
      completion_tokens: answered.usage!.output_tokens + streamed.usage!.output_tokens,
      estimated_requests: 0,
    });
  });

  it("a failure before the first event falls over to an Ollama fallback, which answers by translation", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const upstream = uniqueId("native-down");
    const local = uniqueId("llama-fb");
    await fakes.ollama.control("pull", { model: local });
    await registerModel(tenant, { id: "local", name: "local", backend_type: "ollama", config: { base_url: OLLAMA, model_name: local, timeout: 5 } });
    await registerModel(tenant, { ...openaiModel("gpt", upstream, { responses_api: true, max_retries: 0 }), fallbacks: ["local"] });
    await fakes.openai.script(upstream, [{ kind: "status", status: 500 }]);
    const response = await post(tenant.userKey, { model: "gpt", input: "hello there", stream: true, store: false, reasoning: { effort: "high" } });
    expect(response.status).toBe(200);
    // Answered by translation: the hint the Ollama model cannot use is named.
    expect(response.headers.get("x-gateway-not-applied")).toBe("reasoning");
    const seen = await sseEvents(response);
    expect(seen[0]!.event).toBe("response.created");
    expect(seen.at(-1)!.event).toBe("response.completed");
    expect(seen.map((e) => e.event)).not.toContain("response.failed");
    // The response the stream ends with says who answered and why the model asked for did not, as a non-streamed one does.
    expect(seen.at(-1)!.data.response).toMatchObject({
      status: "completed",
      fallback: { requested: "gpt", attempts: [{ model_id: "gpt", error: expect.stringContaining("500") }] },
    });
    expect(seen.filter((e) => e.event === "response.output_text.delta").length).toBeGreaterThan(0);
    expect(await sentToResponses(upstream)).toHaveLength(1);
    expect((await fakes.ollama.requests(local)).filter((r) => r.path === "/api/chat")).toHaveLength(1);
  });

  it("answered by another responses_api model, its own response.completed carries the gateway's fallback", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const down = uniqueId("native-down");
    const spare = uniqueId("native-spare");
    await registerModel(tenant, openaiModel("spare", spare, { responses_api: true }));
    await registerModel(tenant, { ...openaiModel("gpt", down, { responses_api: true, max_retries: 0 }), fallbacks: ["spare"] });
    await fakes.openai.script(down, [{ kind: "status", status: 500 }]);
    const seen = await sseEvents(await post(tenant.userKey, { model: "gpt", input: "hello there", stream: true, store: false }));
    expect(seen.at(-1)!.event).toBe("response.completed");
    expect(seen.at(-1)!.data.response).toMatchObject({ status: "completed", fallback: { requested: "gpt", attempts: [{ model_id: "gpt" }] } });
    expect(await sentToResponses(spare)).toHaveLength(1);
  });

  for (const fault of [
    { kind: "break_stream", afterChunks: 2 },
    { kind: "fail_stream", afterChunks: 2 },
  ] as const) {
    it(`a stream broken after content (${fault.kind}) ends with response.failed, never response.completed`, async () => {
      const { tenant, upstream } = await nativeTenant();
      await fakes.openai.script(upstream, [fault]);
      const response = await post(tenant.userKey, { model: "gpt", input: "one two three four", stream: true, store: false });
      expect(response.status).toBe(200);
      const seen = await sseEvents(response);
      const names = seen.map((e) => e.event);
      expect(names.slice(0, 6)).toEqual([
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
      ]);
      expect(names.at(-1)).toBe("response.failed");
      expect(names.filter((n) => n === "response.failed")).toHaveLength(1);
      expect(names).not.toContain("response.completed");
      const last = seen.at(-1)!.data;
      expect(last.sequence_number).toBe((seen.at(-2)!.data.sequence_number as number) + 1);
      expect(last.response).toMatchObject({ status: "failed", error: { code: "server_error" } });
    });
  }

  it("a reasoning summary is content: a stream cut after it (before any text) ends with response.failed, with the summary delivered", async () => {
    const { tenant, upstream } = await nativeTenant();
    await fakes.openai.script(upstream, [{ kind: "break_stream", afterChunks: 0 }]);
    const response = await post(tenant.userKey, {
      model: "gpt",
      input: "hi",
      stream: true,
      store: false,
      reasoning: { effort: "low", summary: "auto" },
    });
    expect(response.status).toBe(200);
    const names = (await sseEvents(response)).map((e) => e.event);
    expect(names).toContain("response.reasoning_summary_text.delta");
    expect(names).not.toContain("response.output_text.delta");
    expect(names.at(-1)).toBe("response.failed");
  });

  it("redacts the model's secret from the upstream's events and object", async () => {
    const { tenant, client } = await nativeTenant();
    // The fake echoes the input: an answer holding the upstream key the model's config resolves.
    const response = await post(tenant.userKey, { model: "gpt", input: `say ${CANARY} twice`, stream: true, store: false });
    const text = await response.text();
    expect(text).toContain("response.completed");
    expect(text).not.toContain(CANARY);
    const answered = await client.responses.create({ model: "gpt", input: `say ${CANARY}`, store: false });
    expect(JSON.stringify(answered)).not.toContain(CANARY);
  });

  it("a secret split across output_text deltas (as a tokenizer splits it) never goes out, whole or in part; events stay numbered in order", async () => {
    const { tenant, upstream } = await nativeTenant();
    await fakes.openai.script(upstream, [{ kind: "small_deltas", chars: 3 }]);
    const response = await post(tenant.userKey, { model: "gpt", input: `say ${CANARY} now`, stream: true, store: false });
    const events = await sseEvents(response);
    const deltas = events.filter((e) => e.event === "response.output_text.delta").map((e) => (e.data as { delta: string }).delta);
    expect(deltas.join("")).toBe("echo: say [redacted] now");
    const raw = JSON.stringify(events);
    expect(raw).not.toContain(CANARY);
    // No run of deltas spells out a piece of the secret longer than what could start any text.
    expect(raw).not.toContain(CANARY.slice(0, 6));
    const numbers = events.map((e) => (e.data as { sequence_number?: number }).sequence_number);
    expect(numbers).toEqual(numbers.map((_, i) => i));
    expect(events.at(-1)!.event).toBe("response.completed");
  });

  it("a secret split across function_call_arguments deltas never goes out, whole or in part", async () => {
    const { tenant, upstream } = await nativeTenant();
    await fakes.openai.script(upstream, [{ kind: "call_tool", name: "lookup", arguments: { key: CANARY } }]);
    const tools = [{ type: "function", name: "lookup", parameters: { type: "object", properties: { key: { type: "string" } } } }];
    const response = await post(tenant.userKey, { model: "gpt", input: "look it up", tools, stream: true, store: false });
    const events = await sseEvents(response);
    const args = events
      .filter((e) => e.event === "response.function_call_arguments.delta")
      .map((e) => (e.data as { delta: string }).delta)
      .join("");
    expect(JSON.parse(args)).toEqual({ key: "[redacted]" });
    expect(JSON.stringify(events)).not.toContain(CANARY.slice(0, 8));
    expect(events.at(-1)!.event).toBe("response.completed");
  });

  it("input_tokens is the upstream's own count of the body as sent, the stored conversation first; the estimate when it cannot count", async () => {
    const { tenant, upstream, client } = await nativeTenant({ max_retries: 0 });
    const first = await client.responses.create({ model: "gpt", input: "Paris is a city" });
    const count = async (body: Record<string, unknown>) => {
      const response = await post(tenant.userKey, { model: "gpt", ...body }, "/v1/responses/input_tokens");
      expect(response.status).toBe(200);
      return (await response.json()) as { object: string; input_tokens: number };
    };
    const counted = await count({ input: "and Rome?", previous_response_id: first.id, instructions: "be brief" });
    // The fake counts 1000 plus the words it was sent: the gateway's estimate would be far less.
    expect(counted).toEqual({ object: "response.input_tokens", input_tokens: expect.any(Number) });
    expect(counted.input_tokens).toBeGreaterThan(1000);
    const [sent] = (await fakes.openai.requests(upstream)).filter((r) => r.path === "/v1/responses/input_tokens");
    expect(sent!.body).toMatchObject({ model: upstream, instructions: "be brief" });
    expect(sent!.body).not.toHaveProperty("previous_response_id");
    expect(sent!.body).not.toHaveProperty("store");
    expect(JSON.stringify(sent!.body.input)).toContain("Paris is a city");

    await fakes.openai.script(upstream, [{ kind: "status", status: 503 }]);
    expect((await count({ input: "hi" })).input_tokens).toBeLessThan(1000);
  });

  it("store: the gateway keeps the upstream's response (GET by its id); previous_response_id is resolved here, the upstream gets the whole conversation and store: false", async () => {
    const { client, upstream } = await nativeTenant();
    const first = await client.responses.create({ model: "gpt", instructions: "be brief", input: "Paris" });
    const got = await client.responses.retrieve(first.id);
    expect(got).toMatchObject({ id: first.id, status: "completed", output: [{ type: "message" }] });

    const second = await client.responses.stream({ model: "gpt", previous_response_id: first.id, input: "and Rome?" }).finalResponse();
    expect(second.output_text).toBe("echo: and Rome?");
    const sent = await sentToResponses(upstream);
    expect(sent[0]).toMatchObject({ store: false, instructions: "be brief", input: "Paris" });
    expect(sent[1]).not.toHaveProperty("previous_response_id");
    expect(sent[1]).toMatchObject({
      store: false,
      stream: true,
      input: [
        { type: "message", role: "user", content: "Paris" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "echo: Paris" }] },
        { type: "message", role: "user", content: "and Rome?" },
      ],
    });
    expect(await client.responses.retrieve(second.id)).toMatchObject({ id: second.id, status: "completed" });
  });
});
