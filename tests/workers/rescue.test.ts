/**
 * Mid-stream rescue: a stream that breaks or stalls after text reached the
 * caller is finished by another model only where the answer is provably
 * whole (a prefill continuation, or a regeneration by another deployment of
 * the same model that matches every character the caller has); otherwise the
 * caller gets the format's error with every byte it had, never a fallback's
 * refusal. Driven through the Worker's real fetch handler against the fakes'
 * fault scripts and prefill quirks (tests/support/fake-control.ts).
 */
import { exports } from "cloudflare:workers";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { anthropicModel } from "../support/models";
import { sseEvents } from "../support/sse-events";
import { api, callTool, createTenant, fakes, openaiModel, postJson, registerModel, type Tenant, uniqueId, type UsageTotals } from "./helpers";

const PREFILL = ["tools", "json_schema", "prefill"];
/** The fake answers "echo: <text>" in pieces split after each space: two pieces reach the caller before a cut. */
const QUESTION = "one two three four";
const WHOLE = "echo: one two three four";
const SENT = "echo: one ";

interface Sse {
  text: string;
  done: boolean;
  error?: { message: string };
  last?: Record<string, unknown>;
  chunks: (Record<string, unknown> & { usage?: { prompt_tokens: number; completion_tokens: number } })[];
}

async function streamV1(tenant: Tenant, path: "chat/completions" | "completions", body: Record<string, unknown>): Promise<Sse> {
  const response = await postJson(tenant.userKey, `/v1/${path}`, { ...body, stream: true });
  expect(response.status).toBe(200);
  const events = (await response.text())
    .split("\n\n")
    .map((e) => e.replace(/^data: /, "").trim())
    .filter(Boolean);
  const chunks = events.filter((e) => e !== "[DONE]").map((e) => JSON.parse(e) as Record<string, unknown>);
  type Choice = { delta?: { content?: string }; text?: string; finish_reason?: string | null };
  const choice = (c: Record<string, unknown>) => (c.choices as Choice[] | undefined)?.[0];
  return {
    text: chunks.map((c) => choice(c)?.delta?.content ?? choice(c)?.text ?? "").join(""),
    done: events.at(-1) === "[DONE]",
    error: chunks.find((c) => "error" in c)?.error as { message: string } | undefined,
    last: chunks.findLast((c) => choice(c)?.finish_reason),
    chunks,
  };
}

const chat = (tenant: Tenant) => streamV1(tenant, "chat/completions", { model: "primary", messages: [{ role: "user", content: QUESTION }] });

/** A primary on the fake OpenAI upstream and one fallback; returns the upstream model names. */
async function setUp(fallback: (upstream: string) => Record<string, unknown>, primaryConfig: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  const primaryUp = uniqueId("primary");
  const backupUp = uniqueId("backup");
  await registerModel(tenant, { ...fallback(backupUp), id: "backup" });
  await registerModel(tenant, { ...openaiModel("primary", primaryUp, { max_retries: 0, ...primaryConfig }), fallbacks: ["backup"] });
  return { tenant, primaryUp, backupUp };
}

/** A native anthropic primary and an anthropic fallback (prefill by default); the primary's stream is cut after "claude: ". */
async function nativePair() {
  const tenant = await createTenant({ grantCanary: true });
  const primaryUp = uniqueId("claude");
  const backupUp = uniqueId("claude-backup");
  await registerModel(tenant, anthropicModel("backup", backupUp));
  await registerModel(tenant, { ...anthropicModel("primary", primaryUp, { max_retries: 0 }), fallbacks: ["backup"] });
  await fakes.anthropic.script(primaryUp, [{ kind: "cut_after_text" }]);
  return { tenant, primaryUp, backupUp };
}

const lastMessage = (body: Record<string, unknown>) => (body.messages as { role: string; content: unknown }[]).at(-1);

describe("continued by a fallback that takes an assistant prefill", () => {
  it("a stream cut after text: the caller gets the whole answer, and the final chunk says it was rescued", async () => {
    const { tenant, primaryUp, backupUp } = await setUp((up) => ({ ...openaiModel("backup", up), features: PREFILL }));
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const sse = await chat(tenant);
    expect(sse).toMatchObject({ text: WHOLE, done: true, error: undefined });
    expect(sse.last).toMatchObject({
      model: "backup",
      fallback: { requested: "primary", rescued: "prefill", attempts: [{ model_id: "primary", error: expect.stringMatching(/broke off/) }] },
    });
    // The fallback was sent what the caller had, as the assistant's unfinished message (trailing space left out).
    const [sent] = await fakes.openai.requests(backupUp);
    expect(lastMessage(sent!.body)).toEqual({ role: "assistant", content: SENT.trimEnd() });
  });

  it("a stall after text is a break too: rescued once stall_timeout has passed", async () => {
    const { tenant, primaryUp } = await setUp((up) => ({ ...openaiModel("backup", up), features: PREFILL }), { stall_timeout: 0.3 });
    await fakes.openai.script(primaryUp, [{ kind: "stall", afterChunks: 2 }]);
    const sse = await chat(tenant);
    expect(sse).toMatchObject({ text: WHOLE, done: true });
    expect(sse.last).toMatchObject({ fallback: { rescued: "prefill", attempts: [{ error: expect.stringMatching(/stall_timeout/) }] } });
  });

  it("over MCP: the streamed progress and the result are the whole answer, the result says how it was rescued", async () => {
    const { tenant, primaryUp } = await setUp((up) => ({ ...openaiModel("backup", up), features: PREFILL }));
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const res = await callTool(
      tenant.userKey,
      "chat",
      { model_id: "primary", messages: [{ role: "user", content: QUESTION }] },
      { progressToken: "p" },
    );
    const progress = res.messages.filter((m) => m.method === "notifications/progress").map((m) => (m.params as { message: string }).message);
    expect(progress.join("")).toBe(WHOLE);
    expect(res.tool.isError).toBeFalsy();
    expect(res.tool.structuredContent).toMatchObject({ text: WHOLE, finish_reason: "stop", model_id: "backup", fallback: { rescued: "prefill" } });
  });

  it("on anthropic models: the prefill goes without its trailing whitespace (refused by the API), which the continuation brings back once", async () => {
    // The fake Claude answers "claude: <text>" and cuts after its first piece, "claude: ".
    const { tenant, backupUp } = await nativePair();
    const sse = await chat(tenant);
    expect(sse).toMatchObject({ text: `claude: ${QUESTION}`, done: true, error: undefined });
    expect(sse.last).toMatchObject({ model: "backup", fallback: { rescued: "prefill" } });
    const [sent] = (await fakes.anthropic.requests(backupUp)).filter((r) => r.path === "/v1/messages");
    expect(lastMessage(sent!.body)).toMatchObject({ role: "assistant", content: [{ type: "text", text: "claude:" }] });
  });

  it("a fallback that refuses the prefill: the caller gets the break's error with every byte, not the refusal", async () => {
    const { tenant, primaryUp, backupUp } = await setUp((up) => ({ ...openaiModel("backup", up), features: PREFILL }));
    await fakes.openai.control("quirks", { model: backupUp, prefill: "refuse" });
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const sse = await chat(tenant);
    expect(sse.text).toBe(SENT);
    expect(sse.done).toBe(false);
    expect(sse.error?.message).toMatch(/broke off the stream/);
    expect(sse.error?.message).not.toMatch(/prefill/);
    expect(await fakes.openai.requests(backupUp)).toHaveLength(1);
  });

  it("a fallback without the prefill feature is never asked: the format's error, every byte kept", async () => {
    const { tenant, primaryUp, backupUp } = await setUp((up) => openaiModel("backup", up));
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const sse = await chat(tenant);
    expect(sse).toMatchObject({ text: SENT, done: false });
    expect(sse.error?.message).toMatch(/broke off the stream/);
    expect(await fakes.openai.requests(backupUp)).toHaveLength(0);
  });

  it("a completion continues from the prompt plus the text the caller has", async () => {
    const { tenant, primaryUp, backupUp } = await setUp((up) => ({ ...openaiModel("backup", up), capabilities: ["completion"] }));
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 1 }]);
    const sse = await streamV1(tenant, "completions", { model: "primary", prompt: "alpha beta", max_tokens: 50 });
    expect(sse.error).toBeUndefined();
    expect(sse.done).toBe(true);
    const [sent] = await fakes.openai.requests(backupUp);
    // The fake completes any prompt with "<prompt> …continued": the caller has "alpha " and then exactly that.
    expect(sent!.body.prompt).toBe("alpha betaalpha ");
    expect(sse.text).toBe("alpha alpha betaalpha  …continued");
  });
});

interface UsageReport {
  totals: UsageTotals;
  budgets: { used: { tokens: number }; in_flight: { tokens: number } }[];
}

/** The tenant's usage report once the call has been counted (the isolate writes its records after the response). */
async function countedUsage(tenant: Tenant): Promise<UsageReport> {
  const read = async () => (await api<UsageReport>("GET", "/api/v1/usage", { token: tenant.adminKey })).body;
  let report = await read();
  for (let i = 0; i < 50 && report.totals.requests === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    report = await read();
  }
  return report;
}

describe("metering a rescued call", () => {
  it("one request in get_usage, counting what the broken attempt generated besides the rescue's own usage", async () => {
    const { tenant, primaryUp } = await setUp((up) => ({ ...openaiModel("backup", up), features: PREFILL }));
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const { chunks } = await streamV1(tenant, "chat/completions", {
      model: "primary",
      messages: [{ role: "user", content: QUESTION }],
      stream_options: { include_usage: true },
    });
    const shown = chunks.findLast((c) => c.usage)!.usage!;
    const { totals } = await countedUsage(tenant);
    expect(totals.requests).toBe(1);
    // The broken attempt's prompt and the text it had sent ("echo: one ", about 3 tokens) are counted too.
    expect(totals.prompt_tokens).toBeGreaterThan(shown.prompt_tokens);
    expect(totals.completion_tokens).toBeGreaterThanOrEqual(shown.completion_tokens + 2);
  });
});

describe("a rescue under a budget", () => {
  /** The primary cut after "echo: one ", a prefill backup, and a token budget on the user's key; the call asks for 20 tokens. */
  async function budgeted(tokens: number) {
    const set = await setUp((up) => ({ ...openaiModel("backup", up), features: PREFILL }));
    const patched = await api("PATCH", `/api/v1/keys/${set.tenant.userKeyId}`, {
      token: set.tenant.adminKey,
      body: { budget: { period: "day", tokens } },
    });
    expect(patched.status).toBe(200);
    await fakes.openai.script(set.primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const sse = await streamV1(set.tenant, "chat/completions", { model: "primary", max_tokens: 20, messages: [{ role: "user", content: QUESTION }] });
    const report = () => countedUsage(set.tenant);
    return { ...set, sse, report };
  }

  // The call holds about 35 tokens (its prompt and max_tokens); a continuation about 43 more (the prompt, the prefill, what is left of max_tokens).
  it("is admitted like the call, and its hold is released with the call's", async () => {
    const { sse, report } = await budgeted(1000);
    expect(sse).toMatchObject({ text: WHOLE, done: true });
    const { totals, budgets } = await report();
    expect(budgets).toEqual([expect.objectContaining({ used: { tokens: totals.total_tokens, cost_usd: 0 }, in_flight: { tokens: 0, cost_usd: 0 } })]);
  });

  it("is not tried when its worst case does not fit what is left: the break's error stands, and the key spends within its budget", async () => {
    const { sse, backupUp, report } = await budgeted(60);
    expect(sse.text).toBe("echo: one ");
    expect(sse.done).toBe(false);
    expect(sse.error?.message).toMatch(/broke off/);
    expect(await fakes.openai.requests(backupUp)).toHaveLength(0);
    const { totals, budgets } = await report();
    expect(totals.total_tokens).toBeLessThanOrEqual(60);
    expect(budgets).toEqual([expect.objectContaining({ in_flight: { tokens: 0, cost_usd: 0 } })]);
  });
});

describe("regenerated by another deployment of the same model", () => {
  it("its answer is used from where it matches all the caller has", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("shared");
    // Two deployments of one upstream model (one fake serves both); the first call breaks, the second does not.
    await registerModel(tenant, openaiModel("twin", up, { max_retries: 0 }));
    await registerModel(tenant, { ...openaiModel("primary", up, { max_retries: 0 }), fallbacks: ["twin"] });
    await fakes.openai.script(up, [{ kind: "break_stream", afterChunks: 2 }]);
    const sse = await chat(tenant);
    expect(sse).toMatchObject({ text: WHOLE, done: true, error: undefined });
    expect(sse.last).toMatchObject({ model: "twin", fallback: { rescued: "regenerated" } });
    const requests = await fakes.openai.requests(up);
    expect(requests).toHaveLength(2);
    expect(lastMessage(requests[1]!.body)).toEqual({ role: "user", content: QUESTION });
  });

  it("a regeneration that differs is cut off and never shown: the break's error, every byte kept", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("shared");
    // The same model name on Ollama, whose fake answers "ollama: …": not what the caller has.
    await fakes.ollama.control("pull", { model: up });
    await registerModel(tenant, {
      id: "twin",
      name: "twin",
      backend_type: "ollama",
      config: { base_url: inject("ollamaUrl"), model_name: up, timeout: 5 },
    });
    await registerModel(tenant, { ...openaiModel("primary", up, { max_retries: 0 }), fallbacks: ["twin"] });
    await fakes.openai.script(up, [{ kind: "break_stream", afterChunks: 2 }]);
    const sse = await chat(tenant);
    expect(sse).toMatchObject({ text: SENT, done: false });
    expect(sse.error?.message).toMatch(/broke off the stream/);
    expect(await fakes.ollama.requests({ model: up })).toHaveLength(1);
  });
});

/** A streamed /v1/messages call on "primary": the events, by name and data, in order. */
async function messagesStream(tenant: Tenant, body: Record<string, unknown> = {}) {
  const response = await exports.default.fetch(
    new Request("http://gateway.test/v1/messages", {
      method: "POST",
      headers: { "x-api-key": tenant.userKey, "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "primary", max_tokens: 100, stream: true, messages: [{ role: "user", content: QUESTION }], ...body }),
    }),
  );
  expect(response.status).toBe(200);
  return eventData(response);
}

/** A native stream's events: each event's data, which names its type. */
async function eventData(response: Response) {
  return (await sseEvents(response)).map((e) => e.data as Record<string, unknown> & { type: string; sequence_number?: number });
}

describe("native streams (/v1/messages passed through)", () => {
  it("text only so far: the rescue's text continues the upstream's open block, and the message ends in Anthropic's order", async () => {
    const { tenant } = await nativePair();
    const events = await messagesStream(tenant);
    expect(events.map((e) => e.type)).toEqual([
      "message_start",
      "ping",
      "content_block_start",
      ...events.filter((e) => e.type === "content_block_delta").map(() => "content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const deltas = events.filter((e) => e.type === "content_block_delta") as unknown as { index: number; delta: { text: string } }[];
    expect(deltas.map((d) => d.index).every((i) => i === 0)).toBe(true);
    expect(deltas.map((d) => d.delta.text).join("")).toBe(`claude: ${QUESTION}`);
    expect(events.find((e) => e.type === "message_delta")).toMatchObject({
      delta: { stop_reason: "end_turn" },
      fallback: { requested: "primary", attempts: [{ model_id: "primary" }], rescued: "prefill" },
    });
  });

  it("after a thinking block, nothing can be proven whole: the format's error, every byte kept", async () => {
    const { tenant, backupUp } = await nativePair();
    const events = await messagesStream(tenant, { max_tokens: 2000, thinking: { type: "enabled", budget_tokens: 1024 } });
    expect(events.at(-1)).toMatchObject({ type: "error" });
    expect(events.map((e) => e.type)).not.toContain("message_stop");
    expect(events.some((e) => e.type === "content_block_delta" && (e.delta as { text?: string }).text === "claude: ")).toBe(true);
    expect((await fakes.anthropic.requests(backupUp)).filter((r) => r.path === "/v1/messages")).toHaveLength(0);
  });
});

describe("native streams (/v1/responses passed through)", () => {
  it("text only so far: the rescue's text continues the open output_text part, and the gateway ends the part, the item and the response", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const primaryUp = uniqueId("resp");
    const backupUp = uniqueId("backup");
    await registerModel(tenant, { ...openaiModel("backup", backupUp), features: PREFILL });
    await registerModel(tenant, { ...openaiModel("primary", primaryUp, { max_retries: 0, responses_api: true }), fallbacks: ["backup"] });
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 2 }]);
    const response = await postJson(tenant.userKey, "/v1/responses", { model: "primary", input: QUESTION, stream: true });
    expect(response.status).toBe(200);
    const events = await eventData(response);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.filter((e) => e.type === "response.output_text.delta") as unknown as { item_id: string; delta: string }[];
    expect(deltas.map((d) => d.delta).join("")).toBe(WHOLE);
    const itemId = (events[2]!.item as { id: string }).id;
    expect(new Set(deltas.map((d) => d.item_id))).toEqual(new Set([itemId]));
    const completed = events.at(-1)!.response as { id: string; status: string; output: { id: string; content: { text: string }[] }[] };
    expect(completed).toMatchObject({
      status: "completed",
      output: [{ id: itemId, type: "message", content: [{ type: "output_text", text: WHOLE }] }],
    });
    expect(completed).toMatchObject({ fallback: { requested: "primary", attempts: [{ model_id: "primary" }], rescued: "prefill" } });
    // Kept as answered: GET gives the whole answer (the response as kept: no fallback, as for a non-streamed one).
    const stored = await api<{ output: { content: { text: string }[] }[] }>("GET", `/v1/responses/${completed.id}`, { token: tenant.userKey });
    expect(stored.body.output[0]!.content[0]!.text).toBe(WHOLE);
    expect(stored.body).not.toHaveProperty("fallback");
  });
});
