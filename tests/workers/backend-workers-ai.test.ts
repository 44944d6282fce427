/**
 * The workers_ai backend against a fake of the AI binding (tests/support/fake-workers-ai.js),
 * installed where the real binding is: env.AI.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, registerModel } from "./helpers";

interface FakeCall {
  model: string;
  inputs: Record<string, unknown>;
  gateway: { id: string } | null;
}

async function fakeCalls(): Promise<FakeCall[]> {
  return (await (env as unknown as { AI: { run(m: string, i: object): Promise<FakeCall[]> } }).AI.run("@fake/calls", {})) as FakeCall[];
}

function model(id: string, model_name: string, config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { id, name: id, backend_type: "workers_ai", config: { model_name, timeout: 2, ...config }, ...extra };
}

describe("workers_ai backend", () => {
  it("derives capabilities from the model id", async () => {
    const tenant = await createTenant();
    const chat = await registerModel(tenant, model("llama", "@cf/meta/llama-3.1-8b-instruct"));
    const emb = await registerModel(tenant, model("bge", "@cf/baai/bge-base-en-v1.5"));
    const cls = await registerModel(tenant, model("sst", "@cf/huggingface/distilbert-sst-2-int8"));
    expect([chat.capabilities, emb.capabilities, cls.capabilities]).toEqual([["chat", "completion"], ["embedding"], ["classification"]]);
    const bad = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: model("bad", "llama-3") });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/config\.model_name: must be a Workers AI model id/);
  });

  it("chats with messages and sampling parameters, through the AI Gateway when configured", async () => {
    const tenant = await createTenant();
    await registerModel(tenant, model("llama", "@cf/meta/llama-3.1-8b-instruct", { gateway: "my-gateway" }));
    await fakeCalls();
    const res = await callTool(tenant.userKey, "chat", {
      model_id: "llama",
      messages: [{ role: "user", content: "hi there" }],
      max_tokens: 64,
      temperature: 0.5,
    });
    expect(res.tool.structuredContent).toMatchObject({ text: "workers-ai: hi there", finish_reason: "stop", model_id: "llama" });
    const [call] = await fakeCalls();
    expect(call).toEqual({
      model: "@cf/meta/llama-3.1-8b-instruct",
      inputs: { messages: [{ role: "user", content: "hi there" }], max_tokens: 64, temperature: 0.5 },
      gateway: { id: "my-gateway" },
    });
  });

  it("completes a raw prompt and reports a cut by max_tokens as length", async () => {
    const tenant = await createTenant();
    await registerModel(tenant, model("llama", "@cf/meta/llama-3.1-8b-instruct"));
    const res = await callTool(tenant.userKey, "complete", { model_id: "llama", prompt: "the quick brown fox", max_tokens: 3 });
    expect(res.tool.structuredContent).toMatchObject({ text: "the quick brown", finish_reason: "length" });
    const calls = await fakeCalls();
    expect(calls.at(-1)?.inputs).toMatchObject({ prompt: "the quick brown fox", raw: true });
  });

  it("streams text as progress notifications", async () => {
    const tenant = await createTenant();
    await registerModel(tenant, model("llama", "@cf/meta/llama-3.1-8b-instruct"));
    const res = await callTool(
      tenant.userKey,
      "chat",
      { model_id: "llama", messages: [{ role: "user", content: "stream me please" }] },
      { progressToken: "p" },
    );
    const pieces = res.messages.filter((m) => m.method === "notifications/progress").map((m) => (m.params as { message: string }).message);
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.join("")).toBe("workers-ai: stream me please");
    expect(res.tool.structuredContent).toMatchObject({
      text: "workers-ai: stream me please",
      finish_reason: "stop",
      usage: { completion_tokens: 4 },
    });
  });

  it("keeps the partial text when the stream breaks", async () => {
    const tenant = await createTenant();
    await registerModel(tenant, model("llama", "@cf/meta/llama-3.1-8b-instruct-broken-stream"));
    const res = await callTool(
      tenant.userKey,
      "chat",
      { model_id: "llama", messages: [{ role: "user", content: "one two three" }] },
      { progressToken: "p" },
    );
    expect(res.tool.structuredContent).toMatchObject({ text: "workers-ai: one ", finish_reason: "error" });
  });

  it("embeds with bge and classifies with the sst-2 classifier, highest score first", async () => {
    const tenant = await createTenant();
    await registerModel(tenant, model("bge", "@cf/baai/bge-base-en-v1.5"));
    await registerModel(tenant, model("sst", "@cf/huggingface/distilbert-sst-2-int8"));
    const emb = await callTool(tenant.userKey, "embed", { model_id: "bge", input: ["a", "bb"] });
    expect(emb.tool.structuredContent).toMatchObject({ dimensions: 8 });
    expect((emb.tool.structuredContent as { embeddings: number[][] }).embeddings).toHaveLength(2);

    const cls = await callTool(tenant.userKey, "classify", { model_id: "sst", text: "I love this" });
    const labels = (cls.tool.structuredContent as { labels: { label: string; score: number }[] }).labels;
    expect(labels.map((l) => l.label)).toEqual(["POSITIVE", "NEGATIVE"]);
    expect(labels[0]!.score).toBeCloseTo(0.98);

    const zeroShot = await callTool(tenant.userKey, "classify", { model_id: "sst", text: "x", labels: ["a", "b"] });
    expect(zeroShot.tool.content[0]!.text).toMatch(/has fixed labels.*reranker/);
  });

  it("serves zero-shot labels with a reranker", async () => {
    const tenant = await createTenant();
    await registerModel(tenant, model("rank", "@cf/baai/bge-reranker-base"));
    const res = await callTool(tenant.userKey, "classify", { model_id: "rank", text: "weather", labels: ["sun", "thunderstorm", "rain"] });
    const labels = (res.tool.structuredContent as { labels: { label: string }[] }).labels;
    expect(labels.map((l) => l.label)).toEqual(["thunderstorm", "rain", "sun"]);
  });

  it("retries a capacity error, and explains a missing model and a hang", async () => {
    const tenant = await createTenant();
    await registerModel(tenant, model("busy", "@cf/meta/llama-3.1-8b-instruct-capacity-once", { max_retries: 1 }));
    await registerModel(tenant, model("gone", "@cf/nope/model"));
    await registerModel(tenant, model("stuck", "@cf/meta/llama-3.1-8b-instruct-hang", { timeout: 0.3, max_retries: 0 }));
    const ask = (id: string) => callTool(tenant.userKey, "chat", { model_id: id, messages: [{ role: "user", content: "hi" }] });

    expect((await ask("busy")).tool.structuredContent).toMatchObject({ text: "workers-ai: hi" });
    const gone = await ask("gone");
    expect(gone.tool.content[0]!.text).toMatch(/does not exist on Workers AI: 5007: No such model/);
    const stuck = await ask("stuck");
    expect(stuck.tool.content[0]!.text).toMatch(/did not answer within 0\.3 s.*\[upstream_timeout\]/);
  });
});
